import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import type { Context } from '../ports.js';
import { validateRegion } from '../domain/access-key.js';
import { parseAwsIni, profileSections } from '../domain/aws-config.js';
import { resolveRegion, type RegionSource } from '../domain/region.js';

type Env = Readonly<Record<string, string | undefined>>;

/** A config file far bigger than this is not one a person wrote; its region is not worth the memory. */
const MAX_AWS_CONFIG_BYTES = 1024 * 1024;

/** How each source of a region is named in messages. */
const SOURCE_NAMES: Record<RegionSource, string> = {
  flag: '--region',
  connection: "the connection's region",
  AWS_REGION: 'AWS_REGION',
  AWS_DEFAULT_REGION: 'AWS_DEFAULT_REGION',
  profile: 'the admin profile',
  default: 'the default',
};

/** The AWS config file: AWS_CONFIG_FILE (with `~/` expanded, as the AWS tools do), else ~/.aws/config. */
export function awsConfigPath(env: Env): string {
  const home = env.HOME || env.USERPROFILE || homedir();
  const configured = env.AWS_CONFIG_FILE;
  if (!configured) return join(home, '.aws', 'config');
  const expanded = configured.startsWith('~/') ? join(home, configured.slice(2)) : configured;
  return isAbsolute(expanded) ? expanded : resolve(expanded);
}

/**
 * The `region` of the admin profile (--profile, else AWS_PROFILE, else default) in the AWS config file;
 * undefined when the file, the profile or the key is missing or unreadable: it is only a default.
 */
export async function adminProfileRegion(ctx: Pick<Context, 'globals' | 'env'>): Promise<string | undefined> {
  const profile = ctx.globals.profile ?? (ctx.env.AWS_PROFILE || 'default');
  let text: string;
  try {
    const bytes = await readFile(awsConfigPath(ctx.env));
    if (bytes.length > MAX_AWS_CONFIG_BYTES) return undefined;
    text = bytes.toString('utf8');
  } catch {
    return undefined;
  }
  for (const section of profileSections(parseAwsIni(text), profile)) {
    const region = section.entries.get('region');
    if (region) return region;
  }
  return undefined;
}

/**
 * The region of a new connection by the one region rule (domain/region.ts): --region, AWS_REGION,
 * AWS_DEFAULT_REGION, the admin profile's region, us-east-1. Validated, naming where it came from.
 */
export async function regionForNewConnection(
  ctx: Pick<Context, 'globals' | 'env'>,
): Promise<{ region: string; source: RegionSource; from: string }> {
  const quick = resolveRegion({ flag: ctx.globals.region, env: ctx.env });
  const resolved =
    quick.source === 'default'
      ? resolveRegion({ flag: undefined, env: ctx.env, profileRegion: await adminProfileRegion(ctx) })
      : quick;
  const from = SOURCE_NAMES[resolved.source];
  // Validated as given (the rule trims), so that stray whitespace in a flag or variable is named, not hidden.
  const raw =
    resolved.source === 'flag'
      ? ctx.globals.region
      : resolved.source === 'AWS_REGION' || resolved.source === 'AWS_DEFAULT_REGION'
        ? ctx.env[resolved.source]
        : resolved.region;
  return { ...resolved, region: validateRegion(raw ?? resolved.region, from), from };
}

import type { Context } from '../ports.js';
import { validateRegion } from '../domain/access-key.js';
import { adminProfileSetting } from '../aws/config-file.js';
import { resolveRegion, type RegionSource } from '../domain/region.js';

/** How each source of a region is named in messages. */
const SOURCE_NAMES: Record<RegionSource, string> = {
  flag: '--region',
  connection: "the connection's region",
  AWS_REGION: 'AWS_REGION',
  AWS_DEFAULT_REGION: 'AWS_DEFAULT_REGION',
  profile: 'the admin profile',
  default: 'the default',
};

/**
 * The `region` of the admin profile (--profile, else AWS_PROFILE, else default) in the AWS config file;
 * undefined when the file, the profile or the key is missing or unreadable: it is only a default.
 */
export function adminProfileRegion(ctx: Pick<Context, 'globals' | 'env'>): Promise<string | undefined> {
  return adminProfileSetting(ctx, 'region');
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

import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import type { Context } from '../ports.js';
import { parseAwsIni, profileSections } from '../domain/aws-config.js';

type Env = Readonly<Record<string, string | undefined>>;

/** A config file far bigger than this is not one a person wrote; its settings are not worth the memory. */
const MAX_AWS_CONFIG_BYTES = 1024 * 1024;

/** The AWS config file: AWS_CONFIG_FILE (with `~/` expanded, as the AWS tools do), else ~/.aws/config. */
export function awsConfigPath(env: Env): string {
  const home = env.HOME || env.USERPROFILE || homedir();
  const configured = env.AWS_CONFIG_FILE;
  if (!configured) return join(home, '.aws', 'config');
  const expanded = configured.startsWith('~/') ? join(home, configured.slice(2)) : configured;
  return isAbsolute(expanded) ? expanded : resolve(expanded);
}

/**
 * One setting (`region`, `credential_process`…) of the admin profile (--profile, else AWS_PROFILE, else default) in
 * the AWS config file; undefined when the file, the profile or the key is missing or unreadable.
 */
export async function adminProfileSetting(
  ctx: Pick<Context, 'globals' | 'env'>,
  key: string,
): Promise<string | undefined> {
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
    const value = section.entries.get(key);
    if (value) return value;
  }
  return undefined;
}

import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { exportProfileCommand } from '../../../src/commands/export-profile.js';
import { fakeWorld, runCli, type FakeWorld } from '../../support/run-cli.js';
import { captureOptions, seedConnection } from './helpers.js';

/** The repository's bin script, which the in-process CLI names in credential_process. */
const BIN = realpathSync(resolve(import.meta.dirname, '../../../bin/datablast-aws.js'));

let dir: string;
let world: FakeWorld;
let configFile: string;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'dbaws-export-'));
  configFile = join(dir, 'aws', 'config');
  // HOME too, so that nothing here can ever reach the real ~/.aws.
  world = fakeWorld({ env: { AWS_CONFIG_FILE: configFile, HOME: dir } });
  await seedConnection(world, 'AWS Production');
});

const block = (profile = 'datablast-aws-production', region = 'eu-west-1', name = '"AWS Production"') =>
  `[profile ${profile}]\ncredential_process = ${BIN} credential-process ${name}\nregion = ${region}\n`;

function backups(): string[] {
  return readdirSync(join(dir, 'aws')).filter((f) => f.endsWith('.bak'));
}

describe('export-profile', () => {
  it('parses the name and flags', async () => {
    expect(
      await captureOptions(exportProfileCommand, ['AWS Production', '--profile-name', 'p', '--print', '--force']),
    ).toEqual({ name: 'AWS Production', profileName: 'p', print: true, force: true });
    expect(await captureOptions(exportProfileCommand, ['prod'])).toEqual({
      name: 'prod',
      profileName: undefined,
      print: false,
      force: false,
    });
  });

  it('creates the config file 0600 in a new 0700 directory, with the profile named after the connection', async () => {
    const result = await runCli(['export-profile', 'AWS Production', '--json'], world);
    expect(result.exitCode).toBe(0);
    expect(readFileSync(configFile, 'utf8')).toBe(block());
    expect(statSync(configFile).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, 'aws')).mode & 0o777).toBe(0o700);
    expect(JSON.parse(result.stdout)).toMatchObject({
      profile: 'datablast-aws-production',
      path: configFile,
      written: true,
      backup: null,
      status: 'added',
      region: 'eu-west-1',
    });
  });

  it('says how to try it', async () => {
    const result = await runCli(['export-profile', 'AWS Production', '--profile-name', 'p'], world);
    expect(result.stdout).toBe(`Added profile p in ${configFile}.\nTry it: aws sts get-caller-identity --profile p\n`);
  });

  it('appends to an existing file, keeping every byte of it, after a backup of the old file', async () => {
    mkdirSync(join(dir, 'aws'));
    const before = '# mine\r\n[default]\r\nregion = us-east-1\r\n\r\n[sso-session corp]\r\nsso_region = eu-west-1\r\n';
    writeFileSync(configFile, before, { mode: 0o644 });
    const result = await runCli(['export-profile', 'AWS Production', '--profile-name', 'p', '--json'], world);
    expect(result.exitCode).toBe(0);
    expect(readFileSync(configFile, 'utf8')).toBe(`${before}\r\n${block('p').replace(/\n/g, '\r\n')}`);
    // The file's own mode is kept: it is the user's file.
    expect(statSync(configFile).mode & 0o777).toBe(0o644);
    const { backup } = JSON.parse(result.stdout);
    expect(backup).toBe(`${configFile}.20261128T120000Z.bak`);
    expect(readFileSync(backup, 'utf8')).toBe(before);
  });

  it('reports an identical block as already there, exit 0, and writes nothing', async () => {
    await runCli(['export-profile', 'AWS Production'], world);
    const first = statSync(configFile).mtimeMs;
    const again = await runCli(['export-profile', 'AWS Production', '--json'], world);
    expect(again.exitCode).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ written: false, backup: null, status: 'unchanged' });
    expect(statSync(configFile).mtimeMs).toBe(first);
    expect(readFileSync(configFile, 'utf8')).toBe(block());
    expect(backups()).toEqual([]);
    expect((await runCli(['export-profile', 'AWS Production'], world)).stdout).toContain('already there');
  });

  it('counts a block with extra settings such as output as already there', async () => {
    mkdirSync(join(dir, 'aws'));
    writeFileSync(configFile, `${block()}output = json\n`);
    const result = await runCli(['export-profile', 'AWS Production', '--json'], world);
    expect(JSON.parse(result.stdout).status).toBe('unchanged');
  });

  it('refuses to replace a different block without --force (exit 3) and leaves the file alone', async () => {
    mkdirSync(join(dir, 'aws'));
    const before = '[profile p]\nregion = us-west-2\ncredential_process = other-tool\n';
    writeFileSync(configFile, before);
    const result = await runCli(['export-profile', 'AWS Production', '--profile-name', 'p'], world);
    expect(result.exitCode).toBe(3);
    expect(result.stderr).toContain('profile "p" already exists');
    expect(result.stderr).toContain('--force');
    expect(readFileSync(configFile, 'utf8')).toBe(before);
    expect(backups()).toEqual([]);
  });

  it('replaces a different block with --force, never duplicating the profile, and keeps the old file as a backup', async () => {
    mkdirSync(join(dir, 'aws'));
    const before =
      '[default]\nregion = us-east-1\n\n[profile p]\nregion = us-west-2\ncredential_process = other-tool\n\n# next\n[profile q]\nregion = ap-south-1\n';
    writeFileSync(configFile, before);
    const result = await runCli(
      ['export-profile', 'AWS Production', '--profile-name', 'p', '--force', '--json'],
      world,
    );
    expect(result.exitCode).toBe(0);
    expect(readFileSync(configFile, 'utf8')).toBe(
      `[default]\nregion = us-east-1\n\n${block('p')}\n# next\n[profile q]\nregion = ap-south-1\n`,
    );
    expect(JSON.parse(result.stdout).status).toBe('replaced');
    expect(readFileSync(JSON.parse(result.stdout).backup, 'utf8')).toBe(before);
  });

  it('never overwrites an earlier backup taken in the same second', async () => {
    await runCli(['export-profile', 'AWS Production', '--profile-name', 'a'], world);
    await runCli(['export-profile', 'AWS Production', '--profile-name', 'b'], world);
    await runCli(['export-profile', 'AWS Production', '--profile-name', 'c'], world);
    expect(backups().sort()).toEqual(['config.20261128T120000Z-1.bak', 'config.20261128T120000Z.bak']);
  });

  it('--print prints exactly the block and writes nothing', async () => {
    const result = await runCli(['export-profile', 'AWS Production', '--print'], world);
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toBe(block());
    expect(existsSync(join(dir, 'aws'))).toBe(false);
  });

  it("uses --region instead of the connection's region", async () => {
    const result = await runCli(['export-profile', 'AWS Production', '--print', '--region', 'ap-southeast-2'], world);
    expect(result.stdout).toBe(block(undefined, 'ap-southeast-2'));
  });

  it('writes through a symlinked config file (dotfiles), keeping the link', async () => {
    const real = join(dir, 'dotfiles-config');
    writeFileSync(real, '[default]\nregion = us-east-1\n');
    mkdirSync(join(dir, 'aws'));
    symlinkSync(real, configFile);
    expect((await runCli(['export-profile', 'AWS Production', '--profile-name', 'p'], world)).exitCode).toBe(0);
    expect(lstatSync(configFile).isSymbolicLink()).toBe(true);
    expect(readFileSync(real, 'utf8')).toContain('[profile p]');
  });

  it('writes through a dangling symlink (dotfiles not yet created), keeping the link', async () => {
    const real = join(dir, 'dotfiles', 'aws-config');
    mkdirSync(join(dir, 'aws'));
    symlinkSync(real, configFile);
    const result = await runCli(['export-profile', 'AWS Production', '--profile-name', 'p'], world);
    expect(result.exitCode, result.stderr).toBe(0);
    expect(lstatSync(configFile).isSymbolicLink()).toBe(true);
    expect(readFileSync(real, 'utf8')).toContain('[profile p]');
    expect(statSync(real).mode & 0o777).toBe(0o600);
  });

  it('refuses a read-only (0444) config file, exit 3, leaving it as it was', async () => {
    mkdirSync(join(dir, 'aws'));
    writeFileSync(configFile, '[default]\nregion = us-east-1\n', { mode: 0o444 });
    const result = await runCli(['export-profile', 'AWS Production'], world);
    expect(result.exitCode).toBe(3);
    expect(result.stderr).toContain('is read-only (mode 0444)');
    expect(result.stderr).toContain('chmod u+w');
    expect(readFileSync(configFile, 'utf8')).toBe('[default]\nregion = us-east-1\n');
    expect(statSync(configFile).mode & 0o777).toBe(0o444);
    expect(backups()).toEqual([]);
  });

  it('recognises a header with trailing text as the profile (botocore does), refusing to append a second block', async () => {
    mkdirSync(join(dir, 'aws'));
    writeFileSync(configFile, '[profile p] (old)\nregion = us-east-1\n');
    const refused = await runCli(['export-profile', 'AWS Production', '--profile-name', 'p'], world);
    expect(refused.exitCode).toBe(3);
    expect(readFileSync(configFile, 'utf8')).toBe('[profile p] (old)\nregion = us-east-1\n');
    expect((await runCli(['export-profile', 'AWS Production', '--profile-name', 'p', '--force'], world)).exitCode).toBe(
      0,
    );
    expect(readFileSync(configFile, 'utf8')).toBe(block('p'));
  });

  it('refuses to write a region edited into the metadata (exit 3), writing nothing', async () => {
    await world.connections.put({
      ...(await world.connections.get('AWS Production'))!,
      region: 'us-east-1\n[profile victim]\ncredential_process = sh -c "touch X"',
    });
    const result = await runCli(['export-profile', 'AWS Production', '--print'], world);
    expect(result.exitCode).toBe(3);
    expect(result.stdout).toBe('');
    expect(existsSync(configFile)).toBe(false);
  });

  it('carries the file store, its config dir and its passphrase file into the line, quoted; never a passphrase', async () => {
    world.env.DATABLAST_AWS_SECRET_STORE = 'file';
    world.env.DATABLAST_AWS_CONFIG_DIR = join(dir, 'my config');
    world.env.DATABLAST_AWS_PASSPHRASE_FILE = join(dir, 'pass phrase');
    const result = await runCli(['export-profile', 'AWS Production', '--print'], world);
    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.stdout).toContain(
      `credential_process = /usr/bin/env DATABLAST_AWS_SECRET_STORE=file "DATABLAST_AWS_CONFIG_DIR=${dir}/my config" "DATABLAST_AWS_PASSPHRASE_FILE=${dir}/pass phrase" ${BIN} credential-process "AWS Production"\n`,
    );
  });

  it('refuses the file store opened with DATABLAST_AWS_PASSPHRASE only (exit 3), printing no passphrase', async () => {
    world.env.DATABLAST_AWS_SECRET_STORE = 'file';
    world.env.DATABLAST_AWS_PASSPHRASE = 'a passphrase never to be written';
    const result = await runCli(['export-profile', 'AWS Production', '--print'], world);
    expect(result.exitCode).toBe(3);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain('DATABLAST_AWS_PASSPHRASE_FILE');
    expect(result.stderr).not.toContain('a passphrase never to be written');
  });

  it('defaults to ~/.aws/config', async () => {
    world.env.AWS_CONFIG_FILE = undefined;
    const result = await runCli(['export-profile', 'AWS Production', '--json'], world);
    expect(JSON.parse(result.stdout).path).toBe(join(dir, '.aws', 'config'));
    expect(readFileSync(join(dir, '.aws', 'config'), 'utf8')).toBe(block());
  });

  it('expands ~/ in AWS_CONFIG_FILE, as the AWS tools do', async () => {
    world.env.AWS_CONFIG_FILE = '~/elsewhere/config';
    const result = await runCli(['export-profile', 'AWS Production', '--json'], world);
    expect(JSON.parse(result.stdout).path).toBe(join(dir, 'elsewhere', 'config'));
  });

  it('quotes names that sh would expand', async () => {
    await seedConnection(world, 'cost $5 #1');
    const result = await runCli(['export-profile', 'cost $5 #1', '--print'], world);
    expect(result.stdout).toContain(`credential_process = ${BIN} credential-process "cost "\\$"5 "\\#"1"\n`);
    expect(result.stdout).toContain('[profile datablast-cost-5-1]');
  });

  it('is exit 3 for an unknown connection and exit 2 for a profile name AWS tools cannot read', async () => {
    expect((await runCli(['export-profile', 'nope'], world)).exitCode).toBe(3);
    const bad = await runCli(['export-profile', 'AWS Production', '--profile-name', 'my profile'], world);
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).toContain('--profile-name');
    expect(existsSync(configFile)).toBe(false);
  });

  it('is exit 3 for an unreadable config file', async () => {
    mkdirSync(configFile, { recursive: true });
    const result = await runCli(['export-profile', 'AWS Production'], world);
    expect(result.exitCode).toBe(3);
    expect(result.stderr).toContain('cannot read the AWS config file');
  });

  it('refuses a profile defined twice in the file', async () => {
    mkdirSync(join(dir, 'aws'));
    writeFileSync(configFile, '[profile p]\nregion = a\n[profile p]\nregion = b\n');
    const result = await runCli(['export-profile', 'AWS Production', '--profile-name', 'p', '--force'], world);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain('defined 2 times');
  });

  it('notes a [profile] of the shared credentials file whose keys would win over credential_process', async () => {
    writeFileSync(join(dir, 'credentials'), '[p]\naws_access_key_id = AKIAIOSFODNN7EXAMPLE\n');
    world.env.AWS_SHARED_CREDENTIALS_FILE = join(dir, 'credentials');
    const result = await runCli(['export-profile', 'AWS Production', '--profile-name', 'p'], world);
    expect(result.exitCode).toBe(0);
    expect(result.stderr).toContain('also defines profile "p"');
  });
});

describe('export-profile never replaces the admin credentials it runs on', () => {
  const adminBlock = '[profile admin]\nsso_session = corp\nsso_account_id = 111122223333\nsso_role_name = Admin\n';

  beforeEach(() => {
    mkdirSync(join(dir, 'aws'));
    writeFileSync(configFile, adminBlock);
  });

  it('refuses the AWS_PROFILE profile while it holds other credentials, even with --force (exit 3)', async () => {
    world.env.AWS_PROFILE = 'admin';
    const result = await runCli(['export-profile', 'AWS Production', '--profile-name', 'admin', '--force'], world);
    expect(result.exitCode).toBe(3);
    expect(result.stderr).toContain('uses for admin credentials (AWS_PROFILE)');
    expect(result.stderr).toContain('sso_session, sso_account_id, sso_role_name');
    expect(readFileSync(configFile, 'utf8')).toBe(adminBlock);
  });

  it.each([
    [['export-profile', 'AWS Production', '--profile', 'p']],
    [['--profile', 'admin', 'export-profile', 'AWS Production', '--profile-name', 'admin', '--force']],
  ])('refuses --profile, which names admin credentials, pointing at --profile-name (exit 2): %j', async (argv) => {
    const result = await runCli(argv, world);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain('--profile-name');
    expect(readFileSync(configFile, 'utf8')).toBe(adminBlock);
  });

  it('refuses the default profile holding keys when no profile is selected', async () => {
    writeFileSync(configFile, '[default]\naws_access_key_id = AKIAIOSFODNN7EXAMPLE\n');
    const result = await runCli(['export-profile', 'AWS Production', '--profile-name', 'default', '--force'], world);
    expect(result.exitCode).toBe(3);
    expect(result.stderr).toContain('(the default profile)');
  });

  it('replaces the same profile with --force when it is not the admin one', async () => {
    world.env.AWS_PROFILE = 'other';
    const result = await runCli(['export-profile', 'AWS Production', '--profile-name', 'admin', '--force'], world);
    expect(result.exitCode).toBe(0);
  });

  it('re-exports over its own earlier block in the admin profile', async () => {
    world.env.AWS_PROFILE = 'p';
    writeFileSync(
      configFile,
      '[profile p]\ncredential_process = /old/place/bin/datablast-aws.js credential-process "AWS Production"\nregion = eu-west-1\n',
    );
    const result = await runCli(['export-profile', 'AWS Production', '--profile-name', 'p', '--force'], world);
    expect(result.exitCode).toBe(0);
    expect(readFileSync(configFile, 'utf8')).toBe(block('p'));
  });
});

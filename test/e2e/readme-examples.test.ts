import { execFile, execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMoto, type Moto } from '../support/moto.js';
import { BIN, tempConfigDir } from '../support/cli-process.js';
import { motoUserWithKey } from '../support/moto-iam.js';
import { blocks, section } from '../support/doc-examples.js';

// The examples of README.md and docs/ that RUN (test/support/doc-examples.ts) lists, taken FROM those
// files (so they cannot drift) and run for real against moto with the file secret store: the Quick start,
// the add-connection/env lines of "Connections", the setup/crontab/systemd examples of "Scheduling it"
// and the AWS CLI and boto3 lines of the export-profile section. `/usr/local/bin/datablast-aws` and the
// bare `datablast-aws` both resolve to the built binary. The GitHub Actions job runs in its own test;
// every other example is checked to be a valid command line by test/unit/doc-examples.test.ts.
//
// Not run for real, only checked to be valid commands of this CLI (`--help` appended):
// - `init --profile admin`: needs a real administrator profile in ~/.aws (moto has no such profile here);
// - `add-connection prod --access-key-id …` with the hidden prompt: needs a terminal (the wizard test drives one).

const run = promisify(execFile);
const INSTALLED = '/usr/local/bin/datablast-aws';

/** The non-empty, non-comment lines of a shell block. */
function commandLines(block: string): string[] {
  return block
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
}

let moto: Moto;
let scratch: string;
let binDir: string;

beforeAll(async () => {
  moto = await startMoto();
  scratch = tempConfigDir('dbaws-readme-');
  binDir = join(scratch, 'bin');
  mkdirSync(binDir);
  // What `npm install -g` leaves at /usr/local/bin: an executable named datablast-aws. A wrapper with node's
  // absolute path, so that it also runs under cron's minimal PATH.
  writeFileSync(join(binDir, 'datablast-aws'), `#!/bin/sh\nexec '${process.execPath}' '${BIN}' "$@"\n`);
  chmodSync(join(binDir, 'datablast-aws'), 0o755);
}, 60_000);

afterAll(async () => {
  await moto?.stop();
});

/** A user with one access key in moto. */
const motoKey = (userName: string) => motoUserWithKey(moto.url, userName);

/** A fresh HOME holding the CSV the AWS console downloads, named as the README names it. */
function freshHome(key: { accessKeyId: string; secretAccessKey: string }): string {
  const home = tempConfigDir('dbaws-readme-home-');
  writeFileSync(
    join(home, 'datablast_accessKeys.csv'),
    `Access key ID,Secret access key\r\n${key.accessKeyId},${key.secretAccessKey}\r\n`,
  );
  return home;
}

/** The file secret store's settings, with the passphrase in a file of `home` only its owner can read. */
function fileStoreWithPassphraseFile(home: string, passphrase: string): Record<string, string> {
  const path = join(home, 'passphrase');
  writeFileSync(path, `${passphrase}\n`, { mode: 0o600 });
  return { DATABLAST_AWS_SECRET_STORE: 'file', DATABLAST_AWS_PASSPHRASE_FILE: path };
}

/** The environment of a user's shell: nothing inherited but PATH; AWS is moto. */
function shellEnv(home: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    PATH: `${binDir}:${dirname(process.execPath)}:${process.env.PATH ?? '/usr/bin:/bin'}`,
    HOME: home,
    LANG: 'C.UTF-8',
    AWS_ENDPOINT_URL: moto.url,
    AWS_EC2_METADATA_DISABLED: 'true',
    ...extra,
  };
}

/** Runs a line of the README in `sh`; resolves with the exit code and output (never rejects on exit codes). */
async function sh(
  script: string,
  env: Record<string, string>,
  cwd: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run('sh', ['-c', script], { env, cwd, timeout: 30_000 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout, stderr: e.stderr };
  }
}

/** Runs a line and fails with its stderr if it does not exit 0. */
async function ok(script: string, env: Record<string, string>, cwd: string): Promise<string> {
  const result = await sh(script, env, cwd);
  expect(result.code, `README line failed: ${script}\n${result.stderr}`).toBe(0);
  return result.stdout;
}

describe('docs/usage.md "Scheduling it (the file secret store)"', () => {
  const scheduling = section('docs/usage.md', '### Scheduling it (the file secret store)');
  let home: string;
  let cronCommand: string;

  /** cron's environment: HOME and a minimal PATH (no node on it unless /usr/bin has it), plus moto. */
  const cronEnv = () => ({
    HOME: home,
    PATH: '/usr/bin:/bin',
    LANG: 'C.UTF-8',
    AWS_ENDPOINT_URL: moto.url,
    AWS_EC2_METADATA_DISABLED: 'true',
  });
  const lastRotation = () =>
    JSON.parse(readFileSync(join(home, '.config/datablast-aws/last-rotation.json'), 'utf8')) as Array<{
      name: string;
      status: string;
      newAccessKeyId: string | null;
    }>;
  const log = () => {
    const path = join(home, '.config/datablast-aws/rotation.log');
    return existsSync(path) ? readFileSync(path, 'utf8') : '';
  };

  beforeAll(async () => {
    home = freshHome(await motoKey('readme-cron'));
    const [setup] = blocks(scheduling, 'sh');
    expect(setup, 'the setup ```sh block').toBeDefined();
    // The whole block in one shell, as a user pastes it: its `export` must reach add-connection.
    await ok(`set -e\n${setup}`, shellEnv(home), home);
    expect(readFileSync(join(home, '.config/datablast-aws/passphrase'), 'utf8').trim().length).toBeGreaterThanOrEqual(
      40,
    );

    const [cron] = blocks(scheduling, 'crontab');
    expect(cron, 'the ```crontab block').toBeDefined();
    const line = commandLines(cron!)[0]!;
    const fields = line.split(/\s+/);
    expect(
      fields.slice(0, 5).every((f) => /^[\d*/,-]+$/.test(f)),
      `5 schedule fields in: ${line}`,
    ).toBe(true);
    const command = line.replace(/^(\S+\s+){5}/, '');
    // cron turns an unescaped % into a newline: every % of the command must be escaped.
    expect(command.replace(/\\%/g, '')).not.toContain('%');
    expect(command).toContain(INSTALLED);
    cronCommand = command.replace(/\\%/g, '%').replaceAll(INSTALLED, join(binDir, 'datablast-aws'));
  }, 60_000);

  it('the crontab line skips a key younger than 90 days, exits 0 and keeps the JSON result', async () => {
    const result = await sh(cronCommand, cronEnv(), home);
    expect(result.code, result.stderr).toBe(0);
    const entries = lastRotation();
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({ name: 'AWS Production', status: 'skipped' });
    expect(log()).not.toContain('rotate exited');
  });

  it('the crontab line with --older-than 0 really rotates the key', async () => {
    const result = await sh(cronCommand.replace('--older-than 90', '--older-than 0'), cronEnv(), home);
    expect(result.code, result.stderr).toBe(0);
    const [entry] = lastRotation();
    expect(entry).toMatchObject({ name: 'AWS Production', status: 'rotated' });
    expect(entry!.newAccessKeyId).toMatch(/^AKIA/);
    expect(log()).not.toContain('rotate exited');
  });

  it('a failing crontab run appends a dated line with its exit code to the log', async () => {
    const passphrase = join(home, '.config/datablast-aws/passphrase');
    const saved = readFileSync(passphrase);
    writeFileSync(passphrase, 'not the passphrase the store was made with\n');
    try {
      // A key that is due (--older-than 0) and a store that cannot be opened: rotate fails.
      const result = await sh(cronCommand.replace('--older-than 90', '--older-than 0'), cronEnv(), home);
      expect(result.code, log()).toBe(0); // the `|| echo` swallows the failure, as cron needs
      expect(log()).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ rotate exited [1-9]\d*$/m);
      expect(log()).not.toContain('rotate exited 0');
    } finally {
      writeFileSync(passphrase, saved);
    }
  });

  it('the systemd units verify, and the service runs like the crontab line', async () => {
    const units = blocks(scheduling, 'ini');
    expect(units).toHaveLength(2);
    const unitDir = join(scratch, 'units');
    mkdirSync(unitDir, { recursive: true });
    const names: string[] = [];
    for (const unit of units) {
      const name = /^# ~\/\.config\/systemd\/user\/(\S+)$/m.exec(unit)?.[1];
      expect(name, unit).toMatch(/^datablast-aws-rotate\.(service|timer)$/);
      writeFileSync(join(unitDir, name!), unit.replaceAll(INSTALLED, join(binDir, 'datablast-aws')));
      names.push(name!);
    }
    expect(names.sort()).toEqual(['datablast-aws-rotate.service', 'datablast-aws-rotate.timer']);

    // systemd's own check (scripts/ensure-test-deps.sh installs systemd; it need not run as init).
    execFileSync('systemd-analyze', ['verify', ...names.map((n) => join(unitDir, n))], {
      cwd: unitDir,
      encoding: 'utf8',
      stdio: 'pipe',
      timeout: 20_000,
    });

    // The service as systemd runs it: Environment= lines, ExecStart split on spaces (no quotes in it), %h = HOME.
    const service = units.find((u) => u.includes('[Service]'))!;
    const settings = commandLines(service)
      .filter((l) => l.includes('='))
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)] as const);
    const value = (key: string) => settings.filter(([k]) => k === key).map(([, v]) => v);
    const environment = Object.fromEntries(
      value('Environment').map((v) => [v.slice(0, v.indexOf('=')), v.slice(v.indexOf('=') + 1).replaceAll('%h', home)]),
    );
    expect(environment).toEqual({
      DATABLAST_AWS_SECRET_STORE: 'file',
      DATABLAST_AWS_PASSPHRASE_FILE: join(home, '.config/datablast-aws/passphrase'),
    });
    expect(value('Type')).toEqual(['oneshot']);
    expect(value('Restart')).toEqual(['on-failure']);
    // Retrying cannot help a usage, config, rejected-key, AWS, store or lock error; exit 8 (resumable) is retried.
    const noRetry = value('RestartPreventExitStatus')[0]!.split(/\s+/).map(Number);
    expect(noRetry.sort()).toEqual([2, 3, 4, 5, 6, 7]);
    expect(noRetry).not.toContain(8);
    const [exec, ...args] = value('ExecStart')[0]!.replaceAll('%h', home).split(/\s+/);
    expect(exec).toBe(INSTALLED);
    const cronWords = cronCommand.split(/\s+/);
    const cronArgs = cronWords.slice(cronWords.indexOf(join(binDir, 'datablast-aws')) + 1);
    expect(args).toEqual(cronArgs.slice(0, args.length)); // the same command; cron then redirects its output
    expect(cronArgs[args.length]).toMatch(/^>/);
    const { stdout } = await run(join(binDir, 'datablast-aws'), args, {
      env: {
        HOME: home,
        PATH: '/usr/bin:/bin',
        AWS_ENDPOINT_URL: moto.url,
        AWS_EC2_METADATA_DISABLED: 'true',
        ...environment,
      },
      timeout: 30_000,
    });
    expect(JSON.parse(stdout)).toMatchObject([{ name: 'AWS Production', status: 'skipped' }]);
  }, 30_000);
});

describe('README "Quick start"', () => {
  it('adds the CSV key, tests it, rotates it and lets the AWS CLI list buckets through the exported profile', async () => {
    const lines = commandLines(blocks(section('README.md', '## Quick start'), 'sh')[0]!);
    const home = freshHome(await motoKey('readme-quick'));
    // The file store, with its passphrase in a file: export-profile carries the file's path into the
    // profile (never a passphrase), as it would the keychain of a fresh desktop shell.
    const env = shellEnv(home, fileStoreWithPassphraseFile(home, 'readme quick start passphrase'));
    const ran: string[] = [];
    for (const line of lines) {
      if (/ init --profile admin\b/.test(line)) {
        await ok(`${line} --help`, env, home); // a real administrator profile: not here
        continue;
      }
      ran.push(await ok(line, env, home));
    }
    expect(ran).toHaveLength(lines.length - 1);
    expect(lines.some((l) => / list\b/.test(l))).toBe(true);
    expect(lines.some((l) => l.includes('aws s3 ls'))).toBe(true); // the last line reached the AWS CLI through the profile
  }, 40_000);
});

describe('docs/usage.md "Connections"', () => {
  const connections = section('docs/usage.md', '## Connections: add, list, show, remove, and use');
  let key: { accessKeyId: string; secretAccessKey: string };
  const fileStore = { DATABLAST_AWS_SECRET_STORE: 'file', DATABLAST_AWS_PASSPHRASE: 'readme connections passphrase' };

  beforeAll(async () => {
    key = await motoKey('readme-connections');
  });

  it('every add-connection line stores the key (each in a fresh HOME), except the terminal-only prompt', async () => {
    const lines = commandLines(blocks(connections, 'sh')[0]!);
    expect(lines.length).toBeGreaterThanOrEqual(5);
    for (const line of lines) {
      const home = freshHome(key);
      const env = shellEnv(home, {
        ...fileStore,
        AWS_ACCESS_KEY_ID: key.accessKeyId,
        AWS_SECRET_ACCESS_KEY: key.secretAccessKey,
      });
      let script = line.replaceAll('AKIAIOSFODNN7EXAMPLE', key.accessKeyId);
      if (line.includes('hidden prompt')) {
        await ok(`${script.replace(/#.*$/, '')} --help`, env, home); // needs a terminal
        continue;
      }
      // The clipboard is a pipe of the secret; `…` is the secret; the rest comes from env or the CSV.
      script = script
        .replace(/^pbpaste \|/, `printf '%s\\n' '${key.secretAccessKey}' |`)
        .replace('AWS_SECRET_ACCESS_KEY=…', `AWS_SECRET_ACCESS_KEY='${key.secretAccessKey}'`);
      if (!line.includes('--from-env') && !line.startsWith('AWS_SECRET_ACCESS_KEY=')) delete env.AWS_SECRET_ACCESS_KEY;
      await ok(script, env, home);
      const name = /add-connection ("[^"]+"|\S+)/.exec(line)![1]!.replace(/"/g, '');
      const credentials = JSON.parse(await ok(`datablast-aws credential-process '${name}'`, env, home));
      expect(credentials, line).toEqual({
        Version: 1,
        AccessKeyId: key.accessKeyId,
        SecretAccessKey: key.secretAccessKey,
        Expiration: expect.any(String),
      });
    }
  }, 40_000);

  it('the credential-process and `eval "$(datablast-aws env …)"` lines give the stored key', async () => {
    const console = blocks(connections, 'console').find((b) => b.includes('eval "$('))!;
    const commands = console
      .split('\n')
      .filter((l) => l.startsWith('$ '))
      .map((l) => l.slice(2));
    expect(commands).toHaveLength(2);
    const home = freshHome(key);
    const env = shellEnv(home, fileStore);
    await ok(
      `datablast-aws add-connection "AWS Production" --from-csv datablast_accessKeys.csv --region eu-west-1`,
      env,
      home,
    );
    const documented = JSON.parse(console.split('\n')[1]!);
    const served = JSON.parse(await ok(commands[0]!, env, home));
    expect(Object.keys(served)).toEqual(Object.keys(documented));
    expect(served.AccessKeyId).toBe(key.accessKeyId);
    const exported = await ok(
      `${commands[1]}\nprintf '%s\\n' "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY" "$AWS_REGION"`,
      env,
      home,
    );
    expect(exported.split('\n').slice(0, 3)).toEqual([key.accessKeyId, key.secretAccessKey, 'eu-west-1']);
  });
});

describe('docs/usage.md "Use a stored connection from the AWS CLI and every AWS SDK"', () => {
  it('the AWS CLI and boto3 lines sign with the stored key through the exported profile', async () => {
    const lines = commandLines(
      blocks(section('docs/usage.md', '### Use a stored connection from the AWS CLI and every AWS SDK'), 'sh')[0]!,
    );
    expect(lines.map((l) => l.split(' ')[0])).toEqual(['aws', 'python']);
    const key = await motoKey('readme-aws-tools');
    const home = freshHome(key);
    const env = shellEnv(home, fileStoreWithPassphraseFile(home, 'readme aws tools passphrase'));
    await ok(`datablast-aws add-connection "AWS Production" --from-csv datablast_accessKeys.csv`, env, home);
    await ok(`datablast-aws export-profile "AWS Production"`, env, home);
    await ok(lines[0]!, env, home);
    const identity = await ok(lines[1]!, env, home);
    expect(identity).toContain('readme-aws-tools');
  }, 60_000);
});

import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { EXAMPLE_ID, EXAMPLE_SECRET } from '../unit/commands/helpers.js';

// The package as a registry would serve it: `npm pack` of this tree (from the dist/ that `npm test`
// builds first), installed into a temp prefix from the npm cache, then run from the installed copy.

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '../..');
const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

let dir: string;
let files: string[];
let installed: string;

/** npm's environment without what `npm test` sets for its own run (lifecycle, package fields, --prefix...). */
function npmEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v === undefined) continue;
    if (/^npm_/i.test(k) && !/^npm_config_(cache|registry|userconfig)$/i.test(k)) continue;
    env[k] = v;
  }
  return env;
}

/** Runs the installed bin script by its path, with node on PATH and nothing else of this repository. */
async function installedBin(
  args: string[],
  env: Record<string, string>,
  stdin?: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolvePromise, reject) => {
    const child = execFile(
      installed,
      args,
      {
        env: { PATH: `${dirname(process.execPath)}:/usr/bin:/bin`, HOME: dir, LANG: 'C.UTF-8', ...env },
        timeout: 30_000,
      },
      (error, stdout, stderr) => {
        if (error && typeof error.code !== 'number') return reject(error);
        resolvePromise({ code: typeof error?.code === 'number' ? error.code : 0, stdout, stderr });
      },
    );
    child.stdin?.end(stdin ?? '');
  });
}

beforeAll(async () => {
  dir = realpathSync(mkdtempSync(join(tmpdir(), 'dbaws-package-')));
  // --ignore-scripts: prepack would rebuild dist/ under the other test files that are running it.
  const packed = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dir], {
    cwd: ROOT,
    env: npmEnv(),
    maxBuffer: 16 * 1024 * 1024,
  });
  const [info] = JSON.parse(packed.stdout) as Array<{ filename: string; files: Array<{ path: string }> }>;
  files = info!.files.map((f) => f.path).sort();
  const tarball = join(dir, info!.filename);
  await run(
    'npm',
    [
      'install',
      '--prefix',
      join(dir, 'prefix'),
      tarball,
      '--prefer-offline',
      '--no-audit',
      '--no-fund',
      '--loglevel=error',
    ],
    { cwd: dir, env: npmEnv(), timeout: 120_000 },
  );
  installed = join(dir, 'prefix', 'node_modules', '.bin', 'datablast-aws');
}, 180_000);

describe('the npm package', () => {
  it('holds only what runs: the bin script, the bundle, the man page, README, LICENSE, CHANGELOG and package.json', () => {
    const allowed =
      /^(bin\/datablast-aws\.js|bin\/package\.json|man\/datablast-aws\.1|package\.json|README\.md|LICENSE|CHANGELOG\.md|SECURITY\.md|dist\/cli\/[\w.-]+\.cjs)$/;
    expect(files.filter((f) => !allowed.test(f))).toEqual([]);
    for (const required of [
      'bin/datablast-aws.js',
      'bin/package.json',
      'package.json',
      'README.md',
      'man/datablast-aws.1',
      'LICENSE',
      'CHANGELOG.md',
      'dist/cli/cli.cjs',
      'dist/cli/core.cjs',
    ]) {
      expect(files).toContain(required);
    }
    expect(files.filter((f) => /^dist\/cli\/(program|rotate)-[\w-]+\.cjs$/.test(f))).toHaveLength(2);
  });

  it('ships no stale build output: every module in the bundle comes from a source file', () => {
    const modules = files
      .filter((f) => f.startsWith('dist/'))
      .flatMap((f) => [...readFileSync(join(ROOT, f), 'utf8').matchAll(/^\/\/ dist\/(\S+)\.js$/gm)].map((m) => m[1]!));
    expect(modules.length).toBeGreaterThan(40);
    const stale = modules.filter((m) => !existsSync(join(ROOT, 'src', `${m}.ts`)));
    expect(stale, 'rebuild from clean: rm -rf dist && npm run build (npm pack does it through prepack)').toEqual([]);
  });

  it('declares its bin, the Node versions it supports, and no development files', () => {
    const pkg = JSON.parse(readFileSync(join(dir, 'prefix', 'node_modules', 'datablast-aws', 'package.json'), 'utf8'));
    expect(pkg.bin).toEqual({ 'datablast-aws': 'bin/datablast-aws.js' });
    expect(pkg.engines.node).toBe('>=20');
    expect(pkg.license).toBe('MIT');
  });

  it('runs `datablast-aws --version` from the installed copy', async () => {
    const result = await installedBin(['--version'], {});
    expect(result).toMatchObject({ code: 0, stdout: `${VERSION}\n` });
  });

  it('adds a connection and serves it to credential_process from the installed copy', async () => {
    // From a file: the profile it would write carries the file's path, never a passphrase.
    const passphraseFile = join(dir, 'passphrase');
    writeFileSync(passphraseFile, 'package test passphrase\n', { mode: 0o600 });
    const env = {
      DATABLAST_AWS_CONFIG_DIR: join(dir, 'config'),
      DATABLAST_AWS_SECRET_STORE: 'file',
      DATABLAST_AWS_PASSPHRASE_FILE: passphraseFile,
    };
    const added = await installedBin(
      [
        'add-connection',
        'AWS Production',
        '--access-key-id',
        EXAMPLE_ID,
        '--secret-stdin',
        '--no-test',
        '--region',
        'eu-west-1',
      ],
      env,
      EXAMPLE_SECRET,
    );
    expect(added.code, added.stderr).toBe(0);
    const served = await installedBin(['credential-process', 'AWS Production'], env);
    expect(served.code, served.stderr).toBe(0);
    expect(served.stdout).toMatch(
      new RegExp(
        `^\\{"Version":1,"AccessKeyId":"${EXAMPLE_ID}","SecretAccessKey":"${EXAMPLE_SECRET.replace(/[/+]/g, '\\$&')}","Expiration":"[0-9T:-]+Z"\\}\\n$`,
      ),
    );
    // The profile it would write names the installed copy, not this repository.
    const printed = await installedBin(['export-profile', 'AWS Production', '--print'], env);
    const bin = join(dir, 'prefix', 'node_modules', 'datablast-aws', 'bin', 'datablast-aws.js');
    const line = printed.stdout.split('\n').find((l) => l.startsWith('credential_process = '));
    expect(line).toBeDefined();
    expect(line!.endsWith(`${bin} credential-process "AWS Production"`)).toBe(true);
    // It carries the store settings the command needs in any other shell: the file's path, never a passphrase.
    expect(line).toContain(`DATABLAST_AWS_PASSPHRASE_FILE=${passphraseFile}`);
    expect(line).not.toContain('package test passphrase');
  });
});

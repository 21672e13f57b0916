import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, symlinkSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { startMoto, type Moto } from '../support/moto.js';
import { BIN, tempConfigDir } from '../support/cli-process.js';
import { motoUserWithKey } from '../support/moto-iam.js';

// The documented GitHub Actions job, run step by step against moto: its `run:` lines in bash with the
// job's and the step's `env:`, `${{ secrets.* }}` filled with a key moto issued, and the global npm
// install replaced by the built binary on PATH. If the example stops working, this fails.

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '../..');

interface Step {
  uses?: string;
  run?: string;
  name?: string;
  env?: Record<string, string>;
}

/** The first ```yaml block that runs datablast-aws: in docs/usage.md (its CI section). */
function documentedWorkflow(): {
  source: string;
  jobs: Record<string, { env?: Record<string, string>; steps: Step[] }>;
} {
  for (const source of ['docs/usage.md']) {
    const path = join(ROOT, source);
    if (!existsSync(path)) continue;
    const block = [...readFileSync(path, 'utf8').matchAll(/```ya?ml\n([\s\S]*?)```/g)]
      .map((m) => m[1]!)
      .find((b) => b.includes('datablast-aws'));
    if (!block) continue;
    // PyYAML comes with moto's Python; Node has no YAML parser here.
    const json = execFileSync('python3', ['-c', 'import json,sys,yaml; print(json.dumps(yaml.safe_load(sys.stdin)))'], {
      input: block,
      encoding: 'utf8',
    });
    return {
      source,
      ...(JSON.parse(json) as { jobs: Record<string, { env?: Record<string, string>; steps: Step[] }> }),
    };
  }
  throw new Error('no GitHub Actions example (a ```yaml block running datablast-aws) in docs/usage.md');
}

let moto: Moto;
let dir: string;
let secrets: Record<string, string>;

beforeAll(async () => {
  moto = await startMoto();
  const key = await motoUserWithKey(moto.url, 'datablast-ci');
  const s3 = new S3Client({
    endpoint: moto.url,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: 'admin', secretAccessKey: 'admin' },
  });
  await s3.send(new CreateBucketCommand({ Bucket: 'datablast-exports' }));
  s3.destroy();
  secrets = {
    DATABLAST_AWS_ACCESS_KEY_ID: key.accessKeyId,
    DATABLAST_AWS_SECRET_ACCESS_KEY: key.secretAccessKey,
    DATABLAST_AWS_PASSPHRASE: 'github actions example passphrase',
  };
  dir = tempConfigDir('dbaws-gha-');
  mkdirSync(join(dir, 'bin'));
  symlinkSync(BIN, join(dir, 'bin', 'datablast-aws'));
  mkdirSync(join(dir, 'runner-temp'));
}, 60_000);

afterAll(async () => {
  await moto?.stop();
});

/** `${{ secrets.X }}` and `${{ runner.temp }}` as a runner would fill them. */
function expand(value: string): string {
  return String(value).replace(/\$\{\{\s*([^}]+?)\s*\}\}/g, (_, expression: string) => {
    const secret = /^secrets\.(\w+)$/.exec(expression);
    if (secret && secrets[secret[1]!] !== undefined) return secrets[secret[1]!]!;
    if (expression === 'runner.temp') return join(dir, 'runner-temp');
    throw new Error(`the example uses \${{ ${expression} }}, which this test does not know`);
  });
}

describe('the documented GitHub Actions job', () => {
  it('stores the key from the secrets, tests it, and lets the AWS CLI use it through a profile', async () => {
    const workflow = documentedWorkflow();
    const [job] = Object.values(workflow.jobs);
    expect(job, workflow.source).toBeDefined();
    const jobEnv = Object.fromEntries(Object.entries(job!.env ?? {}).map(([k, v]) => [k, expand(v)]));
    expect(jobEnv.DATABLAST_AWS_SECRET_STORE).toBe('file');
    const outputs: string[] = [];
    for (const step of job!.steps) {
      if (step.uses) continue;
      const script = step.run!;
      if (/^npm install (--global|-g) datablast-aws(@\S+)?$/.test(script.trim())) continue; // the built binary is on PATH instead
      const env = {
        PATH: `${join(dir, 'bin')}:${dirname(process.execPath)}:${process.env.PATH}`,
        HOME: dir,
        LANG: 'C.UTF-8',
        CI: 'true',
        AWS_ENDPOINT_URL: moto.url,
        AWS_EC2_METADATA_DISABLED: 'true',
        ...jobEnv,
        ...Object.fromEntries(Object.entries(step.env ?? {}).map(([k, v]) => [k, expand(v)])),
      };
      const result = await run('bash', ['-e', '-c', script], { env, timeout: 60_000 }).catch(
        (error: { code: number; stdout: string; stderr: string }) => {
          throw new Error(
            `step "${step.name ?? script}" of ${workflow.source} failed (exit ${error.code}): ${error.stderr}`,
          );
        },
      );
      outputs.push(result.stdout);
    }
    expect(outputs.join('\n')).toContain('datablast-exports');
    // No step prints the secret into the job log.
    expect(outputs.join('\n')).not.toContain(secrets.DATABLAST_AWS_SECRET_ACCESS_KEY);
  });
});

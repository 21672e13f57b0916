import { describe, expect, it } from 'vitest';
import { resolveGlobals } from '../../src/main.js';
import { bufferedIO } from '../../src/ui/io.js';
import { fakeWorld, runCli } from '../support/run-cli.js';
import { seedConnection } from './commands/helpers.js';

// The global options are checked once, in main, for every command (issue 13 §5): a malformed
// endpoint or region is a usage error (exit 2) with a hint, before any command reads it or AWS is
// called with it (they exited 5 before, once the SDK failed on them).

/** Each command with operands Commander accepts, and --no-input. */
const COMMANDS: string[][] = [
  ['init', '--no-input'],
  ['create-user', 'datablast', '--no-input'],
  ['attach-policy', 'datablast', '--no-input'],
  ['add-connection', 'other', '--no-input'],
  ['test', 'prod'],
  ['rotate', 'prod'],
  ['list'],
  ['show', 'prod'],
  ['remove', 'prod', '--yes'],
  ['credential-process', 'prod'],
  ['env', 'prod'],
  ['export-profile', 'prod', '--print'],
  ['completion', 'bash'],
];

const BAD: Array<{ what: string; flags?: string[]; env?: Record<string, string>; said: RegExp }> = [
  {
    what: '--endpoint-url with a port out of range',
    flags: ['--endpoint-url', 'http://127.0.0.1:99999'],
    said: /--endpoint-url is not an http\(s\) URL/,
  },
  {
    what: '--endpoint-url with a space in the host',
    flags: ['--endpoint-url', 'http://a b'],
    said: /--endpoint-url is not an http\(s\) URL/,
  },
  { what: '--region a path', flags: ['--region', 'evil.com/x'], said: /--region: "evil.com\/x" is not an AWS region/ },
  { what: 'AWS_ENDPOINT_URL', env: { AWS_ENDPOINT_URL: 'ftp://x' }, said: /AWS_ENDPOINT_URL is not an http\(s\) URL/ },
  {
    what: 'AWS_ENDPOINT_URL_IAM',
    env: { AWS_ENDPOINT_URL_IAM: 'http://127.0.0.1:99999' },
    said: /AWS_ENDPOINT_URL_IAM is not an http\(s\) URL/,
  },
  {
    what: 'AWS_ENDPOINT_URL_STS',
    env: { AWS_ENDPOINT_URL_STS: 'http://a b' },
    said: /AWS_ENDPOINT_URL_STS is not an http\(s\) URL/,
  },
];

describe('the global options are validated once, for every command', () => {
  it.each(BAD.flatMap((bad) => COMMANDS.map((args) => [bad.what, args.join(' '), bad, args] as const)))(
    '%s: %s exits 2 with a hint',
    async (_what, _line, bad, args) => {
      const world = fakeWorld({ env: { ...bad.env } });
      await seedConnection(world, 'prod');
      const run = await runCli([...args, ...(bad.flags ?? [])], world);
      expect(run.exitCode, run.stderr).toBe(2);
      expect(run.stderr).toMatch(bad.said);
      expect(run.stderr.split('\n')[1]).toMatch(/^(Give|Did you mean)/);
      expect(run.world.aws.calls).toEqual([]);
    },
  );

  it('a flag wins over the variables: a bad AWS_ENDPOINT_URL_IAM is not read when --endpoint-url is given', () => {
    const globals = resolveGlobals(
      { endpointUrl: 'http://127.0.0.1:5000' },
      { AWS_ENDPOINT_URL_IAM: 'not a url' },
      bufferedIO(),
    );
    expect(globals.endpointUrl).toBe('http://127.0.0.1:5000');
  });

  it('AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true: the service variables are not read, so not checked', () => {
    expect(() =>
      resolveGlobals(
        {},
        { AWS_ENDPOINT_URL_STS: 'not a url', AWS_IGNORE_CONFIGURED_ENDPOINT_URLS: 'true' },
        bufferedIO(),
      ),
    ).not.toThrow();
  });

  it.each([
    'http://127.0.0.1:5000',
    'https://iam.amazonaws.com',
    'http://[::1]:5000/',
    'https://vpce-1.iam.us-east-1.vpce.amazonaws.com/path',
  ])('accepts %s', (url) => {
    expect(resolveGlobals({ endpointUrl: url }, {}, bufferedIO()).endpointUrl).toBe(url);
  });
});

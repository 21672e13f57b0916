import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { afterAll, beforeAll, expect } from 'vitest';
import {
  CreateAccessKeyCommand,
  CreateUserCommand,
  DeleteAccessKeyCommand,
  IAMClient,
  ListAccessKeysCommand,
  PutUserPolicyCommand,
  UpdateAccessKeyCommand,
} from '@aws-sdk/client-iam';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { MOTO_SELF_ROTATION_POLICY, startMoto, type Moto } from '../support/moto.js';
import { BIN, runBin, type ProcessResult } from '../support/cli-process.js';
import { openSecretStore } from '../../src/store/secret-store.js';
import { journalPath } from '../../src/store/journal.js';
import { pendingAccount, type RotationJournal } from '../../src/domain/rotation.js';
import type { AccessKeyPair, Connection } from '../../src/domain/connection.js';

/**
 * Starts a moto server and a FaultProxy in front of it before the file's tests (which run the built binary), hands
 * them to `use`, and stops both after.
 */
export function useMotoAndProxy(use: (moto: Moto, proxy: FaultProxy) => void): void {
  let moto: Moto | undefined;
  let proxy: FaultProxy | undefined;
  beforeAll(async () => {
    if (!existsSync(BIN.replace(/bin\/datablast-aws\.js$/, 'dist/cli/cli.cjs')))
      throw new Error('dist/ is missing: run `npm run build` first (npm test does)');
    moto = await startMoto();
    proxy = new FaultProxy(moto.url);
    await proxy.start();
    use(moto, proxy);
  });
  afterAll(async () => {
    await proxy?.stop();
    await moto?.stop();
  });
}

/** The passphrase of the file secret store in every rotation test. */
export const PASSPHRASE = 'correct horse battery staple';
export const ACCOUNT = '123456789012';

type Pair = AccessKeyPair;

/** One isolated world: a moto server with an admin, and a private config dir with the file store. */
export class MotoWorld {
  admin!: Pair;
  /** Keys planted by the test that the tool must never touch. */
  readonly foreign = new Set<string>();

  constructor(
    readonly moto: Moto,
    readonly configDir: string,
    /** Which secret store the CLI uses: the encrypted file by default. */
    readonly storeEnv: Record<string, string> = {
      DATABLAST_AWS_SECRET_STORE: 'file',
      DATABLAST_AWS_PASSPHRASE: PASSPHRASE,
    },
  ) {}

  /** Forgets everything in moto, creates an all-powerful admin, then turns on key and signature checks. */
  async reset(): Promise<void> {
    await this.moto.disableAuth();
    await this.moto.reset();
    const bootstrap = new IAMClient({
      endpoint: this.moto.url,
      region: 'us-east-1',
      credentials: { accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY' },
    });
    await bootstrap.send(new CreateUserCommand({ UserName: 'admin' }));
    await bootstrap.send(
      new PutUserPolicyCommand({
        UserName: 'admin',
        PolicyName: 'all',
        PolicyDocument: JSON.stringify({
          Version: '2012-10-17',
          Statement: [{ Effect: 'Allow', Action: '*', Resource: '*' }],
        }),
      }),
    );
    const key = (await bootstrap.send(new CreateAccessKeyCommand({ UserName: 'admin' }))).AccessKey!;
    this.admin = { accessKeyId: key.AccessKeyId!, secretAccessKey: key.SecretAccessKey! };
    await this.moto.enforceAuth(0);
  }

  /** IAM signed by the admin, straight to moto. */
  iam(): IAMClient {
    return new IAMClient({ endpoint: this.moto.url, region: 'us-east-1', credentials: this.admin, maxAttempts: 1 });
  }

  /**
   * Creates an IAM user allowed to rotate keys (moto resolves neither `${aws:username}` nor resource
   * ARNs), gives it a key and stores that key as connection `name` through the CLI.
   */
  async addUserConnection(
    name: string,
    userName: string,
    options: { selfRotation?: boolean; env?: Record<string, string> } = {},
  ): Promise<Pair> {
    const iam = this.iam();
    await iam.send(new CreateUserCommand({ UserName: userName }));
    if (options.selfRotation !== false) {
      await iam.send(
        new PutUserPolicyCommand({
          UserName: userName,
          PolicyName: 'self-rotation',
          PolicyDocument: MOTO_SELF_ROTATION_POLICY,
        }),
      );
    }
    const key = await this.createKey(userName);
    const added = await this.cli(
      ['add-connection', name, '--access-key-id', key.accessKeyId, '--secret-stdin', '--region', 'us-east-1', '--json'],
      { stdin: key.secretAccessKey, env: options.env },
    );
    expect(added.exitCode, added.stderr).toBe(0);
    return key;
  }

  async createKey(userName: string): Promise<Pair> {
    const key = (await this.iam().send(new CreateAccessKeyCommand({ UserName: userName }))).AccessKey!;
    return { accessKeyId: key.AccessKeyId!, secretAccessKey: key.SecretAccessKey! };
  }

  async deactivate(userName: string, accessKeyId: string): Promise<void> {
    await this.iam().send(
      new UpdateAccessKeyCommand({ UserName: userName, AccessKeyId: accessKeyId, Status: 'Inactive' }),
    );
  }

  async deleteKey(userName: string, accessKeyId: string): Promise<void> {
    await this.iam().send(new DeleteAccessKeyCommand({ UserName: userName, AccessKeyId: accessKeyId }));
  }

  /** The user's keys as IAM lists them. */
  async keys(userName: string): Promise<Array<{ id: string; status: string }>> {
    const listed = await this.iam().send(new ListAccessKeysCommand({ UserName: userName }));
    return (listed.AccessKeyMetadata ?? [])
      .map((k) => ({ id: k.AccessKeyId!, status: k.Status! }))
      .sort((a, b) => a.id.localeCompare(b.id));
  }

  /** The environment of a CLI child: isolated config dir, the secret store, moto (or a proxy) as the endpoint; admin credentials only when asked. */
  env(options: { admin?: boolean; endpoint?: string } = {}): Record<string, string> {
    return {
      AWS_ENDPOINT_URL: options.endpoint ?? this.moto.url,
      AWS_REGION: 'us-east-1',
      DATABLAST_AWS_CONFIG_DIR: this.configDir,
      ...this.storeEnv,
      ...(options.admin
        ? { AWS_ACCESS_KEY_ID: this.admin.accessKeyId, AWS_SECRET_ACCESS_KEY: this.admin.secretAccessKey }
        : {}),
    };
  }

  /** Runs the built CLI in this world. */
  cli(
    args: string[],
    options: {
      admin?: boolean;
      endpoint?: string;
      stdin?: string;
      timeoutMs?: number;
      /** Settings over the world's (another store, say). */
      env?: Record<string, string> | undefined;
    } = {},
  ): Promise<ProcessResult> {
    return runBin(args, {
      env: { ...this.env(options), ...options.env },
      stdin: options.stdin ?? '',
      timeoutMs: options.timeoutMs ?? 120_000,
    });
  }

  /** The connection metadata as the file holds it. */
  connection(name: string): Connection | undefined {
    const path = join(this.configDir, 'config.json');
    if (!existsSync(path)) return undefined;
    return (JSON.parse(readFileSync(path, 'utf8')) as { connections: Record<string, Connection> }).connections[name];
  }

  journal(name: string): RotationJournal | undefined {
    const path = journalPath(this.configDir, name);
    return existsSync(path) ? (JSON.parse(readFileSync(path, 'utf8')) as RotationJournal) : undefined;
  }

  /** Every secret in the file store, by account. */
  async secrets(): Promise<Map<string, Pair>> {
    const store = await openSecretStore(this.env(), this.configDir);
    const all = new Map<string, Pair>();
    for (const account of await store.list()) {
      const pair = await store.get(account);
      if (pair) all.set(account, pair);
    }
    return all;
  }

  /** What the stores hold for connection `name`: every secret by account, its journal and its metadata. */
  async state(
    name: string,
  ): Promise<{ secrets: Map<string, Pair>; journal: RotationJournal | undefined; connection: Connection | undefined }> {
    return { secrets: await this.secrets(), journal: this.journal(name), connection: this.connection(name) };
  }

  /** Whether AWS (moto, checking keys and signatures) accepts a key pair. */
  async works(pair: Pair): Promise<string | undefined> {
    try {
      const sts = new STSClient({ endpoint: this.moto.url, region: 'us-east-1', credentials: pair, maxAttempts: 1 });
      return (await sts.send(new GetCallerIdentityCommand({}))).Arn;
    } catch {
      return undefined;
    }
  }

  /**
   * The protocol's invariant, read from the real world: the stored key works (moto checks key and
   * signature), and every key of the user in IAM has its secret in the store, or is announced by the
   * journal, or is an inactive key the connection kept (--keep-old), or was planted as foreign.
   */
  async assertInvariant(name: string, userName: string): Promise<void> {
    const { secrets, journal, connection } = await this.state(name);
    const stored = secrets.get(name);
    expect(stored, `the store holds a key for ${name}`).toBeDefined();
    expect(await this.works(stored!), `the stored key ${stored!.accessKeyId} works`).toBe(
      `arn:aws:iam::${ACCOUNT}:user/${userName}`,
    );
    const held = new Set([...secrets.values()].map((p) => p.accessKeyId));
    const previous = connection?.previousAccessKeyIds ?? [];
    for (const key of await this.keys(userName)) {
      if (held.has(key.id) || this.foreign.has(key.id)) continue;
      if (journal && (key.id === journal.oldAccessKeyId || !journal.keysBefore.includes(key.id))) continue;
      if (key.status === 'Inactive' && previous.includes(key.id)) continue;
      expect.fail(
        `IAM holds key ${key.id} (${key.status}) of ${userName} whose secret nobody holds (journal: ${journal?.phase ?? 'none'})`,
      );
    }
  }

  /** After a successful run: the invariant, no journal, no pending entry, metadata = stored key, and IAM holds exactly it (plus the old one, inactive, with --keep-old). */
  async assertConverged(
    name: string,
    userName: string,
    original: Pair,
    options: { keepOld?: boolean } = {},
  ): Promise<Pair> {
    await this.assertInvariant(name, userName);
    const { secrets, journal, connection } = await this.state(name);
    expect(journal, 'no journal is left').toBeUndefined();
    expect(secrets.has(pendingAccount(name)), 'no pending entry is left').toBe(false);
    const stored = secrets.get(name)!;
    expect(connection?.accessKeyId).toBe(stored.accessKeyId);
    expect(stored.accessKeyId).not.toBe(original.accessKeyId);
    const keys = (await this.keys(userName)).filter((k) => !this.foreign.has(k.id));
    const expected = [{ id: stored.accessKeyId, status: 'Active' }];
    if (options.keepOld) expected.push({ id: original.accessKeyId, status: 'Inactive' });
    expect(keys).toEqual(expected.sort((a, b) => a.id.localeCompare(b.id)));
    return stored;
  }
}

/** What the fault-injecting proxy does with the requests it sees (counted from 1). */
export type ProxyMode =
  /** Forward everything. */
  | { kind: 'pass' }
  /** From request N on, drop the connection without an answer (the network went away). */
  | { kind: 'down-from'; n: number }
  /** From request N on, answer 503 without forwarding (an outage). */
  | { kind: 'fail-from'; n: number }
  /** Forward request N to moto, then drop the connection instead of answering (a lost response); the rest pass. */
  | { kind: 'lose-response'; n: number }
  /**
   * The `occurrence`-th request (default 1) for AWS action `action` is never answered (forwarded first when
   * `forward`: it takes effect), and `onStall` is told, so that the test can kill the process right there.
   */
  | { kind: 'stall'; action: string; occurrence?: number; forward: boolean; onStall: () => void };

/** A tiny HTTP proxy between the CLI and moto that fails or drops the Nth request. */
export class FaultProxy {
  private server: Server | undefined;
  mode: ProxyMode = { kind: 'pass' };
  count = 0;
  /** The AWS actions seen, in order ("GetCallerIdentity", "CreateAccessKey"...). */
  readonly actions: string[] = [];
  url = '';

  constructor(private readonly target: string) {}

  async start(): Promise<void> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    const address = this.server.address();
    this.url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  }

  /** Sets the mode and starts counting again. */
  set(mode: ProxyMode): void {
    this.mode = mode;
    this.count = 0;
    this.actions.length = 0;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise((resolve) => this.server?.close(resolve));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    this.count += 1;
    const n = this.count;
    // Query protocol (IAM, STS): Action= in the body; JSON protocol (Secrets Manager): the X-Amz-Target header.
    const amzTarget = req.headers['x-amz-target'];
    const action =
      /Action=([A-Za-z]+)/.exec(body.toString())?.[1] ??
      (typeof amzTarget === 'string' ? amzTarget.slice(amzTarget.lastIndexOf('.') + 1) : '?');
    this.actions.push(action);
    const mode = this.mode;
    if (mode.kind === 'stall' && this.actions.at(-1) === mode.action) {
      const seen = this.actions.filter((a) => a === mode.action).length;
      if (seen === (mode.occurrence ?? 1)) {
        if (mode.forward) {
          const target = new URL(this.target);
          const upstream = request(
            { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers },
            (answer) => {
              answer.resume();
              answer.on('end', () => mode.onStall());
            },
          );
          upstream.on('error', () => mode.onStall());
          upstream.end(body);
        } else {
          mode.onStall();
        }
        return;
      }
    }
    if ((mode.kind === 'down-from' && n >= mode.n) || (mode.kind === 'fail-from' && n >= mode.n)) {
      if (mode.kind === 'down-from') {
        req.socket.destroy();
      } else {
        res.writeHead(503, { 'content-type': 'text/xml' });
        res.end(
          '<ErrorResponse><Error><Type>Receiver</Type><Code>ServiceUnavailable</Code><Message>injected outage</Message></Error><RequestId>proxy</RequestId></ErrorResponse>',
        );
      }
      return;
    }
    const target = new URL(this.target);
    // The Host header is kept: it is part of the SigV4 signature moto checks.
    const upstream = request(
      { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers },
      (answer) => {
        const parts: Buffer[] = [];
        answer.on('data', (d: Buffer) => parts.push(d));
        answer.on('end', () => {
          if (mode.kind === 'lose-response' && n === mode.n) {
            req.socket.destroy();
            return;
          }
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          res.end(Buffer.concat(parts));
        });
      },
    );
    upstream.on('error', () => req.socket.destroy());
    upstream.end(body);
  }
}

import type { Context } from '../ports.js';
import type { ServiceName } from '../domain/policies.js';
import { testConnection, type TestReport } from '../commands/test.js';

/**
 * The wizard's last step: `test` as the new connection, probing what was just granted. `test` lives in
 * its command module until it becomes a service of its own; this is the one place that calls it.
 */
export async function testGranted(
  ctx: Context,
  connection: string,
  grants: { services: ServiceName[]; buckets: string[] },
): Promise<TestReport> {
  return testConnection(ctx, connection, { services: grants.services, admin: false, lastUsed: false });
}

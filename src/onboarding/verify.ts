import type { Context } from '../ports.js';
import type { ServiceName } from '../domain/policies.js';
import { testConnection, type TestReport } from './test-connection.js';

/**
 * The wizard's last step: `test` as the new connection (the service in test-connection.ts, which the test
 * command runs too), probing what was just granted.
 */
export async function testGranted(
  ctx: Context,
  connection: string,
  grants: { services: ServiceName[]; buckets: string[] },
): Promise<TestReport> {
  return testConnection(ctx, connection, { services: grants.services, admin: false, lastUsed: false });
}

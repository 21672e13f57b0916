// A child process for connections.test.ts (run with --import test/support/ts-register.mjs):
// puts COUNT connections named PREFIX-i into DIR, and puts then removes PREFIX-tmp-i each time.
import { openConnectionStore } from '../../../../src/store/connections.ts';

const [dir, prefix, count] = process.argv.slice(2);
const store = await openConnectionStore({ DATABLAST_AWS_CONFIG_DIR: dir });
for (let i = 0; i < Number(count); i++) {
  const connection = {
    name: `${prefix}-${i}`,
    accessKeyId: 'AKIAIOSFODNN7EXAMPLE',
    region: 'eu-west-1',
    createdAt: new Date().toISOString(),
  };
  await store.put(connection);
  await store.put({ ...connection, name: `${prefix}-tmp-${i}` });
  if (!(await store.delete(`${prefix}-tmp-${i}`))) throw new Error(`${prefix}-tmp-${i} vanished before its delete`);
}

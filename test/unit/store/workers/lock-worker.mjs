// A child process for lock.test.ts (run with --import test/support/ts-register.mjs).
// count LOCK COUNTER N: N times, under the lock, read COUNTER, yield, write COUNTER + 1.
// hold LOCK: take the lock, print "held", and wait to be killed.
import { readFile, writeFile } from 'node:fs/promises';
import { acquireLock, withLock } from '../../../../src/store/lock.ts';

const [mode, lockPath, counterPath, times] = process.argv.slice(2);
if (mode === 'count') {
  for (let i = 0; i < Number(times); i++) {
    await withLock(
      lockPath,
      { waitMs: 60_000, pollMs: 5 },
      () => new Error('busy'),
      async () => {
        const value = Number(await readFile(counterPath, 'utf8').catch(() => '0'));
        // Give a second writer every chance to interleave if the lock did not exclude it.
        await new Promise((resolve) => setImmediate(resolve));
        await writeFile(counterPath, String(value + 1));
      },
    );
  }
} else if (mode === 'hold') {
  const lock = await acquireLock(lockPath, { waitMs: 10_000 });
  process.stdout.write(lock ? 'held\n' : 'busy\n');
  setInterval(() => undefined, 1_000);
} else {
  throw new Error(`unknown mode ${mode}`);
}

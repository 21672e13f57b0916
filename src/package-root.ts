import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The folder of our package.json and bin/, found by walking up from this module: it runs from src/
 * (tests), dist/ (tsc's output) and dist/cli/ (the bundle the binary loads), at different depths.
 */
export function packageRoot(from: string = fileURLToPath(import.meta.url)): string {
  for (let dir = dirname(from); ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'bin', 'datablast-aws.js'))) return dir;
    if (dirname(dir) === dir)
      throw new Error(`datablast-aws: no package.json with bin/datablast-aws.js above ${from}; reinstall it`);
  }
}

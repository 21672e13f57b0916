import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

/**
 * Every module a source file loads statically, following relative imports: `import … from 'x'` and
 * `export … from 'x'`, not `await import('x')` or `import type`. Packages are named as imported.
 */
export function staticImports(file: string, seen = new Set<string>()): Set<string> {
  if (seen.has(file)) return seen;
  seen.add(file);
  const source = readFileSync(file, 'utf8');
  for (const match of source.matchAll(/^(?:import|export)\s+(?!type\b)[^;]*?\sfrom\s+'([^']+)'/gms)) {
    const spec = match[1]!;
    if (spec.startsWith('.')) staticImports(resolve(dirname(file), spec.replace(/\.js$/, '.ts')), seen);
    else seen.add(spec);
  }
  return seen;
}

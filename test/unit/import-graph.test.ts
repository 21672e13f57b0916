import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { describeCycle, importGraph, partCycles, partOf, type ImportEdge } from '../support/import-graph.js';

// No import cycle between the parts of src/ (issue 12): each directory (aws/, commands/, domain/,
// store/, ui/, and whatever else is there) is one part, and each file at the root is a part of its
// own. Every import counts: static, import() (a command or adapter loaded on first use is still a
// dependency) and type-only (gone at run time, but a dependency of the design all the same).
//
// The root is not one part: it holds both what every layer imports (ports.ts, errors.ts) and the
// entry and composition root that import every layer (main.ts, program.ts, fast-path.ts,
// context.ts), so one node for the root would be a cycle by construction and would hide real ones.
// context.ts may import the adapters (dynamically, on first use); were an adapter to import
// context.ts back, that is a cycle, and the second test names it.

const SRC = resolve(import.meta.dirname, '../../src');

/**
 * Imports that close a cycle today, left to the code's owners to move. The test leaves these out of
 * the graph and fails once one of them is gone, so the list can only shrink; any other cycle fails.
 */
const KNOWN: ReadonlyArray<{ from: string; to: string; why: string }> = [];

describe('the import graph of src/', () => {
  const edges = importGraph(SRC);

  it('reads the graph: static, dynamic and type-only imports', () => {
    const has = (from: string, to: string, kind: Partial<ImportEdge>) =>
      edges.some(
        (e) => e.from === from && e.to === to && Object.entries(kind).every(([k, v]) => e[k as keyof ImportEdge] === v),
      );
    expect(has('main.ts', 'context.ts', { dynamic: false, typeOnly: false })).toBe(true);
    expect(has('context.ts', 'store/connections.ts', { dynamic: true })).toBe(true);
    expect(has('main.ts', 'ports.ts', { typeOnly: true })).toBe(true);
  });

  it('has no cycle between directories (or root files), but for the known imports below', () => {
    const known = (e: ImportEdge) => KNOWN.some((k) => k.from === e.from && k.to === e.to);
    const cycles = partCycles(edges.filter((e) => !known(e)));
    const report = cycles.map((cycle) => `${cycle.join(' ⇄ ')}:\n  ${describeCycle(edges, cycle).join('\n  ')}`);
    expect(report, `import cycles between parts of src/:\n${report.join('\n')}`).toEqual([]);
  });

  it.each(KNOWN)('still has the known cycle-closing import $from → $to (remove it from KNOWN once moved)', (k) => {
    expect(edges.some((e) => e.from === k.from && e.to === k.to)).toBe(true);
    expect(partCycles(edges).flat()).toEqual(expect.arrayContaining([partOf(k.from), partOf(k.to)]));
  });

  it('finds a cycle when there is one, and names its imports', () => {
    const made: ImportEdge[] = [
      { from: 'aws/gateways.ts', to: 'context.ts', dynamic: false, typeOnly: false },
      { from: 'context.ts', to: 'aws/gateways.ts', dynamic: true, typeOnly: false },
      { from: 'domain/a.ts', to: 'domain/b.ts', dynamic: false, typeOnly: false },
      { from: 'domain/b.ts', to: 'domain/a.ts', dynamic: false, typeOnly: false },
    ];
    expect(partCycles(made)).toEqual([['aws', 'context.ts']]);
    expect(describeCycle(made, ['aws', 'context.ts'])).toEqual([
      'aws/gateways.ts → context.ts',
      'context.ts → aws/gateways.ts (import())',
    ]);
  });

  it('only the entry imports the composition root: adapters and commands import ports.ts', () => {
    const importers = [...new Set(edges.filter((e) => e.to === 'context.ts').map((e) => e.from))].sort();
    expect(importers).toEqual(['main.ts']);
  });
});

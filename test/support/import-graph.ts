import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import ts from 'typescript';

/** One import of a module of ours by another. */
export interface ImportEdge {
  /** Importing file, relative to the source root, with "/" separators. */
  from: string;
  /** Imported file, likewise. */
  to: string;
  /** `import()`: loaded on first use. */
  dynamic: boolean;
  /** `import type`, `export type`, `typeof import()`: gone at run time. */
  typeOnly: boolean;
}

/** Every .ts file under `dir`, relative to it, with "/" separators. */
function sourceFiles(dir: string, base = dir): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path, base);
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')
      ? [relative(base, path).split(sep).join('/')]
      : [];
  });
}

/**
 * The imports between the modules under `root` (src/), read with TypeScript's own parser: static
 * imports and re-exports, `import()` calls, and type-only imports, each marked as such. Packages and
 * node: modules are left out.
 */
export function importGraph(root: string): ImportEdge[] {
  const edges: ImportEdge[] = [];
  for (const file of sourceFiles(root)) {
    const text = readFileSync(join(root, file), 'utf8');
    const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
    const add = (specifier: string, dynamic: boolean, typeOnly: boolean) => {
      if (!specifier.startsWith('.')) return;
      const target = resolve(dirname(join(root, file)), specifier.replace(/\.js$/, '.ts'));
      edges.push({ from: file, to: relative(root, target).split(sep).join('/'), dynamic, typeOnly });
    };
    const visit = (node: ts.Node): void => {
      if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) {
        const clause = node.importClause;
        const allTypes =
          clause !== undefined &&
          (clause.isTypeOnly ||
            (clause.name === undefined &&
              clause.namedBindings !== undefined &&
              ts.isNamedImports(clause.namedBindings) &&
              clause.namedBindings.elements.length > 0 &&
              clause.namedBindings.elements.every((element) => element.isTypeOnly)));
        add(node.moduleSpecifier.text, false, allTypes);
      } else if (ts.isExportDeclaration(node) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
        add(node.moduleSpecifier.text, false, node.isTypeOnly);
      } else if (
        ts.isCallExpression(node) &&
        node.expression.kind === ts.SyntaxKind.ImportKeyword &&
        node.arguments[0] !== undefined &&
        ts.isStringLiteralLike(node.arguments[0])
      ) {
        add(node.arguments[0].text, true, false);
      } else if (
        ts.isImportTypeNode(node) &&
        ts.isLiteralTypeNode(node.argument) &&
        ts.isStringLiteral(node.argument.literal)
      ) {
        add(node.argument.literal.text, false, true);
      }
      ts.forEachChild(node, visit);
    };
    visit(source);
  }
  return edges;
}

/**
 * The part of the architecture a file belongs to: its directory under the source root (`aws`,
 * `commands`, `domain`...); a file at the root is a part of its own (`main.ts`, `ports.ts`...), since
 * the root holds both what every layer imports (ports, errors) and what imports every layer (main,
 * the composition root context.ts), and one node for both would be a cycle by construction.
 */
export function partOf(file: string): string {
  const slash = file.indexOf('/');
  return slash === -1 ? file : file.slice(0, slash);
}

/** The edges between parts: "from → to", each with the file imports that make it. */
export function partEdges(edges: readonly ImportEdge[]): Map<string, Map<string, ImportEdge[]>> {
  const parts = new Map<string, Map<string, ImportEdge[]>>();
  for (const edge of edges) {
    const from = partOf(edge.from);
    const to = partOf(edge.to);
    if (from === to) continue;
    const out = parts.get(from) ?? new Map<string, ImportEdge[]>();
    out.set(to, [...(out.get(to) ?? []), edge]);
    parts.set(from, out);
  }
  return parts;
}

/**
 * The cycles between parts: each strongly connected component of more than one part (Tarjan),
 * as its parts in order, sorted so the answer does not depend on file order.
 */
export function partCycles(edges: readonly ImportEdge[]): string[][] {
  const graph = partEdges(edges);
  const nodes = [...new Set(edges.flatMap((e) => [partOf(e.from), partOf(e.to)]))].sort();
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const components: string[][] = [];
  let next = 0;
  const connect = (node: string): void => {
    index.set(node, next);
    low.set(node, next);
    next += 1;
    stack.push(node);
    onStack.add(node);
    for (const to of [...(graph.get(node)?.keys() ?? [])].sort()) {
      if (!index.has(to)) {
        connect(to);
        low.set(node, Math.min(low.get(node)!, low.get(to)!));
      } else if (onStack.has(to)) {
        low.set(node, Math.min(low.get(node)!, index.get(to)!));
      }
    }
    if (low.get(node) === index.get(node)) {
      const component: string[] = [];
      let member: string;
      do {
        member = stack.pop()!;
        onStack.delete(member);
        component.push(member);
      } while (member !== node);
      if (component.length > 1) components.push(component.sort());
    }
  };
  for (const node of nodes) if (!index.has(node)) connect(node);
  return components.sort((a, b) => a[0]!.localeCompare(b[0]!));
}

/** A cycle's imports, one line each ("domain/access-key.ts → errors.ts"), for the failure message. */
export function describeCycle(edges: readonly ImportEdge[], cycle: readonly string[]): string[] {
  const members = new Set(cycle);
  return edges
    .filter((e) => partOf(e.from) !== partOf(e.to) && members.has(partOf(e.from)) && members.has(partOf(e.to)))
    .map((e) => `${e.from} → ${e.to}${e.dynamic ? ' (import())' : ''}${e.typeOnly ? ' (type)' : ''}`)
    .sort();
}

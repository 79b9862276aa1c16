/**
 * No import circles: every .ts file of the project is read with the TypeScript compiler's parser,
 * its static imports and re-exports that bring a value (not `import type`, not `export type`, not
 * `import { type A }` alone) become edges, and a strongly connected component of more than one file
 * (or a file importing itself) is a circle. Dynamic `import()` is lazy and is not an edge. Type
 * imports cannot make a circle at run time (CONVENTIONS.md 18), so they are left out.
 */
import t from 'tap';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const FOLDERS = ['engine', 'media', 'crm-adapter', 'bench', 'examples'];

/**
 * Circles known and owned elsewhere, each as its files sorted and joined by ' ~ '. The test fails
 * when a circle appears that is not listed, and when a listed one is gone (so the list shrinks).
 */
const KNOWN: readonly string[] = [];

function tsFiles(dir: string, out: string[] = []): string[] {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.name === 'node_modules' || e.name === 'dist') continue;
    const p = path.join(dir, e.name);
    if (e.isDirectory()) tsFiles(p, out);
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

/** Whether an import or export declaration brings a value at run time. */
function bringsValue(s: ts.ImportDeclaration | ts.ExportDeclaration): boolean {
  if (ts.isImportDeclaration(s)) {
    const c = s.importClause;
    if (c === undefined) return true; // `import './x.ts'`: a side effect
    if (c.isTypeOnly) return false;
    if (c.name !== undefined) return true;
    const b = c.namedBindings;
    if (b === undefined || ts.isNamespaceImport(b)) return true;
    return b.elements.length === 0 || b.elements.some((e) => !e.isTypeOnly);
  }
  if (s.isTypeOnly) return false;
  const c = s.exportClause;
  if (c === undefined || ts.isNamespaceExport(c)) return true;
  return c.elements.length === 0 || c.elements.some((e) => !e.isTypeOnly);
}

/** The project files a file imports values from. */
function valueImports(file: string): string[] {
  const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.ES2022, false);
  const out: string[] = [];
  for (const s of source.statements) {
    if (!ts.isImportDeclaration(s) && !ts.isExportDeclaration(s)) continue;
    const spec = s.moduleSpecifier;
    if (spec === undefined || !ts.isStringLiteral(spec) || !spec.text.startsWith('.')) continue;
    if (!bringsValue(s)) continue;
    out.push(path.resolve(path.dirname(file), spec.text));
  }
  return out;
}

/** Strongly connected components (Tarjan), each a list of files. */
function components(graph: Map<string, string[]>): string[][] {
  let index = 0;
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const out: string[][] = [];
  const visit = (v: string): void => {
    idx.set(v, index);
    low.set(v, index);
    index++;
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!));
    }
    if (low.get(v) === idx.get(v)) {
      const c: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        c.push(w);
      } while (w !== v);
      if (c.length > 1 || (graph.get(v) ?? []).includes(v)) out.push(c);
    }
  };
  for (const v of graph.keys()) if (!idx.has(v)) visit(v);
  return out;
}

/** Every import circle of the project, each as its files (relative, sorted) joined by ' ~ '. */
function importCircles(): string[] {
  const graph = new Map<string, string[]>();
  for (const f of FOLDERS.flatMap((d) => tsFiles(path.join(root, d)))) graph.set(f, valueImports(f));
  return components(graph).map((c) => c.map((f) => path.relative(root, f)).sort().join(' ~ ')).sort();
}

t.test('the checker finds a circle when there is one', async (t) => {
  const graph = new Map([['a', ['b']], ['b', ['c']], ['c', ['a']], ['d', ['a']], ['e', ['e']]]);
  t.same(components(graph).map((c) => c.sort().join(' ')).sort(), ['a b c', 'e']);
  const src = (text: string): ts.ImportDeclaration | ts.ExportDeclaration =>
    ts.createSourceFile('x.ts', text, ts.ScriptTarget.ES2022).statements[0] as ts.ImportDeclaration;
  t.equal(bringsValue(src("import type { A } from './a.ts';")), false);
  t.equal(bringsValue(src("import { type A, type B } from './a.ts';")), false);
  t.equal(bringsValue(src("import { type A, b } from './a.ts';")), true);
  t.equal(bringsValue(src("import './a.ts';")), true);
  t.equal(bringsValue(src("export type { A } from './a.ts';")), false);
  t.equal(bringsValue(src("export { a } from './a.ts';")), true);
  t.equal(bringsValue(src("export * from './a.ts';")), true);
});

t.test('no import circle in the project outside type-only imports', async (t) => {
  const circles = importCircles();
  const unknown = circles.filter((c) => !KNOWN.includes(c));
  t.same(unknown, [], `import circles:\n${unknown.join('\n')}`);
  const gone = KNOWN.filter((c) => !circles.includes(c));
  t.same(gone, [], 'a known circle is gone: take it off the list');
});

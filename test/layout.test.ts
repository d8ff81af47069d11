// The layout's promises: the product (functions/, app/) imports none of the dev tooling, and the README's layout
// table names every top-level folder of the tree and nothing that is not there.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import test from 'ava';
import ts from 'typescript';

const ROOT = resolve(import.meta.dirname, '..');
const PRODUCT = ['functions', 'app'];
const DEV_TOOLING = ['playground', 'devkit', 'test', 'bench'];

// Tests, and the helpers only tests use, may reach for the dev tooling; everything else under the product may not.
const isTestSupport = (path: string) =>
  path.endsWith('.test.ts') || path.endsWith('/test-helpers.ts') || path.includes('/test-support/');

function sourceFiles(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { recursive: true, encoding: 'utf8' })
    .filter((name) => name.endsWith('.ts') && !name.split(sep).includes('node_modules'))
    .map((name) => join(dir, name).split(sep).join('/'));
}

/** The imports of `file` (static, dynamic, re-exports, type-only) that land in the dev tooling, as repo paths. */
function devToolingImports(file: string, source: string): string[] {
  return ts
    .preProcessFile(source, true, true)
    .importedFiles.map((imported) => imported.fileName)
    .filter((specifier) => specifier.startsWith('.'))
    .map((specifier) =>
      relative(ROOT, resolve(ROOT, dirname(file), specifier))
        .split(sep)
        .join('/'),
    )
    .filter((target) => DEV_TOOLING.some((dir) => target === dir || target.startsWith(`${dir}/`)));
}

test('the check sees an import of the dev tooling in any form', (t) => {
  const source = [
    "import type { A } from '../../devkit/ports.ts';",
    "export { b } from '../../bench/stats.ts';",
    "const c = await import('../../test/helpers/wait.ts');",
    "import '../../playground/main.ts';",
    "import { d } from '../lib/config.ts';",
    "// import { e } from '../../playground/state.ts';",
  ].join('\n');
  t.deepEqual(devToolingImports('functions/router/x.ts', source), [
    'devkit/ports.ts',
    'bench/stats.ts',
    'test/helpers/wait.ts',
    'playground/main.ts',
  ]);
});

test('functions/ and app/ import nothing from playground/, devkit/, test/ or bench/ (tests aside)', (t) => {
  const product = PRODUCT.flatMap(sourceFiles).filter((file) => !isTestSupport(file));
  t.true(product.length > 50, `the product's modules are found (${product.length})`);
  const offending = product.flatMap((file) =>
    devToolingImports(file, readFileSync(join(ROOT, file), 'utf8')).map((target) => `${file} → ${target}`),
  );
  t.deepEqual(offending, []);
});

test("the README's layout table names every top-level folder, and only what exists", (t) => {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const table = readme.slice(readme.indexOf('### Layout'));
  const rows = [...table.matchAll(/^\| `([^`]+)`/gm)].map((m) => m[1] as string);
  t.true(rows.length > 0, 'the layout table is found');
  for (const row of rows) t.notThrows(() => statSync(join(ROOT, row)), `${row} exists`);
  // Folders git does not track (build outputs, caches) are listed in .gitignore as `name/`.
  const ignored = readFileSync(join(ROOT, '.gitignore'), 'utf8')
    .split('\n')
    .filter((line) => /^[\w.-]+\/$/.test(line.trim()))
    .map((line) => line.trim());
  const folders = readdirSync(ROOT, { withFileTypes: true })
    .filter((entry) => entry.isDirectory() && !entry.name.startsWith('.'))
    .map((entry) => `${entry.name}/`)
    .filter((folder) => !ignored.includes(folder));
  t.deepEqual(rows.filter((row) => row.endsWith('/')).sort(), folders.sort());
});

// Bundles the app and its dependencies into one ES module for the container image (node app/build.ts <outfile>).
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

export const entryPoint = fileURLToPath(new URL('./src/main.ts', import.meta.url));

/** Writes a self-contained bundle of app/src/main.ts to `outfile`; answers esbuild's warnings. */
export async function bundleApp(outfile: string): Promise<string[]> {
  const result = await build({
    entryPoints: [entryPoint],
    outfile,
    bundle: true,
    platform: 'node',
    target: 'node24',
    format: 'esm',
    // Some dependencies are CommonJS and call require() for Node built-ins, which an ES module lacks.
    banner: {
      js: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);",
    },
    legalComments: 'eof',
    logLevel: 'silent',
  });
  return result.warnings.map((warning) => warning.text);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const outfile = process.argv[2];
  if (!outfile) {
    process.stderr.write('usage: node app/build.ts <outfile>\n');
    process.exit(2);
  }
  const warnings = await bundleApp(outfile);
  for (const warning of warnings) process.stderr.write(`warning: ${warning}\n`);
  process.stdout.write(`bundled ${entryPoint} → ${outfile}\n`);
}

#!/usr/bin/env node
// `npm run build`: compiles src/ with tsc into dist/ (what tests, scripts and the library entry points import),
// then bundles the CLI from that output into dist/bundle/ with esbuild, which is what `bin/rk-broadcast.js` runs.
// Why a bundle: Node 20 has no module compile cache, and a resume spent about 130 ms of its ~0.5 s to the first
// send resolving, reading and linking ~600 separate files (zod alone is 226). The bundle keeps every dynamic
// import a separate chunk, so a command still loads only what it runs. dist/bundle/meta.json lists which source
// files each chunk holds (test/startup.test.ts reads it to check what start-up loads).
import { execFileSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = fileURLToPath(new URL('..', import.meta.url));
const outdir = join(root, 'dist', 'bundle');

try {
  execFileSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(root, 'tsconfig.build.json')], {
    cwd: root,
    stdio: 'inherit',
  });
} catch {
  // tsc has printed the errors.
  process.exit(1);
}

rmSync(outdir, { recursive: true, force: true });
const result = await build({
  absWorkingDir: root,
  // The plan worker is an entry of its own, next to the chunk that starts it (`new URL('./plan-worker.js', ...)`).
  entryPoints: { main: 'dist/cli/main.js', 'plan-worker': 'dist/plan/plan-worker.js' },
  outdir,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  // Native (better-sqlite3), optional and large packages that only some commands load stay in node_modules.
  external: ['better-sqlite3', 'pg', 'pg-native', 'exceljs'],
  // Bundled CommonJS packages call require() for Node's own modules; an ES module has no require of its own.
  banner: { js: "import { createRequire as __rkCreateRequire } from 'node:module'; const require = __rkCreateRequire(import.meta.url);" },
  metafile: true,
  logLevel: 'warning',
});
const chunks = Object.fromEntries(
  Object.entries(result.metafile.outputs)
    .filter(([file]) => file.endsWith('.js'))
    .map(([file, output]) => [file, Object.keys(output.inputs)]),
);
writeFileSync(join(outdir, 'meta.json'), JSON.stringify(chunks, null, 1) + '\n');

import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

/**
 * Builds once before any test, as `npm run build` does: dist/ (what tests import) and the CLI bundle in
 * dist/bundle/ (what the end-to-end tests run through `bin/rk-broadcast.js`). A type error fails the whole run.
 */
export default function setup(): void {
  const root = fileURLToPath(new URL('..', import.meta.url));
  execFileSync(process.execPath, [join(root, 'scripts', 'build.mjs')], { cwd: root, stdio: 'inherit' });
}

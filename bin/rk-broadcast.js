#!/usr/bin/env node
// Thin launcher: the CLI runs from the bundle in dist/bundle/ (`npm run build`, which `npm ci` runs via
// `prepare`, compiles src/ to dist/ and bundles it; see scripts/build.mjs).
import { main } from '../dist/bundle/main.js';

// `exit` lets a second SIGINT/SIGTERM end the process at once; nothing else below ends it.
main(process.argv.slice(2), { exit: (code) => process.exit(code) }).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`rk-broadcast: unexpected error: ${err && err.stack ? err.stack : err}\n`);
    process.exitCode = 1;
  },
);

#!/usr/bin/env node
// Thin launcher: the compiled CLI lives in dist/ (built by `npm run build`, which `npm ci` runs via `prepare`).
import { main } from '../dist/cli/main.js';

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

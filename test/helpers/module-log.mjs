// Loaded with `node --import`: records every file URL the process resolves (ESM imports and the CJS packages they
// pull in) in the file named by RKB_MODULE_LOG, one per line. Used to check what start-up loads.
import { register } from 'node:module';

register('./module-log-hooks.mjs', import.meta.url, { data: { log: process.env.RKB_MODULE_LOG } });

import { createRequire } from 'node:module';
import type { Agent as UndiciAgent } from 'undici';

// undici's index loads every dispatcher, the mocks, fetch, the caches and WebSocket (~140 ms of a resume's
// start-up, against ~40 ms for these); the client needs one Agent and the request API. The index does exactly
// this assignment; doing it again (when something else loads the index too) assigns the same functions.
const require = createRequire(import.meta.url);
const Dispatcher = require('undici/lib/dispatcher/dispatcher') as { prototype: object };
Object.assign(Dispatcher.prototype, require('undici/lib/api') as object);

/** undici's keep-alive Agent with its `request` API, loaded without the rest of the package. */
export const Agent = require('undici/lib/dispatcher/agent') as typeof UndiciAgent;
/** An undici Agent. */
export type Agent = UndiciAgent;

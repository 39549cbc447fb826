// Module resolution hooks (they run on the loader thread): append each resolved file URL to the log.
import { appendFileSync } from 'node:fs';

let log;

export function initialize(data) {
  log = data?.log;
}

export async function resolve(specifier, context, next) {
  const resolved = await next(specifier, context);
  if (log && resolved.url.startsWith('file:')) appendFileSync(log, resolved.url + '\n');
  return resolved;
}

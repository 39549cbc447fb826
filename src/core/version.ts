import { readFileSync } from 'node:fs';

let cached: string | undefined;

/**
 * rk-broadcast's version, from its package.json. Two folders up from this module both where tsc puts it
 * (dist/core/) and where the CLI bundle puts it (dist/bundle/, scripts/build.mjs), so keep it in one of those.
 */
export function packageVersion(): string {
  cached ??= (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  return cached;
}

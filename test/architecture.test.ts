import { fileURLToPath } from 'node:url';
import { cruise, type ICruiseResult } from 'dependency-cruiser';
import extractTypeScriptConfig from 'dependency-cruiser/config-utl/extract-ts-config';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** Every module of src/ with what it imports (type-only imports too: a cycle through types is still a cycle to read). */
async function cruiseSrc(): Promise<ICruiseResult> {
  const tsConfig = extractTypeScriptConfig(`${ROOT}tsconfig.json`);
  const result = await cruise(
    ['src'],
    {
      baseDir: ROOT,
      validate: true,
      tsPreCompilationDeps: true,
      doNotFollow: { path: 'node_modules' },
      ruleSet: { forbidden: [{ name: 'no-circular', severity: 'error', from: {}, to: { circular: true } }] },
    },
    {},
    { tsConfig },
  );
  return result.output as ICruiseResult;
}

describe('module structure of src/', () => {
  it('has no import cycle', async () => {
    const result = await cruiseSrc();
    // Sanity: the cruise saw the code base, with TypeScript's `.js` specifiers resolved to the `.ts` sources.
    expect(result.modules.filter((m) => m.source.startsWith('src/')).length).toBeGreaterThan(80);
    const cli = result.modules.find((m) => m.source === 'src/cli/main.ts');
    expect(cli?.dependencies.some((d) => d.resolved === 'src/cli/commands/index.ts')).toBe(true);
    const cycles = result.modules.flatMap((m) =>
      m.dependencies.filter((d) => d.circular).map((d) => [m.source, ...(d.cycle ?? []).map((c) => c.name)].join(' -> ')),
    );
    expect(cycles).toEqual([]);
  }, 60_000);

  it('stages depend on the role ports they declare, never on the whole Store or a store adapter', async () => {
    const result = await cruiseSrc();
    const stages = /^src\/(plan|send|sweep|report|schedule|render|ingest)\//;
    const forbidden = new Set(['src/store/port.ts', 'src/store/sqlite.ts', 'src/store/postgres.ts', 'src/store/factory.ts']);
    const offending = result.modules
      .filter((m) => stages.test(m.source))
      .flatMap((m) => m.dependencies.filter((d) => forbidden.has(d.resolved)).map((d) => `${m.source} -> ${d.resolved}`));
    expect(offending).toEqual([]);
    // Sanity: the ports exist and the union is built from them.
    const port = result.modules.find((m) => m.source === 'src/store/port.ts');
    expect(port?.dependencies.map((d) => d.resolved)).toEqual(
      expect.arrayContaining(['src/plan/ports.ts', 'src/send/ports.ts', 'src/sweep/ports.ts', 'src/report/ports.ts', 'src/schedule/ports.ts']),
    );
  }, 60_000);

  it('only the store factory constructs a store: no command or stage imports an adapter', async () => {
    const result = await cruiseSrc();
    const adapters = new Set(['src/store/sqlite.ts', 'src/store/postgres.ts']);
    const importers = result.modules
      .filter((m) => !m.source.startsWith('src/store/'))
      .flatMap((m) => m.dependencies.filter((d) => adapters.has(d.resolved)).map((d) => `${m.source} -> ${d.resolved}`));
    expect(importers).toEqual([]);
    const factory = result.modules.find((m) => m.source === 'src/store/factory.ts');
    expect(factory?.dependencies.map((d) => d.resolved)).toEqual(expect.arrayContaining([...adapters]));
  }, 60_000);
});

import { execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { DEMO_PROJECT, startEmulator } from '../src/emulator/index.js';
import { writeInlineCampaign } from './helpers/campaign.js';
import { CLI, demoEnv, runCli } from './helpers/cli.js';
import { tempDir } from './helpers/tmp.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const HOOK = fileURLToPath(new URL('./helpers/module-log.mjs', import.meta.url));

/** Each chunk of the CLI bundle and the files it was made of (scripts/build.mjs writes this at build time). */
const CHUNKS = JSON.parse(readFileSync(join(ROOT, 'dist', 'bundle', 'meta.json'), 'utf8')) as Record<string, string[]>;

/**
 * The files (relative to the repository) whose code a process loaded, from the module log at `log`: a chunk of the
 * CLI bundle stands for the compiled modules and packages it holds, so the checks below name source modules.
 */
function loadedFiles(log: string): string[] {
  return [...new Set(loadedAsIs(log).flatMap((file) => CHUNKS[file] ?? [file]))];
}

/** The files (relative to the repository) a process loaded, as they are: chunks of the bundle as chunks. */
function loadedAsIs(log: string): string[] {
  return [...new Set(readFileSync(log, 'utf8').trim().split('\n'))].map((url) => fileURLToPath(url).slice(ROOT.length));
}

/** The files a CLI process loaded (relative to the repository; see `loadedFiles`), as they are, and what it printed. */
function loadedBy(args: string[]): { files: string[]; asIs: string[]; stdout: string } {
  const log = join(tempDir('rkb-startup-'), 'modules.log');
  const stdout = execFileSync(process.execPath, ['--import', HOOK, CLI, ...args], {
    env: { PATH: process.env.PATH, RKB_MODULE_LOG: log },
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  return { files: loadedFiles(log), asIs: loadedAsIs(log), stdout };
}

/** Packages a command needs only when it runs (database, HTTP, schemas, templates, CSV, dates, bars, queues). */
const HEAVY_PACKAGES = ['better-sqlite3', 'undici', 'zod', 'handlebars', 'luxon', 'csv-parse', 'csv-stringify', 'yaml', 'dotenv', 'cli-progress', 'p-queue', 'bottleneck', 'libphonenumber-js', 'file-type'];

/** The only compiled modules start-up may load: the CLI's definitions and the small constants they show. */
const START_UP_MODULES = /^dist\/(cli\/(main|command|flags|input-error|io|signals|emulator-run|commands\/[a-z-]+)|core\/(exit-codes|duration|text|version)|report\/(formats|status)|rk\/types)\.js$/;

describe('start-up loads command definitions only', () => {
  for (const args of [['--version'], ['--help'], ['run', '--help'], ['report', '--help']]) {
    it(`rk-broadcast ${args.join(' ')}`, () => {
      const { files, asIs, stdout } = loadedBy(args);
      // The hook saw the process: the launcher and main were loaded through it.
      expect(files).toContain('bin/rk-broadcast.js');
      expect(files).toContain('dist/cli/main.js');
      // The CLI runs from the bundle (scripts/build.mjs), not from dist/'s separate modules.
      expect(asIs).toContain('dist/bundle/main.js');
      expect(asIs.filter((f) => f.startsWith('dist/') && !f.startsWith('dist/bundle/'))).toEqual([]);
      if (args[0] === '--version') {
        expect(stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
        // Answered before yargs and the command definitions load.
        expect(files.filter((f) => f.startsWith('node_modules/') || f.startsWith('dist/cli/commands/'))).toEqual([]);
      } else {
        expect(stdout).toContain('Options:');
      }
      const packages = files.filter((f) => f.startsWith('node_modules/')).map((f) => f.split('/')[1]!);
      expect(HEAVY_PACKAGES.filter((p) => packages.includes(p))).toEqual([]);
      expect(files.filter((f) => f.startsWith('dist/') && !START_UP_MODULES.test(f))).toEqual([]);
    });
  }

  it('a command that runs loads what it needs (the check above can see heavy modules)', () => {
    const dir = tempDir('rkb-startup-');
    const { files } = loadedBy(['list', '--db', join(dir, 'none.db')]);
    expect(files).toContain('dist/cli/campaign-overview.js');
    expect(files.some((f) => f.startsWith('node_modules/better-sqlite3/'))).toBe(true);
  });
});

describe('a resume loads only what the way to its first send needs', () => {
  it('run on a planned text campaign loads neither file-type, the phone library (no suppression list), undici\'s whole index, nor the sweep (with --no-sweep)', async () => {
    const emulator = await startEmulator({ port: 0, projects: [{ ...DEMO_PROJECT, ratePerMinute: 100_000 }] });
    try {
      const dir = tempDir('rkb-startup-');
      writeInlineCampaign(dir, { id: 'resume', recipients: 20, prefix: '12', rate: 6000 });
      const path = join(dir, 'campaigns', 'resume.yaml');
      const db = join(dir, 'state.db');
      const env = demoEnv(emulator.url);
      const first = await runCli(['run', path, '--db', db, '--no-sweep', '--limit', '1'], { cwd: dir, env });
      expect(first.code).toBe(0);
      const log = join(dir, 'modules.log');
      const code = await new Promise<number | null>((resolve, reject) => {
        const child = spawn(process.execPath, ['--import', HOOK, CLI, 'run', path, '--db', db, '--no-sweep', '--limit', '1'], {
          cwd: dir,
          env: { ...env, RKB_MODULE_LOG: log },
          stdio: 'ignore',
        });
        child.on('error', reject);
        child.on('close', resolve);
      });
      expect(code).toBe(0);
      expect(emulator.messages()).toHaveLength(2); // the resume sent
      const files = loadedFiles(log);
      expect(files).toContain('dist/send/sender.js');
      expect(files.filter((f) => /^node_modules\/(file-type|strtok3|libphonenumber-js)\//.test(f) || f === 'node_modules/undici/index.js' || (f.startsWith('dist/sweep/') && f !== 'dist/sweep/final.js'))).toEqual([]);
    } finally {
      await emulator.close();
    }
  });
});

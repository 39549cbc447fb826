/**
 * LibreOffice Calc, headless, as a real spreadsheet program for the XLSX tests (Debian's `libreoffice-calc-nogui`;
 * `.ci/run` installs it). It opens a workbook and saves every sheet as CSV, text cells quoted and every cell as
 * it is shown, so a test sees what a person would and can tell text cells from numbers.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { parse } from 'csv-parse/sync';

/** The `soffice` binary on PATH (or $SOFFICE_BIN), or undefined. */
export function findSoffice(): string | undefined {
  const preferred = process.env.SOFFICE_BIN;
  if (preferred && existsSync(preferred)) return preferred;
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir && existsSync(join(dir, 'soffice'))) return join(dir, 'soffice');
  }
  return undefined;
}

/** One cell as LibreOffice wrote it: its shown text, and whether it is a text cell (quoted) or a number/date. */
export interface SheetCell {
  text: string;
  isText: boolean;
}

/**
 * CSV export options: `,` separator, `"` quotes, UTF-8, (import: from line 1), standard cell format, quote every text
 * cell, detect special numbers, save cell contents as shown, no formulas, keep spaces, every sheet to its own file.
 */
const CSV_FILTER = 'csv:Text - txt - csv (StarCalc):44,34,76,1,,0,true,true,true,false,false,-1';

/**
 * Converts the workbooks with one LibreOffice start (it takes seconds) and a throwaway profile. Returns, for each
 * workbook path, its sheets by name, each a list of rows of cells.
 */
export async function workbooksAsCsv(soffice: string, files: string[], timeoutMs = 120_000): Promise<Map<string, Map<string, SheetCell[][]>>> {
  const out = mkdtempSync(join(tmpdir(), 'rkb-soffice-'));
  const profile = mkdtempSync(join(tmpdir(), 'rkb-soffice-profile-'));
  try {
    await promisify(execFile)(
      soffice,
      [`-env:UserInstallation=${pathToFileURL(profile).href}`, '--headless', '--norestore', '--convert-to', CSV_FILTER, '--outdir', out, ...files],
      { timeout: timeoutMs, env: { ...process.env, HOME: profile } },
    );
    const result = new Map<string, Map<string, SheetCell[][]>>();
    const produced = readdirSync(out);
    for (const file of files) {
      const base = file.replace(/^.*\//, '').replace(/\.xlsx$/i, '');
      const sheets = new Map<string, SheetCell[][]>();
      for (const name of produced.filter((p) => p.startsWith(`${base}-`) && p.endsWith('.csv'))) {
        sheets.set(name.slice(base.length + 1, -4), parseCells(readFileSync(join(out, name), 'utf8')));
      }
      if (sheets.size === 0) throw new Error(`LibreOffice wrote no CSV for ${file} (found: ${produced.join(', ') || 'nothing'})`);
      result.set(file, sheets);
    }
    return result;
  } finally {
    rmSync(out, { recursive: true, force: true });
    rmSync(profile, { recursive: true, force: true });
  }
}

function parseCells(text: string): SheetCell[][] {
  return parse(text, {
    relax_column_count: true,
    cast: (value, context) => ({ text: value, isText: context.quoting }),
  }) as unknown as SheetCell[][];
}

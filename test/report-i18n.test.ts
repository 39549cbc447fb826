/**
 * The report languages: both complete, chosen by `--lang` or the campaign's `report.lang` (the flag wins), and a
 * wrong `report.lang` is a schema error naming the file, the key, what was expected and what was found.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import ExcelJS from 'exceljs';
import { afterEach, describe, expect, it } from 'vitest';
import { main } from '../src/cli/main.js';
import { loadCampaign } from '../src/config/campaign.js';
import { EXIT } from '../src/core/exit-codes.js';
import { htmlReport, humanDuration, REPORT_LANGS, REPORT_STATUSES, reportTexts, statusMeaning, statusName } from '../src/report/index.js';
import { SqliteStore } from '../src/store/sqlite.js';
import { seedCampaign } from './fixtures/report/seed.js';
import { captureIo, collect } from './helpers/capture.js';
import { englishLeftovers, translatedEnglish, untranslatedKeys } from './helpers/report-lang.js';
import { tempDir } from './helpers/tmp.js';

const open: { close(): Promise<void> }[] = [];
afterEach(async () => {
  while (open.length > 0) await open.pop()!.close();
});

/** A campaign file `c.yaml` (with `extra` YAML lines) and a database holding its plan, in a fresh directory. */
async function campaignWith(extra: string[]): Promise<{ dir: string; db: string }> {
  const dir = tempDir('rkb-i18n-');
  writeFileSync(join(dir, 'people.csv'), 'phone,name\n6281200000000,Budi\n');
  writeFileSync(join(dir, 'c.yaml'), ['id: c1', 'device: RK-DEMO', 'recipients:', '  file: people.csv', 'message: "Hi {{name}}"', ...extra].join('\n') + '\n');
  const db = join(dir, 'state.db');
  const store = new SqliteStore(db);
  await seedCampaign(store, [{ rawPhone: '6281200000000', phone: '6281200000000', fields: { name: 'Budi' } }, { rawPhone: '0812', phone: null, fields: { name: 'X' } }], {
    id: 'c1',
    now: Date.UTC(2026, 11, 5, 2),
  });
  await store.close();
  return { dir, db };
}

/** Texts that are the same words in both languages (a key, a brand, a word Indonesian borrowed). */
const UNTRANSLATED = ['.status']; // "Status" is Indonesian too

describe('report texts', () => {
  it('are complete in every language, and Indonesian translates every status name and meaning', () => {
    for (const lang of REPORT_LANGS) {
      const t = reportTexts(lang);
      for (const status of REPORT_STATUSES) {
        expect(statusName(t, status).trim(), `${lang} ${status}`).not.toBe('');
        expect(statusMeaning(t, status).trim(), `${lang} ${status}`).not.toBe('');
      }
    }
    const en = reportTexts('en');
    const id = reportTexts('id');
    for (const status of REPORT_STATUSES) {
      expect(id.statusNames[status], status).not.toBe(en.statusNames[status]);
      expect(id.statusMeanings[status], status).not.toBe(en.statusMeanings[status]);
    }
    // An API status this tool does not know is shown as the API wrote it, with a generic meaning.
    expect(statusName(id, 'bounced')).toBe('bounced');
    expect(statusMeaning(id, 'bounced')).toBe(id.otherStatusMeaning);
    expect(statusName(id, 'toString')).toBe('toString');
    expect(translatedEnglish()).toEqual(expect.arrayContaining(['Status breakdown', 'failed to send', 'Delivered to the recipient’s phone']));
    // Every other text is translated: only these read the same in both languages.
    expect(untranslatedKeys()).toEqual(UNTRANSLATED);
  });

  it('write durations with each language\'s units', () => {
    expect(humanDuration(3_725_000, reportTexts('en').units)).toBe('1h 02m');
    expect(humanDuration(3_725_000, reportTexts('id').units)).toBe('1 j 02 mnt');
    expect(humanDuration(185_000, reportTexts('id').units)).toBe('3 mnt 05 dtk');
    expect(humanDuration(2 * 86_400_000 + 3 * 3_600_000, reportTexts('id').units)).toBe('2 hr 03 j');
  });

  it('an Indonesian HTML report has no English left, outside the campaign\'s own data', async () => {
    const { db } = await campaignWith([]);
    const store = new SqliteStore(db);
    open.push(store);
    const html = await collect(htmlReport({ store, campaignId: 'c1' }, { lang: 'id' }));
    const readable = html
      .replace(/<(script|style)[^>]*>[\s\S]*?<\/\1>/g, '')
      .replace(/(<table id="rows">[\s\S]*?)<tbody>[\s\S]*?<\/tbody>/, '$1') // the rows: the campaign's data
      .replace(/<td class="reason">[\s\S]*?<\/td>/g, '')
      .replace(/<[^>]*(?:aria-label|placeholder)="([^"]*)"[^>]*>/g, ' $1 ')
      .replace(/<[^>]+>/g, ' ');
    expect(readable).toMatch(/Rincian status/);
    expect(englishLeftovers(readable)).toEqual([]);
  });
});

describe('--lang and report.lang', () => {
  it('take the campaign\'s report.lang, and the flag over it', async () => {
    const { dir, db } = await campaignWith(['report:', '  lang: id']);
    const run = async (args: string[]): Promise<string> => {
      const t = captureIo({}, dir);
      expect(await main(['report', 'c.yaml', '--db', db, '--quiet', ...args], t.io), t.err()).toBe(EXIT.ok);
      return t.out();
    };
    expect(await run(['--format', 'html'])).toMatch(/^<!doctype html>\n<html lang="id">/);
    expect(await run(['--format', 'html', '--lang', 'en'])).toMatch(/^<!doctype html>\n<html lang="en">/);
    await run(['--out', 'r.xlsx']);
    const book = new ExcelJS.Workbook();
    await book.xlsx.readFile(join(dir, 'r.xlsx'));
    expect(book.worksheets.map((w) => w.name)).toEqual(['Ringkasan', 'Baris']);
    // By id alone (no campaign file), the default is English.
    const t = captureIo({}, dir);
    expect(await main(['report', 'c1', '--db', db, '--quiet', '--format', 'html'], t.io)).toBe(EXIT.ok);
    expect(t.out()).toMatch(/<html lang="en">/);
  });

  it('refuses a language it does not speak, naming the key or the flag', async () => {
    const { dir, db } = await campaignWith(['report:', '  lang: fr']);
    const file = join(dir, 'c.yaml');
    await expect(loadCampaign(file)).rejects.toThrow(`${file}: report.lang: expected en (English) or id (Indonesian), found "fr" (line 7)`);
    const t = captureIo({}, dir);
    expect(await main(['report', 'c.yaml', '--db', db, '--format', 'html'], t.io)).toBe(EXIT.invalidInput);
    expect(t.err()).toMatch(/report\.lang: expected en \(English\) or id \(Indonesian\), found "fr"/);
    writeFileSync(file, readFileSync(file, 'utf8').replace('lang: fr', 'lang: id'));
    const u = captureIo({}, dir);
    expect(await main(['report', 'c.yaml', '--db', db, '--format', 'html', '--lang', 'fr'], u.io)).toBe(EXIT.invalidInput);
    expect(u.err()).toMatch(/lang/);
  });
});

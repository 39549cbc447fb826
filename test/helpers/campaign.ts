import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** One generated recipient row. */
export interface GeneratedRow {
  phone: string;
  name: string;
  /** The number the API should receive, or null when the row must not be sent. */
  expected: string | null;
  kind: 'valid' | 'invalid' | 'duplicate' | 'suppressed';
}

/**
 * Writes a campaign (YAML, CSV, template, suppression list) into `dir` and returns the rows with what each
 * should become. Valid numbers are written in mixed styles so normalisation is exercised too.
 */
export function writeCampaign(
  dir: string,
  options: { id?: string; valid: number; invalid?: number; duplicates?: number; suppressed?: number; rate?: number; extraYaml?: string },
): { path: string; rows: GeneratedRow[]; sendable: GeneratedRow[] } {
  mkdirSync(join(dir, 'templates'), { recursive: true });
  mkdirSync(join(dir, 'campaigns'), { recursive: true });
  const rows: GeneratedRow[] = [];
  const number = (i: number) => `8${String(1_200_000_000 + i).padStart(10, '0')}`; // 81200000000+i: 11 national digits
  for (let i = 0; i < options.valid; i++) {
    const national = number(i);
    const style = i % 3;
    const written = style === 0 ? `0${national}` : style === 1 ? `+62 ${national.slice(0, 3)} ${national.slice(3, 7)} ${national.slice(7)}` : `62${national}`;
    rows.push({ phone: written, name: `Pelanggan ${i}`, expected: `62${national}`, kind: 'valid' });
  }
  for (let i = 0; i < (options.invalid ?? 0); i++) rows.push({ phone: `08${i}`, name: `Salah ${i}`, expected: null, kind: 'invalid' });
  for (let i = 0; i < (options.duplicates ?? 0); i++) rows.push({ phone: `0${number(i)}`, name: `Dobel ${i}`, expected: null, kind: 'duplicate' });
  const suppressedNumbers: string[] = [];
  for (let i = 0; i < (options.suppressed ?? 0); i++) {
    const national = number(900_000 + i);
    suppressedNumbers.push(`62${national}`);
    rows.push({ phone: `0${national}`, name: `Berhenti ${i}`, expected: null, kind: 'suppressed' });
  }
  const csv = ['phone,name,city', ...rows.map((r, i) => `${r.phone},"${r.name}",Kota ${i % 7}`)].join('\r\n') + '\r\n';
  writeFileSync(join(dir, 'campaigns', 'recipients.csv'), csv);
  writeFileSync(join(dir, 'campaigns', 'optout.csv'), ['phone', ...suppressedNumbers].join('\n') + '\n');
  writeFileSync(join(dir, 'templates', 'msg.hbs'), 'Halo {{name}} dari {{city}}!\n');
  const id = options.id ?? 'test-campaign';
  const yaml = [
    `id: ${id}`,
    'name: Test campaign',
    'device: RK-DEMO',
    'recipients:',
    '  file: recipients.csv',
    'template: ../templates/msg.hbs',
    'payload:',
    `  campaign: ${id}`,
    '  who: "{{name}}"',
    `rate_per_minute: ${options.rate ?? 6000}`,
    'suppress: [optout.csv]',
    options.extraYaml ?? '',
  ].join('\n');
  const path = join(dir, 'campaigns', 'test.yaml');
  writeFileSync(path, yaml + '\n');
  return { path, rows, sendable: rows.filter((r) => r.kind === 'valid') };
}

/**
 * Writes `campaigns/<id>.yaml` with an inline message and its CSV of `recipients` numbers (written with `+`),
 * plus optional `schedule:` lines and extra top-level YAML lines. Returns the numbers the API should receive.
 */
export function writeInlineCampaign(
  dir: string,
  c: { id: string; recipients: number; prefix: string; rate: number; schedule?: string[]; extra?: string[] },
): string[] {
  mkdirSync(join(dir, 'campaigns'), { recursive: true });
  const numbers = Array.from({ length: c.recipients }, (_, i) => `628${c.prefix}${String(i).padStart(7, '0')}`);
  writeFileSync(join(dir, 'campaigns', `${c.id}.csv`), ['phone,nama', ...numbers.map((n, i) => `+${n},Orang ${i}`)].join('\n') + '\n');
  const yaml = [
    `id: ${c.id}`,
    'device: RK-DEMO',
    'recipients:',
    `  file: ${c.id}.csv`,
    'message: "Halo {{nama}}"',
    `rate_per_minute: ${c.rate}`,
    ...(c.extra ?? []),
    ...(c.schedule ? ['schedule:', ...c.schedule.map((l) => `  ${l}`)] : []),
  ];
  writeFileSync(join(dir, 'campaigns', `${c.id}.yaml`), yaml.join('\n') + '\n');
  return numbers;
}

import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadCampaign } from '../src/config/campaign.js';
import { DEMO_PROJECT, startEmulator, type RunningEmulator } from '../src/emulator/index.js';
import { requestIdFor } from '../src/plan/fingerprint.js';
import { prepareCampaign, validateRows } from '../src/plan/planner.js';
import { pickIndex } from '../src/render/helpers.js';
import { assignVariant } from '../src/render/variants.js';
import { demoEnv, runCli, startCli } from './helpers/cli.js';
import { tempDir } from './helpers/tmp.js';

const TEST_MS = 180_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const phoneOf = (i: number): string => `62813${String(4_000_000 + i).padStart(7, '0')}`;

const emulators: RunningEmulator[] = [];
afterEach(async () => {
  for (const e of emulators.splice(0)) await e.close();
});

/** A campaign with two variants (weights 1 and 3), each with `pick`s, over `rows` recipients. */
function variantCampaign(dir: string, rows: number, rate = 6000): string {
  const csv = ['phone,nama'];
  for (let i = 0; i < rows; i++) csv.push(`+${phoneOf(i)},Pelanggan ${i}`);
  writeFileSync(join(dir, 'r.csv'), csv.join('\n') + '\n');
  writeFileSync(join(dir, 'a.hbs'), '[A] {{pick "Halo" "Hai" "Selamat siang"}} {{nama}}, {{pick "terima kasih" "makasih"}}!\n');
  writeFileSync(join(dir, 'b.hbs'), '[B] {{pick "Halo" "Hai"}} {{nama}}, promo {{pick "hari ini" "minggu ini" "bulan ini"}}.\n');
  writeFileSync(
    join(dir, 'c.yaml'),
    [
      'id: wording',
      'device: RK-DEMO',
      'recipients:',
      '  file: r.csv',
      'variants:',
      '  - { name: A, template: a.hbs, weight: 1 }',
      '  - { name: B, template: b.hbs, weight: 3 }',
      `rate_per_minute: ${rate}`,
      'max_attempts: 20',
    ].join('\n') + '\n',
  );
  return join(dir, 'c.yaml');
}

describe('variant assignment (unit)', () => {
  const ids = Array.from({ length: 10_000 }, (_, i) => requestIdFor('wording', phoneOf(i)));

  it.each([
    { weights: [1, 1] },
    { weights: [1, 3] },
    { weights: [5, 3, 2] },
  ])('over 10,000 recipients the shares are within ±2 points of the weights $weights, and the same id always gets the same variant', ({ weights }) => {
    const variants = weights.map((weight, i) => ({ name: String(i), weight }));
    const counts = new Array<number>(weights.length).fill(0);
    for (const id of ids) counts[assignVariant(id, variants)]!++;
    const total = weights.reduce((a, b) => a + b, 0);
    counts.forEach((n, i) => expect(Math.abs(n / ids.length - weights[i]! / total), `variant ${i}: ${n}`).toBeLessThanOrEqual(0.02));
    for (const id of ids.slice(0, 100)) expect(assignVariant(id, variants)).toBe(assignVariant(id, variants));
  });

  it('is independent of the choices pick makes for the same recipient (a different salt)', () => {
    const variants = [
      { name: 'A', weight: 1 },
      { name: 'B', weight: 1 },
    ];
    const cells = [0, 0, 0, 0];
    for (const id of ids) cells[assignVariant(id, variants) * 2 + pickIndex(id, 1, 4, 2)]!++;
    for (const n of cells) expect(Math.abs(n / ids.length - 0.25), String(cells)).toBeLessThanOrEqual(0.02);
  });
});

describe('variants in a campaign (issue 11)', () => {
  it('campaign errors name the key: variants with template, a duplicate name, an unknown key, a missing template', async () => {
    const dir = tempDir();
    const path = variantCampaign(dir, 3);
    const yaml = readFileSync(path, 'utf8');
    const problems = async (text: string): Promise<string> => {
      writeFileSync(path, text);
      return loadCampaign(path).then(
        () => '',
        (e: Error) => e.message,
      );
    };
    expect(await problems(yaml + 'template: a.hbs\n')).toContain('variants: expected variants instead of template, found both');
    expect(await problems(yaml.replace('name: B', 'name: A'))).toContain('variants: expected each variant name once');
    expect(await problems(yaml.replace('weight: 3', 'wieght: 3'))).toMatch(/variants\[1\]\.wieght: unknown key \(did you mean weight\?\)/);
    expect(await problems(yaml.replace('b.hbs', 'missing.hbs'))).toMatch(/variants\[1\]\.template: file not found/);
    expect(await problems(yaml.replace('weight: 3', 'weight: 0'))).toContain('variants[1].weight: expected a positive number such as 1, found 0');
  });

  it('a plan of 10,000 rows splits recipients 25/75 (±2 points); the fingerprint covers every variant template', async () => {
    const dir = tempDir();
    const path = variantCampaign(dir, 10_000);
    const prepared = await prepareCampaign(await loadCampaign(path));
    const report = await validateRows(prepared, { previews: 1 });
    expect(report.sendable).toBe(10_000);
    const [a, b] = report.variants!;
    expect(a).toMatchObject({ name: 'A', weight: 1, share: 0.25 });
    expect(Math.abs(a!.rows / 10_000 - 0.25)).toBeLessThanOrEqual(0.02);
    expect(Math.abs(b!.rows / 10_000 - 0.75)).toBeLessThanOrEqual(0.02);
    // One preview of each variant, even with previews: 1.
    expect(report.previews).toHaveLength(2);
    expect(new Set(report.previews.map((p) => p.variant))).toEqual(new Set(['A', 'B']));
    for (const p of report.previews) expect(p.text.startsWith(`[${p.variant}]`)).toBe(true);

    writeFileSync(join(dir, 'b.hbs'), '[B] Halo {{nama}}.\n');
    const changed = await prepareCampaign(await loadCampaign(path));
    expect(changed.fingerprint.template).not.toBe(prepared.fingerprint.template);
    expect(changed.fingerprint.config).toBe(prepared.fingerprint.config);
    writeFileSync(join(dir, 'c.yaml'), readFileSync(path, 'utf8').replace('weight: 3', 'weight: 2'));
    const reweighted = await prepareCampaign(await loadCampaign(path));
    expect(reweighted.fingerprint.config).not.toBe(changed.fingerprint.config);
  }, TEST_MS);

  it('every recipient gets the same variant and picks across a SIGKILL and resume, and on another database; reports show the variant', async () => {
    const first = await startEmulator({ port: 0, projects: [{ ...DEMO_PROJECT, ratePerMinute: 1_000_000 }], faults: { latencyMs: [5, 20], paths: ['send'] } });
    const second = await startEmulator({ port: 0, projects: [{ ...DEMO_PROJECT, ratePerMinute: 1_000_000 }] });
    emulators.push(first, second);
    const dir = tempDir();
    const path = variantCampaign(dir, 300, 3000);
    const env = (emu: RunningEmulator) => demoEnv(emu.url, { RK_RETRY_BASE_MS: '50' });

    const validate = await runCli(['validate', path], { cwd: dir, env: env(first) });
    expect(validate.code, validate.stderr).toBe(0);
    expect(validate.stdout).toMatch(/A: \d+ row\(s\), [\d.]+% \(weight 1, expected 25%\)/);
    expect(validate.stdout).toMatch(/\(variant A\)/);
    expect(validate.stdout).toMatch(/\(variant B\)/);

    // SIGKILL mid-send, then resume.
    const db1 = join(dir, 'one.db');
    const child = startCli(['run', path, '--db', db1, '--no-sweep'], { cwd: dir, env: env(first) });
    const started = Date.now();
    while (first.messages().length < 40 && child.exitCode === null && Date.now() - started < 60_000) await sleep(5);
    child.kill('SIGKILL');
    const killed = await child.result;
    expect(killed.signal, killed.stderr).toBe('SIGKILL');
    expect(first.messages().length).toBeLessThan(300);
    const resumed = await runCli(['run', path, '--db', db1, '--no-sweep'], { cwd: dir, env: env(first) });
    expect(resumed.code, resumed.stderr).toBe(0);

    // A second, independent database and API: the same campaign from scratch.
    const db2 = join(dir, 'two.db');
    const again = await runCli(['run', path, '--db', db2, '--no-sweep'], { cwd: dir, env: env(second) });
    expect(again.code, again.stderr).toBe(0);

    const textOf = (emu: RunningEmulator) => {
      const map = new Map<string, string>();
      for (const m of emu.messages()) {
        expect(map.has(m.recipient), `${m.recipient} sent twice`).toBe(false);
        map.set(m.recipient, m.message ?? '');
      }
      return map;
    };
    const one = textOf(first);
    const two = textOf(second);
    expect(one.size).toBe(300);
    expect([...one.entries()].sort()).toEqual([...two.entries()].sort());
    // Both variants and every choice of each pick occur: the texts really vary.
    const texts = [...one.values()];
    expect(texts.some((t) => t.startsWith('[A]'))).toBe(true);
    expect(texts.some((t) => t.startsWith('[B]'))).toBe(true);
    for (const word of ['Halo', 'Hai', 'Selamat siang', 'hari ini', 'minggu ini', 'bulan ini']) expect(texts.some((t) => t.includes(word)), word).toBe(true);

    // Reports: a variant column, and the HTML side-by-side table in both languages.
    const csv = await runCli(['report', path, '--db', db1, '--format', 'csv'], { cwd: dir, env: env(first) });
    expect(csv.code, csv.stderr).toBe(0);
    const [header, ...lines] = csv.stdout.trim().split('\r\n');
    const columns = header!.split(',');
    expect(columns.at(-1)).toBe('variant');
    expect(columns).not.toContain('media_file');
    const variantAt = columns.indexOf('variant');
    const byLine = lines.map((l) => l.split(',')[variantAt]);
    expect(new Set(byLine)).toEqual(new Set(['A', 'B']));
    for (const lang of ['en', 'id'] as const) {
      const html = await runCli(['report', path, '--db', db1, '--format', 'html', '--lang', lang], { cwd: dir, env: env(first) });
      expect(html.code, html.stderr).toBe(0);
      expect(html.stdout).toContain(lang === 'en' ? 'Variants side by side' : 'Perbandingan varian');
      expect(html.stdout).toMatch(/<th class="num">A<\/th><th class="num">B<\/th>/);
      expect(html.stdout).toContain(lang === 'en' ? '<th scope="row">Sent</th>' : '<th scope="row">Dikirim</th>');
    }
  }, TEST_MS);
});

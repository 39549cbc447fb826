import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { campaignFingerprintInputs, loadCampaign, parseDuration, readMessageSource, type Campaign } from '../src/config/campaign.js';
import { ConfigError } from '../src/config/env.js';
import { ConfigFileError } from '../src/config/schema-errors.js';
import { readRecipientRows } from '../src/ingest/csv.js';
import { normalisePhone } from '../src/ingest/phone.js';
import { loadSuppression } from '../src/ingest/suppression.js';
import { compilePayloadTemplate } from '../src/render/payload.js';
import { compileMessageTemplate } from '../src/render/template.js';

const REPO = join(import.meta.dirname, '..');
const DIR = join(import.meta.dirname, 'fixtures', 'campaigns');
/** Fixture path as a user would type it from the repository root. */
const fixture = (name: string): string => relative(REPO, join(DIR, name));
const tmp = mkdtempSync(join(tmpdir(), 'rk-campaign-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

async function configError(path: string): Promise<ConfigError> {
  try {
    await loadCampaign(path);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error(`expected ${path} to be refused`);
}

// A copy of the fixture directory, so variants written by tests find the same data files next to them.
const copy = join(tmp, 'campaigns');
cpSync(DIR, copy, { recursive: true });

/** Writes a campaign variant next to the copied fixture files and returns its path. */
function tempCampaign(name: string, body: string): string {
  const path = join(copy, name);
  writeFileSync(path, body);
  return path;
}

const BASE = 'id: t\ndevice: RK-DEMO\nrecipients:\n  file: data/recipients.csv\n';

describe('loadCampaign: valid files', () => {
  it('reads every key, in camelCase, with every path resolved against the campaign file (not the cwd)', async () => {
    expect(process.cwd()).not.toBe(DIR);
    const c = await loadCampaign(fixture('valid.yaml'));
    expect(c).toEqual<Campaign>({
      id: 'spring-promo.2026_a',
      name: 'Spring promo',
      device: 'RK-DEMO',
      devices: [{ code: 'RK-DEMO', weight: 1 }],
      health: { window: 20, maxFailed: 0.5 },
      sourcePath: join(DIR, 'valid.yaml'),
      displayPath: fixture('valid.yaml'),
      baseDir: DIR,
      recipients: { file: join(DIR, 'data', 'recipients.csv'), phoneColumn: 'phone', defaultCountry: 'MY', delimiter: ',', encoding: undefined },
      template: join(DIR, 'templates', 'promo.hbs'),
      message: undefined,
      type: 'image',
      media: join(DIR, 'media', 'promo.jpg'),
      payload: { campaign: 'spring', ref: '{{first_name}}', nested: { b: 2, a: [1, 'x'] } },
      ratePerMinute: 120,
      suppress: [join(DIR, 'data', 'optout.csv')],
      maxAttempts: 3,
      idempotencyWindowMs: 90 * 60_000,
      apiKeyEnv: 'SHOP_B_API_KEY',
      apiSecretEnv: 'SHOP_B_API_SECRET',
      report: { columns: ['first_name', 'kota'] },
      monthlyQuota: 5000,
      schedule: { startAt: Date.parse('2026-12-01T09:00:00+07:00'), endAt: undefined, maxLatenessMs: undefined, window: undefined },
    });
  });

  it('applies the defaults (JSON file, inline message)', async () => {
    const c = await loadCampaign(join(DIR, 'minimal.json'));
    expect(c).toMatchObject({
      id: 'minimal',
      name: 'minimal',
      recipients: { phoneColumn: 'phone', defaultCountry: 'ID', delimiter: undefined },
      template: undefined,
      message: 'Halo {{first_name}}!',
      type: 'text',
      media: undefined,
      payload: undefined,
      ratePerMinute: 60,
      suppress: [],
      maxAttempts: 5,
      idempotencyWindowMs: 12 * 3_600_000,
      apiKeyEnv: undefined,
      report: { columns: undefined },
      monthlyQuota: undefined,
      schedule: undefined,
    });
  });

  it('readMessageSource names the template as the user sees it, or the inline message by its key', async () => {
    const fromFile = await readMessageSource(await loadCampaign(fixture('valid.yaml')));
    expect(fromFile).toEqual({ source: readFileSync(join(DIR, 'templates', 'promo.hbs'), 'utf8'), name: fixture('templates/promo.hbs') });
    const inline = await readMessageSource(await loadCampaign(fixture('minimal.json')));
    expect(inline).toEqual({ source: 'Halo {{first_name}}!', name: `${fixture('minimal.json')}: message` });
  });
});

describe('loadCampaign: every problem names the file, the key, what was expected and what was found', () => {
  it('lists all wrong values at once, with their lines', async () => {
    const e = await configError(fixture('every-key-wrong.yaml'));
    expect(e).toBeInstanceOf(ConfigFileError);
    expect(e.file).toBe(fixture('every-key-wrong.yaml'));
    const f = fixture('every-key-wrong.yaml');
    const lines = e.message.split('\n');
    expect(lines).toEqual([
      `${f}: id: expected an id of lower-case letters, digits, ".", "_" or "-" (at most 64, starting with a letter or digit), found "Spring Promo!" (line 1)`,
      `${f}: name: expected a display name, found an empty text (line 2)`,
      `${f}: device: expected a device code registered in the project, e.g. RK-DEMO (no spaces), found "RK DEMO" (line 3)`,
      `${f}: recipients.file: expected a path to the recipients CSV file, found 42 (line 5)`,
      `${f}: recipients.phone_column: expected the header name of the CSV column with the phone numbers, found an empty text (line 6)`,
      `${f}: recipients.default_country: expected an ISO 3166 alpha-2 country code such as ID, MY or SG, found "XX" (line 7)`,
      `${f}: recipients.delimiter: expected ",", ";" or tab (or no delimiter key, to detect it), found "|" (line 8)`,
      `${f}: type: expected one of text, image, document, video, audio, found "sms" (line 10)`,
      `${f}: payload: expected an object of metadata (key: value), found a list of 2 (line 11)`,
      `${f}: rate_per_minute: expected a whole number from 1 to 6000, found "fast" (line 12)`,
      `${f}: suppress[1]: expected a path to an opt-out CSV file, found 7 (line 13)`,
      `${f}: max_attempts: expected a whole number from 1 to 100, found 0 (line 14)`,
      `${f}: idempotency_window: expected a duration from 1s to 24h (the API keeps request ids for 24 hours), e.g. 30m, 12h, found "2d" (line 15)`,
      `${f}: api_key_env: expected the name of an environment variable (capitals, digits and _), e.g. RK_API_KEY, found a value that is not a variable name (not shown: it may be a secret) (line 16)`,
      `${f}: api_secret_env: expected the name of an environment variable (capitals, digits and _), e.g. RK_API_SECRET, found a value that is not a variable name (not shown: it may be a secret) (line 17)`,
      `${f}: report.columns: expected a list of at least one CSV column name (or no columns key, for all), found an empty list (line 19)`,
      `${f}: monthly_quota: expected a whole number from 1 to 100000000, found -5 (line 20)`,
      `${f}: schedule: expected an object (see the scheduling documentation), found "tomorrow" (line 21)`,
    ]);
    expect((e as ConfigFileError).problems.map((p) => p.key)).toContain('recipients.default_country');
    // A value pasted into an *_env key may be the secret itself: never echoed.
    expect(e.message + e.hint).not.toContain('sk_live_9f8e7d6c5b4a');
  });

  it('a missing required key says it is missing', async () => {
    const e = await configError(tempCampaign('missing.yaml', 'recipients:\n  phone_column: hp\nmessage: hi\n'));
    expect(e.message).toContain(': id: expected an id of lower-case letters');
    expect(e.message).toContain('found nothing (the key is missing)');
    expect(e.message).toMatch(/: device: expected a device code .*, found nothing \(the key is missing\)/);
    expect(e.message).toMatch(/: recipients\.file: expected a path to the recipients CSV file, found nothing \(the key is missing\) \(line 2\)/);
  });

  it('unknown keys are errors, with a "did you mean" when close or at another level', async () => {
    const e = await configError(fixture('typo.yaml'));
    const f = fixture('typo.yaml');
    expect(e.message).toContain(`${f}: recipients.phone_colum: unknown key (did you mean phone_column?); expected one of file, phone_column, default_country, delimiter, encoding (line 5)`);
    expect(e.message).toContain(`${f}: rate_per_minut: unknown key (did you mean rate_per_minute?)`);
    expect(e.message).toContain(`${f}: ratePerMinute: unknown key (did you mean rate_per_minute?)`);
    expect(e.message).toContain(`${f}: phone_column: unknown key (did you mean recipients.phone_column?)`);
    expect(e.message.split('\n')).toHaveLength(4);
  });

  it('refuses secrets in the file, without repeating them, and points at the _env keys', async () => {
    const e = await configError(fixture('secret.yaml'));
    expect(e.message).toContain('api_secret: a credential must not be written in a campaign file; expected api_secret_env with the NAME of an environment variable');
    expect(e.message).toContain('api_key: a credential must not be written in a campaign file; expected api_key_env');
    expect(e.message + e.hint).not.toContain('super-secret-value-123');
    expect(e.message + e.hint).not.toContain('rk_live_0123456789abcdef');
    expect(e.hint).toContain('api_secret_env');
  });

  it('a YAML syntax error names the line and column', async () => {
    const e = await configError(fixture('syntax-error.yaml'));
    expect(e.message).toMatch(/syntax-error\.yaml: YAML syntax error at line \d+, column \d+: Missing closing "quote/);
    const json = await configError(tempCampaign('broken.json', '{\n  "id": "x",\n  "device": "RK-DEMO",,\n}\n'));
    expect(json.message).toMatch(/JSON syntax error at line 3, column \d+/);
  });

  it('every referenced file must exist: names the key and the resolved path', async () => {
    const e = await configError(fixture('missing-files.yaml'));
    const f = fixture('missing-files.yaml');
    expect(e.message.split('\n')).toEqual([
      `${f}: recipients.file: file not found: ${join(DIR, 'data', 'nope.csv')} ("data/nope.csv" relative to the campaign file) (line 4)`,
      `${f}: template: file not found: ${join(DIR, 'templates', 'nope.hbs')} ("templates/nope.hbs" relative to the campaign file) (line 5)`,
      `${f}: media: file not found: ${join(DIR, 'media', 'nope.pdf')} ("../campaigns/media/nope.pdf" relative to the campaign file) (line 7)`,
      `${f}: suppress[1]: file not found: ${join(DIR, 'data', 'gone.csv')} ("data/gone.csv" relative to the campaign file) (line 10)`,
    ]);
  });

  it('template xor message, media iff a media type', async () => {
    const both = await configError(fixture('conflicts.yaml'));
    expect(both.message).toContain('template: expected either template or message, found both (line 5)');
    expect(both.message).toContain('media: expected no media for type text (media goes with type image, document, video or audio), found "media/promo.jpg" (line 7)');
    const neither = await configError(tempCampaign('neither.yaml', BASE));
    expect(neither.message).toContain('template: expected template (a .hbs file) or message (inline text), found neither');
    const noMedia = await configError(tempCampaign('no-media.yaml', `${BASE}message: hi\ntype: image\n`));
    expect(noMedia.message).toContain('media: expected a media file for type image, found nothing');
    const notHbs = await configError(tempCampaign('not-hbs.yaml', `${BASE}template: data/recipients.csv\n`));
    expect(notHbs.message).toContain('template: expected a path to a .hbs template file, found "data/recipients.csv"');
  });

  it('whole-file problems: empty, not a mapping, wrong extension, not found', async () => {
    expect((await configError(tempCampaign('empty.yaml', '# nothing\n'))).message).toContain(
      'expected a mapping of campaign keys (id, device, recipients, …), found an empty file',
    );
    expect((await configError(tempCampaign('list.yaml', '- a\n- b\n'))).message).toContain('found a list of 2');
    expect((await configError(join(tmp, 'campaign.txt'))).message).toContain('expected a campaign file ending in .yaml, .yml or .json, found ".txt"');
    const missing = await configError(join(tmp, 'nope.yaml'));
    expect(missing.message).toBe(`campaign file not found: ${join(tmp, 'nope.yaml')} (looked at ${join(tmp, 'nope.yaml')})`);
  });
});

describe('parseDuration', () => {
  it('reads units and combinations', () => {
    expect(parseDuration('30m')).toBe(1_800_000);
    expect(parseDuration('12h')).toBe(43_200_000);
    expect(parseDuration('1d')).toBe(86_400_000);
    expect(parseDuration('1h30m')).toBe(5_400_000);
    expect(parseDuration('1h 30m')).toBe(5_400_000);
    expect(parseDuration('90s')).toBe(90_000);
    expect(parseDuration('250ms')).toBe(250);
    expect(parseDuration('1.5h')).toBe(5_400_000);
  });

  it('refuses anything else', () => {
    for (const bad of ['', '12', 'h', '12 hours', '-1h', '1h-', '1y']) {
      expect(() => parseDuration(bad), bad).toThrow(RangeError);
    }
    expect(() => parseDuration('soon')).toThrow('"soon" is not a duration: expected a number and a unit (ms, s, m, h, d), e.g. 30m, 12h, 1d');
  });
});

describe('campaignFingerprintInputs', () => {
  it('is stable and changes only with what is sent', async () => {
    const base = await loadCampaign(fixture('valid.yaml'));
    const fp = (c: Campaign): string => JSON.stringify(campaignFingerprintInputs(c));
    // Key order inside the payload does not matter; paths are relative to the campaign file.
    const reordered: Campaign = { ...base, payload: { nested: { a: [1, 'x'], b: 2 }, ref: '{{first_name}}', campaign: 'spring' } };
    expect(fp(reordered)).toBe(fp(base));
    expect(fp(base)).not.toContain(DIR);
    expect(campaignFingerprintInputs(base)).toMatchObject({ template: 'templates/promo.hbs', media: 'media/promo.jpg', suppress: ['data/optout.csv'] });
    // Not part of what is sent.
    const operational: Campaign = { ...base, ratePerMinute: 5, maxAttempts: 9, schedule: { startAt: 0, endAt: undefined, maxLatenessMs: undefined, window: undefined }, report: { columns: ['kota'] }, name: 'x', monthlyQuota: 1 };
    expect(fp(operational)).toBe(fp(base));
    // Part of what is sent.
    expect(fp({ ...base, device: 'RK-OTHER' })).not.toBe(fp(base));
    expect(fp({ ...base, payload: { campaign: 'autumn' } })).not.toBe(fp(base));
    expect(fp({ ...base, recipients: { ...base.recipients, defaultCountry: 'ID' } })).not.toBe(fp(base));
    expect(fp({ ...base, suppress: [] })).not.toBe(fp(base));
    expect(fp({ ...base, template: undefined, message: 'hi' })).not.toBe(fp(base));
  });

  it('recipients.encoding counts only when set, so plans frozen before the key existed keep their fingerprint', async () => {
    const base = await loadCampaign(fixture('valid.yaml'));
    expect(base.recipients.encoding).toBeUndefined();
    expect(Object.keys(campaignFingerprintInputs(base).recipients as object)).toEqual(['defaultCountry', 'delimiter', 'phoneColumn']);
    const declared = { ...base, recipients: { ...base.recipients, encoding: 'windows-1252' as const } };
    expect(campaignFingerprintInputs(declared).recipients).toMatchObject({ encoding: 'windows-1252' });
    const utf8 = { ...base, recipients: { ...base.recipients, encoding: 'utf-8' as const } };
    expect(campaignFingerprintInputs(utf8)).toEqual(campaignFingerprintInputs(base));
  });
});

describe('recipients.encoding and recipients.delimiter', () => {
  it('accept the usual labels: latin1 and iso-8859-1 read as windows-1252, auto as no key, tab as a word', async () => {
    const cases: [string, string | undefined][] = [
      ['UTF-8', 'utf-8'],
      ['latin1', 'windows-1252'],
      ['ISO-8859-1', 'windows-1252'],
      ['cp1252', 'windows-1252'],
      ['utf-16', 'utf-16le'],
      ['utf-16be', 'utf-16be'],
      ['auto', undefined],
    ];
    for (const [label, encoding] of cases) {
      const c = await loadCampaign(tempCampaign('enc.yaml', `${BASE}  encoding: ${label}\n  delimiter: tab\nmessage: hi\n`));
      expect(c.recipients.encoding, label).toBe(encoding);
      expect(c.recipients.delimiter).toBe('\t');
    }
  });
});

describe('the shipped demo campaign', () => {
  it('loads, and its 25 rows give 22 sendable messages: one invalid number, one duplicate, one opted out', async () => {
    const c = await loadCampaign(relative(REPO, join(REPO, 'campaigns', 'demo.yaml')));
    const { source, name } = await readMessageSource(c);
    expect(name).toBe(join('templates', 'demo.hbs'));
    const template = compileMessageTemplate(source, { name, type: c.type });
    const payload = compilePayloadTemplate(c.payload ?? {}, { name: c.displayPath });
    const suppression = await loadSuppression(c.suppress, c.recipients.defaultCountry);
    const seen = new Set<string>();
    const outcome: Record<string, number> = { sendable: 0, invalid: 0, duplicate: 0, suppressed: 0 };
    const texts: string[] = [];
    for await (const row of readRecipientRows({ file: c.recipients.file, phoneColumn: c.recipients.phoneColumn })) {
      expect(row.ok).toBe(true);
      if (!row.ok) continue;
      expect(template.missingColumns(Object.keys(row.fields))).toEqual({ required: [], optional: [] });
      const phone = normalisePhone(row.rawPhone, c.recipients.defaultCountry);
      if (!phone.ok) {
        outcome.invalid!++;
        expect(row.line).toBe(11);
        continue;
      }
      if (seen.has(phone.phone)) {
        outcome.duplicate!++;
        continue;
      }
      seen.add(phone.phone);
      if (suppression.numbers.has(phone.phone)) {
        outcome.suppressed!++;
        continue;
      }
      const rendered = template.render(row.fields);
      const meta = payload.render(row.fields);
      expect(rendered.ok && meta.ok).toBe(true);
      if (rendered.ok) texts.push(rendered.text);
      outcome.sendable!++;
    }
    expect(outcome).toEqual({ sendable: 22, invalid: 1, duplicate: 1, suppressed: 1 });
    expect(texts[0]).toBe(
      'Halo Mas Budi! 👋\n\nTerima kasih sudah berbelanja di Toko RK Bandung.\nTagihan Anda sebesar Rp 1.250.000 jatuh tempo pada 5 Desember 2026.\n\nBalas STOP jika tidak ingin menerima pesan lagi.',
    );
    expect(texts[1]).toMatch(/^Halo Siti Nurhaliza! 👋/);
  });
});

describe('devices, pacing, limits and health (issue 12)', () => {
  it('accepts a device list, devices with weights, pacing, limits and health, and names bad keys', async () => {
    const list = await loadCampaign(tempCampaign('list.yaml', BASE.replace('device: RK-DEMO', 'device: [RK-A, RK-B, RK-C]') + 'message: hi\npacing: { min_gap: 3s, max_gap: 9s }\nlimits: { per_device_per_day: 300, warm_up: [50, 100, 200] }\nhealth: { window: 30, max_failed: 40% }\n'));
    expect(list.devices).toEqual([{ code: 'RK-A', weight: 1 }, { code: 'RK-B', weight: 1 }, { code: 'RK-C', weight: 1 }]);
    expect(list.device).toBe('RK-A');
    expect(list.pacing).toEqual({ minGapMs: 3000, maxGapMs: 9000 });
    expect(list.limits).toEqual({ perDevicePerDay: 300, warmUp: [50, 100, 200] });
    expect(list.health).toEqual({ window: 30, maxFailed: 0.4 });
    const weighted = await loadCampaign(tempCampaign('weighted.yaml', BASE.replace('device: RK-DEMO', 'devices:\n  - { code: RK-A, weight: 3 }\n  - RK-B') + 'message: hi\nhealth: off\n'));
    expect(weighted.devices).toEqual([{ code: 'RK-A', weight: 3 }, { code: 'RK-B', weight: 1 }]);
    expect(weighted.health).toBeNull();
    const bad = await configError(tempCampaign('bad.yaml', BASE + 'message: hi\npacing: { min_gap: 9s, max_gap: 3s }\nlimits: { per_device_per_day: -1 }\nhealth: { max_failed: lots }\n'));
    expect(bad.message).toContain('pacing.max_gap: expected min_gap no larger than max_gap');
    expect(bad.message).toContain('limits.per_device_per_day: expected a whole number of messages from 1 to 1000000, found -1');
    expect(bad.message).toContain('health.max_failed: expected a share such as 50%');
    const typo = await configError(tempCampaign('typo.yaml', BASE + 'message: hi\npacing: { min_gapp: 3s, max_gap: 9s }\n'));
    expect(typo.message).toContain('pacing.min_gapp: unknown key (did you mean min_gap?)');
    const both = await configError(tempCampaign('both.yaml', BASE + 'devices: [RK-B]\nmessage: hi\n'));
    expect(both.message).toContain('devices: expected either device or devices, found both');
  });
});

import { isUtf8 } from 'node:buffer';
import { constants } from 'node:fs';
import { access, readFile, stat } from 'node:fs/promises';
import { dirname, extname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Node as YamlNode } from 'yaml';
import { z } from 'zod';
import { isPhoneCountry } from '../ingest/countries.js';
import type { CountryCode } from '../ingest/phone.js';
import { ENCODING_LABELS, type TextEncoding } from '../ingest/encoding.js';
import { describeNonFile, describeOpenError } from '../ingest/file-kind.js';
import { MESSAGE_TYPES, type MessageType } from '../rk/types.js';
import { parseDuration, parseDurationText } from '../core/duration.js';
import { parseSizeText } from '../core/size.js';
import { SCHEDULE_KEYS, ScheduleSchema, WINDOW_KEYS, type Schedule } from '../schedule/schema.js';
import { ConfigError } from './env.js';
import { ConfigFileError, describeFound, didYouMean, formatKeyPath, valueAt, type ConfigProblem } from './schema-errors.js';

/** A campaign as loaded from its file: defaults applied, every path absolute. Keys are the file's, in camelCase. */
export interface Campaign {
  /** Stable identifier and checkpoint key: `^[a-z0-9][a-z0-9._-]{0,63}$`. */
  id: string;
  /** Display name. @default id */
  name: string;
  /** Device code messages are sent through (`X-DEVICE-CODE`), e.g. `RK-DEMO`: the first of `devices`. */
  device: string;
  /** Every device of the campaign with its weight (issue 12); undefined means just `device` (see `campaignDevices`). */
  devices?: DeviceConfig[] | undefined;
  /** `pacing`: random gaps between two sends of one device; undefined: sends are spaced evenly at the rate. */
  pacing?: PacingConfig | undefined;
  /** `limits`: daily caps per device and warm-up of new devices; undefined: no caps. */
  limits?: LimitsConfig | undefined;
  /** `health`: the delivery-health breaker; null with `health: off`. */
  health?: HealthConfig | null | undefined;
  /** Absolute path of the campaign file. */
  sourcePath: string;
  /** The campaign file's path as the caller gave it, for messages (e.g. `campaigns/demo.yaml`). */
  displayPath: string;
  /** Absolute directory of the campaign file; every relative path in it is resolved against this. */
  baseDir: string;
  recipients: {
    /** Absolute path of the recipients CSV. */
    file: string;
    /** Header of the phone column. @default 'phone' */
    phoneColumn: string;
    /** Country for national numbers such as `0812…`. @default 'ID' */
    defaultCountry: CountryCode;
    /** Field delimiter; undefined means detect from the header line. */
    delimiter: ',' | ';' | '\t' | undefined;
    /** Text encoding of the CSV; undefined means a byte-order mark, else UTF-8 (checked strictly). */
    encoding: TextEncoding | undefined;
  };
  /** Absolute path of the `.hbs` template; exactly one of `template` and `message` is set. */
  template: string | undefined;
  /** Inline Handlebars message; exactly one of `template` and `message` is set. */
  message: string | undefined;
  /** @default 'text' */
  type: MessageType;
  /** Absolute path of the media file; set exactly when `type` is not `text`. */
  media: string | undefined;
  /**
   * `media` when it holds template variables (`invoices/{{customer_id}}.pdf`): resolved per row against `baseDir`
   * (see src/plan/media-check.ts); `media` is then undefined. Issue 11.
   */
  mediaTemplate?: string | undefined;
  /** `media_outside_folder: true`: a per-row media path may resolve outside the campaign's folder. */
  mediaOutsideFolder?: boolean | undefined;
  /** `variants` instead of `template`/`message`: one wording per recipient, chosen by weight (src/render/variants.ts). */
  variants?: CampaignVariant[] | undefined;
  /** `media_max_size` in bytes: the largest media file sent; undefined means the type's default (see `loadMedia`). */
  mediaMaxBytes?: number | undefined;
  /** Attached to every message; string values may use template variables. */
  payload: Record<string, unknown> | undefined;
  /** @default 60 */
  ratePerMinute: number;
  /** Absolute paths of opt-out CSV files. @default [] */
  suppress: string[];
  /** Attempts per message before `failed_to_send`. @default 5 */
  maxAttempts: number;
  /** `idempotency_window` in milliseconds: how long a resend with the same request id is trusted. @default 12 h */
  idempotencyWindowMs: number;
  /** Name of the environment variable holding the API key (not the key). */
  apiKeyEnv: string | undefined;
  /** Name of the environment variable holding the API secret (not the secret). */
  apiSecretEnv: string | undefined;
  report: {
    /** CSV columns to include in reports; undefined means all. */
    columns: string[] | undefined;
    /** Language of the HTML and XLSX reports (`--lang` wins); undefined means English. */
    lang?: 'en' | 'id' | undefined;
  };
  /** Messages per calendar month the project may send. */
  monthlyQuota: number | undefined;
  /** Start, send window, deadline and lateness limit (see `src/schedule`); undefined: send whenever run. */
  schedule: Schedule | undefined;
}

/** One entry of `variants`: a named template and its share. */
export interface CampaignVariant {
  name: string;
  /** Absolute path of the `.hbs` template. */
  template: string;
  /** Relative share; recipients are split in proportion to the weights. */
  weight: number;
}

/** Whether a `media` value is a per-row template (holds `{{`). */
export function isMediaTemplate(value: string): boolean {
  return value.includes('{{');
}

/** One device of a campaign (`device: [A, B]` or `devices: [{ code, weight }]`). */
export interface DeviceConfig {
  code: string;
  /** Relative share of the recipients. @default 1 */
  weight: number;
}

/** `pacing: { min_gap, max_gap }` in milliseconds. */
export interface PacingConfig {
  minGapMs: number;
  maxGapMs: number;
}

/** `limits: { per_device_per_day, warm_up }`. */
export interface LimitsConfig {
  /** Messages per device per local day once warmed up; undefined: no daily cap after the warm-up. */
  perDevicePerDay: number | undefined;
  /** Caps of a new device's first days (day 1, day 2, ...). @default [] */
  warmUp: number[];
}

/** `health: { window, max_failed }`. */
export interface HealthConfig {
  /** How many of the latest final statuses are looked at. @default 20 */
  window: number;
  /** Share (0..1) of them that may be `failed`; more stops the campaign. @default 0.5 */
  maxFailed: number;
}

/** The breaker every campaign has unless `health: off`. */
export const DEFAULT_HEALTH: HealthConfig = Object.freeze({ window: 20, maxFailed: 0.5 });

const MAX_IDEMPOTENCY_WINDOW_MS = 24 * 60 * 60 * 1000;
/** The largest `media_max_size`: a file is read into memory whole, and WhatsApp takes nothing larger. */
const MAX_MEDIA_BYTES = 2 * 1024 ** 3;
const MEDIA_SIZE_EXPECTED = 'expected a size from 1KB to 2GB such as 20MB or 500KB (1 MB = 1,048,576 bytes)';

/** Durations are parsed in one place (`core/duration.ts`); re-exported here for the keys of this file. */
export { parseDuration };

const ENV_NAME = /^[A-Z_][A-Z0-9_]*$/;
const ID = /^[a-z0-9][a-z0-9._-]{0,63}$/;

const err = (expected: string) => ({ error: expected });
const text = (expected: string) => z.string(err(expected)).trim().min(1, err(expected));
const wholeNumber = (min: number, max: number) => {
  const expected = `expected a whole number from ${min} to ${max}`;
  return z.int(err(expected)).min(min, err(expected)).max(max, err(expected));
};
const filePath = (what: string) => text(`expected a path to ${what}`);
const envName = (example: string) =>
  z
    .string(err(`expected the name of an environment variable, e.g. ${example}`))
    .regex(ENV_NAME, err(`expected the name of an environment variable (capitals, digits and _), e.g. ${example}`));

const ENCODING_EXPECTED =
  'expected utf-8, windows-1252 (also latin1, iso-8859-1, cp1252), utf-16le or utf-16be (or no encoding key: a byte-order mark, else UTF-8)';

const DEVICE_CODE = 'expected a device code registered in the project, e.g. RK-DEMO (no spaces)';
const deviceCode = z.string(err(DEVICE_CODE)).regex(/^\S+$/, err(DEVICE_CODE));
const DeviceSchema = z.union(
  [
    deviceCode,
    z.strictObject(
      { code: deviceCode, weight: z.number(err('expected a weight from 0.01 to 1000')).min(0.01, err('expected a weight from 0.01 to 1000')).max(1000, err('expected a weight from 0.01 to 1000')).default(1) },
      err('expected a device code, or an object with code and weight'),
    ),
  ],
  err('expected a device code (e.g. RK-A), or an object with code and weight'),
);
const DEVICE_LIST = 'expected a device code or a list of device codes, e.g. [RK-A, RK-B]';
const DevicesSchema = z
  .union([deviceCode, z.array(DeviceSchema, err(DEVICE_LIST)).min(1, err(DEVICE_LIST)).max(100, err('expected at most 100 devices'))], {
    error: (issue) => (typeof issue.input === 'string' ? DEVICE_CODE : DEVICE_LIST),
  })
  .transform((v) => (typeof v === 'string' ? [v] : v));

const GAP = 'expected a duration from 0s to 1h, e.g. 3s';
const gap = z
  .string(err(GAP))
  .refine((v) => {
    const ms = parseDurationText(v);
    return ms !== undefined && ms <= 3_600_000;
  }, err(GAP))
  .transform((v) => parseDurationText(v)!);
const PacingSchema = z
  .strictObject({ min_gap: gap, max_gap: gap }, err('expected an object with min_gap and max_gap, e.g. { min_gap: 3s, max_gap: 9s }'))
  .refine((p) => p.min_gap <= p.max_gap, { message: 'expected min_gap no larger than max_gap', path: ['max_gap'] });

const CAP = 'expected a whole number of messages from 1 to 1000000';
const LimitsSchema = z.strictObject(
  {
    per_device_per_day: z.int(err(CAP)).min(1, err(CAP)).max(1_000_000, err(CAP)).optional(),
    warm_up: z.array(z.int(err(CAP)).min(1, err(CAP)).max(1_000_000, err(CAP)), err('expected a list of daily caps for the first days, e.g. [50, 100, 200]')).max(366, err('expected at most 366 warm-up days')).default([]),
  },
  err('expected an object with per_device_per_day and/or warm_up, e.g. { per_device_per_day: 300, warm_up: [50, 100, 200] }'),
);

const SHARE = 'expected a share such as 50% (from 1% to 100%)';
const HealthSchema = z.union(
  [
    z.literal(['off', false], err('expected off, or an object with window and max_failed')),
    z.strictObject(
      {
        window: z.int(err('expected a whole number from 5 to 1000')).min(5, err('expected a whole number from 5 to 1000')).max(1000, err('expected a whole number from 5 to 1000')).default(20),
        max_failed: z
          .union([z.string(), z.number()], err(SHARE))
          .transform((v) => (typeof v === 'number' ? (v > 1 ? v / 100 : v) : /^\s*\d+(\.\d+)?\s*%\s*$/.test(v) ? Number(v.replace('%', '').trim()) / 100 : Number.NaN))
          .refine((v) => v >= 0.01 && v <= 1, err(SHARE))
          .default(0.5),
      },
      err('expected off, or an object with window and max_failed, e.g. { window: 20, max_failed: 50% }'),
    ),
  ],
  err('expected off, or an object with window and max_failed, e.g. { window: 20, max_failed: 50% }'),
);

const RecipientsSchema = z.strictObject(
  {
    file: filePath('the recipients CSV file'),
    phone_column: text('expected the header name of the CSV column with the phone numbers').default('phone'),
    default_country: z
      .string(err('expected an ISO 3166 alpha-2 country code such as ID, MY or SG'))
      .refine((c) => isPhoneCountry(c.trim().toUpperCase()), err('expected an ISO 3166 alpha-2 country code such as ID, MY or SG'))
      .transform((c) => c.trim().toUpperCase() as CountryCode)
      .default('ID'),
    delimiter: z
      .preprocess(
        (v) => (typeof v === 'string' && v.trim().toLowerCase() === 'tab' ? '\t' : v),
        z.enum([',', ';', '\t'], err('expected ",", ";" or tab (or no delimiter key, to detect it)')),
      )
      .optional(),
    encoding: z
      .string(err(ENCODING_EXPECTED))
      .transform((v) => v.trim().toLowerCase())
      .refine((v) => Object.hasOwn(ENCODING_LABELS, v), err(ENCODING_EXPECTED))
      .transform((v) => ENCODING_LABELS[v])
      .optional(),
  },
  err('expected an object with file (and optionally phone_column, default_country, delimiter, encoding)'),
);

const ReportSchema = z.strictObject(
  {
    columns: z
      .array(text('expected a CSV column name'), err('expected a list of CSV column names'))
      .min(1, err('expected a list of at least one CSV column name (or no columns key, for all)'))
      .optional(),
    lang: z.enum(['en', 'id'], err('expected en (English) or id (Indonesian)')).optional(),
  },
  err('expected an object with columns (a list of CSV column names) and/or lang (en or id)'),
);

const CampaignFileSchema = z.strictObject(
  {
    id: z
      .string(err('expected an id of lower-case letters, digits, ".", "_" or "-" (at most 64, starting with a letter or digit)'))
      .regex(ID, err('expected an id of lower-case letters, digits, ".", "_" or "-" (at most 64, starting with a letter or digit)')),
    name: text('expected a display name').optional(),
    device: DevicesSchema.optional(),
    devices: DevicesSchema.optional(),
    pacing: PacingSchema.optional(),
    limits: LimitsSchema.optional(),
    health: HealthSchema.optional(),
    recipients: RecipientsSchema,
    template: filePath('a .hbs template file').optional(),
    message: z.string(err('expected the message text (Handlebars)')).optional(),
    type: z.enum(MESSAGE_TYPES, err(`expected one of ${MESSAGE_TYPES.join(', ')}`)).default('text'),
    media: filePath('the media file to send').optional(),
    media_outside_folder: z.boolean(err('expected true or false')).optional(),
    variants: z
      .array(
        z.strictObject(
          {
            name: text('expected a variant name such as A'),
            template: filePath('a .hbs template file'),
            weight: z.number(err('expected a positive number such as 1')).positive(err('expected a positive number such as 1')).finite().default(1),
          },
          err('expected an object with name, template and weight'),
        ),
        err('expected a list of variants, e.g. [{ name: A, template: a.hbs, weight: 1 }]'),
      )
      .min(1, err('expected at least one variant'))
      .max(26, err('expected at most 26 variants'))
      .refine((list) => new Set(list.map((v) => v.name.trim())).size === list.length, err('expected each variant name once'))
      .optional(),
    media_max_size: z
      .union([z.string(), z.number()], err(MEDIA_SIZE_EXPECTED))
      .transform((v) => (typeof v === 'number' ? v : parseSizeText(v)))
      .refine((n) => n !== undefined && Number.isInteger(n) && n >= 1024 && n <= MAX_MEDIA_BYTES, err(MEDIA_SIZE_EXPECTED))
      .optional(),
    payload: z.record(z.string(), z.unknown(), err('expected an object of metadata (key: value)')).optional(),
    rate_per_minute: wholeNumber(1, 6000).default(60),
    suppress: z
      .preprocess(
        (v) => (typeof v === 'string' ? [v] : v),
        z.array(filePath('an opt-out CSV file'), err('expected a list of opt-out CSV files')),
      )
      .default([]),
    max_attempts: wholeNumber(1, 100).default(5),
    idempotency_window: z
      .string(err('expected a duration from 1s to 24h, e.g. 30m, 12h'))
      .refine((v) => {
        try {
          const ms = parseDuration(v);
          return ms >= 1000 && ms <= MAX_IDEMPOTENCY_WINDOW_MS;
        } catch {
          return false;
        }
      }, err('expected a duration from 1s to 24h (the API keeps request ids for 24 hours), e.g. 30m, 12h'))
      .default('12h'),
    api_key_env: envName('RK_API_KEY').optional(),
    api_secret_env: envName('RK_API_SECRET').optional(),
    report: ReportSchema.optional(),
    monthly_quota: wholeNumber(1, 100_000_000).optional(),
    schedule: ScheduleSchema.optional(),
  },
  err('expected a mapping of campaign keys (id, device, recipients, template or message, …)'),
);

type CampaignFile = z.output<typeof CampaignFileSchema>;

/** Keys of each strict object, for "did you mean" suggestions. */
const KNOWN_KEYS: Record<string, readonly string[]> = {
  '': Object.keys(CampaignFileSchema.shape),
  recipients: Object.keys(RecipientsSchema.shape),
  report: Object.keys(ReportSchema.shape),
  'variants[]': ['name', 'template', 'weight'],
  schedule: SCHEDULE_KEYS,
  pacing: ['min_gap', 'max_gap'],
  limits: ['per_device_per_day', 'warm_up'],
  health: ['window', 'max_failed'],
  'schedule.window': WINDOW_KEYS,
};

/** Keys that hold a credential value; normalised (lower case, no `_`/`-`). */
const SECRET_KEYS = new Set(['apikey', 'apisecret', 'secret', 'token', 'password', 'rkapikey', 'rkapisecret', 'accesstoken', 'key']);
/** Values of these keys are never echoed in errors: someone may have pasted a secret instead of a variable name. */
const NEVER_ECHO = new Set(['api_key_env', 'api_secret_env']);

/**
 * Loads and validates a campaign file (`.yaml`, `.yml` or `.json`). Every path in it is resolved against the
 * file's directory and must exist. Throws ConfigError (a `ConfigFileError` with `problems`) listing every
 * problem, each naming the file, the key, what was expected and what was found.
 */
export async function loadCampaign(path: string): Promise<Campaign> {
  const sourcePath = resolve(path);
  const baseDir = dirname(sourcePath);
  const ext = extname(path).toLowerCase();
  if (ext !== '.yaml' && ext !== '.yml' && ext !== '.json') {
    throw new ConfigError(
      `${path}: expected a campaign file ending in .yaml, .yml or .json, found "${ext || 'no extension'}"`,
      'Name the campaign file e.g. campaigns/spring-promo.yaml.',
      path,
    );
  }
  let source: string;
  try {
    source = await readFile(sourcePath, 'utf8');
  } catch (e) {
    const code = (e as { code?: string }).code;
    throw new ConfigError(
      code === 'ENOENT' ? `campaign file not found: ${path} (looked at ${sourcePath})` : `cannot read the campaign file ${path} (${code ?? String(e)})`,
      'Check the path; `rk-broadcast init NAME` creates a new campaign.',
      path,
    );
  }

  const lineCounter = new LineCounter();
  const doc = parseDocument(source, { lineCounter, prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const problems: ConfigProblem[] = doc.errors.map((e) => ({
      key: '',
      detail: `${ext === '.json' ? 'JSON' : 'YAML'} syntax error at line ${e.linePos?.[0].line ?? '?'}, column ${e.linePos?.[0].col ?? '?'}: ${e.message.split(' at line ')[0]}`,
    }));
    throw new ConfigFileError(path, problems, `Fix the ${ext === '.json' ? 'JSON' : 'YAML'} syntax at the position shown (indentation, quotes, a missing ":").`);
  }
  const raw: unknown = doc.toJS({ maxAliasCount: 100 });
  const lineOf = (keyPath: readonly PropertyKey[], ofKey = false): number | undefined => locate(doc.contents, keyPath, ofKey, lineCounter);

  if (raw === null || raw === undefined || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new ConfigFileError(
      path,
      [{ key: '', detail: `expected a mapping of campaign keys (id, device, recipients, …), found ${raw === null || raw === undefined ? 'an empty file' : describeFound(raw)}` }],
      'Start from campaigns/demo.yaml, or run `rk-broadcast init NAME`.',
    );
  }

  const problems: ConfigProblem[] = [];
  const parsed = CampaignFileSchema.safeParse(raw);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) problems.push(...problemsFromIssue(issue, raw, lineOf));
  }
  problems.push(...crossChecks(raw as Record<string, unknown>, lineOf));
  problems.push(...(await missingFiles(raw as Record<string, unknown>, baseDir, lineOf)));

  if (problems.length > 0 || !parsed.success) {
    const unique = dedupe(problems);
    const secret = unique.some((p) => p.secret);
    throw new ConfigFileError(
      path,
      sortByLine(unique),
      secret
        ? 'Secrets never go in campaign files. Remove the value (and rotate it if the file was shared); put it in the environment or a .env file as RK_API_KEY / RK_API_SECRET, or name other variables with api_key_env / api_secret_env.'
        : `Fix the keys above in ${path} (paths are relative to ${baseDir}), then run \`rk-broadcast validate ${path}\` again.`,
    );
  }
  return toCampaign(parsed.data, { sourcePath, baseDir, displayPath: path });
}

/**
 * The inputs that decide what is sent, as a stable JSON-able object (sorted keys; paths relative to the campaign
 * file, with `/`): device, type, media, payload, phone column, default country, delimiter, suppression lists, and
 * the template path or inline message. Rate, attempts, schedule and report settings are left out: changing them
 * does not change any message. File contents are not included; fingerprint those separately.
 */
export function campaignFingerprintInputs(c: Campaign): Record<string, unknown> {
  const rel = (p: string): string => relative(c.baseDir, p).split(sep).join('/');
  return sortKeys({
    // One device keeps the fingerprint plans had before device lists existed.
    device: campaignDevices(c).length === 1 && campaignDevices(c)[0]!.weight === 1 ? c.device : campaignDevices(c).map((d) => `${d.code}*${d.weight}`).join(','),
    type: c.type,
    media: c.media === undefined ? null : rel(c.media),
    payload: c.payload ?? null,
    recipients: {
      phoneColumn: c.recipients.phoneColumn,
      defaultCountry: c.recipients.defaultCountry,
      delimiter: c.recipients.delimiter ?? null,
      // Only when it changes the decoding (UTF-8 is the default), so plans frozen before the key existed keep
      // their fingerprint.
      ...(c.recipients.encoding === undefined || c.recipients.encoding === 'utf-8' ? {} : { encoding: c.recipients.encoding }),
    },
    suppress: c.suppress.map(rel),
    template: c.template === undefined ? null : rel(c.template),
    message: c.message ?? null,
    // Which column holds each recipient's zone changes what is stored on every row.
    timezoneColumn: c.schedule?.window?.timezoneColumn ?? null,
    // Issue 11, only when used, so plans frozen before these keys existed keep their fingerprint.
    ...(c.mediaTemplate !== undefined ? { media: c.mediaTemplate, mediaOutsideFolder: c.mediaOutsideFolder === true } : {}),
    ...(c.variants !== undefined ? { variants: c.variants.map((v) => ({ name: v.name, template: rel(v.template), weight: v.weight })) } : {}),
  }) as Record<string, unknown>;
}

/** The campaign's devices with their weights: `devices`, or `device` alone. */
export function campaignDevices(c: Pick<Campaign, 'device' | 'devices'>): DeviceConfig[] {
  return c.devices && c.devices.length > 0 ? c.devices : [{ code: c.device, weight: 1 }];
}

/**
 * The message source of a campaign and the name to use for it in errors: the template file's text (named by its
 * path as the user sees it, e.g. `templates/demo.hbs`) or the inline message (named `campaigns/x.yaml: message`).
 */
export async function readMessageSource(c: Campaign): Promise<{ source: string; name: string }> {
  if (c.template !== undefined) return readTemplateFile(c, c.template);
  return { source: c.message ?? '', name: `${c.displayPath}: message` };
}

/** A variant's template text and its name for errors (as `readMessageSource` does for `template`). */
export async function readTemplateFile(c: Campaign, path: string): Promise<{ source: string; name: string }> {
  const name = join(dirname(c.displayPath), relative(c.baseDir, path));
  return { source: decodeTemplate(await readFile(path), name), name };
}

/**
 * A template file's text. Templates are UTF-8; a file saved in another encoding would put replacement characters
 * (U+FFFD) into every message, so it is refused, naming the line of the first bad byte.
 */
function decodeTemplate(bytes: Buffer, name: string): string {
  if (isUtf8(bytes)) return bytes.toString('utf8').replace(/^\uFEFF/, '');
  const lenient = bytes.toString('utf8');
  const line = lenient.slice(0, Math.max(0, lenient.indexOf('\uFFFD'))).split('\n').length;
  throw new ConfigError(
    `${name}: line ${line}: the template is not UTF-8 text (it was probably saved as Windows-1252/ANSI or UTF-16), so accents and symbols would arrive garbled.`,
    'Save the template as UTF-8 (in Notepad: Save as, Encoding UTF-8; in VS Code: "Save with Encoding", UTF-8), then run again.',
    name,
  );
}

function toCampaign(f: CampaignFile, where: { sourcePath: string; baseDir: string; displayPath: string }): Campaign {
  const abs = (p: string): string => (isAbsolute(p) ? p : resolve(where.baseDir, p));
  const devices = (f.device ?? f.devices ?? []).map((d) => (typeof d === 'string' ? { code: d, weight: 1 } : { code: d.code, weight: d.weight }));
  return {
    id: f.id,
    name: f.name ?? f.id,
    device: devices[0]!.code,
    devices,
    pacing: f.pacing === undefined ? undefined : { minGapMs: f.pacing.min_gap, maxGapMs: f.pacing.max_gap },
    limits: f.limits === undefined ? undefined : { perDevicePerDay: f.limits.per_device_per_day, warmUp: f.limits.warm_up },
    health: f.health === undefined ? { ...DEFAULT_HEALTH } : typeof f.health === 'object' ? { window: f.health.window, maxFailed: f.health.max_failed } : null,
    ...where,
    recipients: {
      file: abs(f.recipients.file),
      phoneColumn: f.recipients.phone_column,
      defaultCountry: f.recipients.default_country,
      delimiter: f.recipients.delimiter,
      encoding: f.recipients.encoding === 'auto' ? undefined : f.recipients.encoding,
    },
    template: f.template === undefined ? undefined : abs(f.template),
    message: f.message,
    type: f.type,
    media: f.media === undefined || isMediaTemplate(f.media) ? undefined : abs(f.media),
    mediaTemplate: f.media !== undefined && isMediaTemplate(f.media) ? f.media : undefined,
    mediaOutsideFolder: f.media_outside_folder,
    variants: f.variants?.map((v) => ({ name: v.name, template: abs(v.template), weight: v.weight })),
    mediaMaxBytes: f.media_max_size,
    payload: f.payload,
    ratePerMinute: f.rate_per_minute,
    suppress: f.suppress.map(abs),
    maxAttempts: f.max_attempts,
    idempotencyWindowMs: parseDuration(f.idempotency_window),
    apiKeyEnv: f.api_key_env,
    apiSecretEnv: f.api_secret_env,
    report: { columns: f.report?.columns, lang: f.report?.lang },
    monthlyQuota: f.monthly_quota,
    schedule: f.schedule,
  };
}

type LineOf = (keyPath: readonly PropertyKey[], ofKey?: boolean) => number | undefined;

function problemsFromIssue(issue: z.core.$ZodIssue, raw: unknown, lineOf: LineOf): ConfigProblem[] {
  if (issue.code === 'unrecognized_keys') {
    const parentPath = issue.path;
    const parentKey = formatKeyPath(parentPath);
    const known = KNOWN_KEYS[parentKey] ?? KNOWN_KEYS[parentKey.replace(/\[\d+\]$/, '[]')] ?? [];
    return issue.keys.map((k) => unknownKeyProblem(k, parentPath, known, lineOf));
  }
  const key = formatKeyPath(issue.path);
  const found = valueAt(raw, issue.path);
  const topKey = String(issue.path[0] ?? '');
  const shown = NEVER_ECHO.has(topKey) && typeof found === 'string' ? 'a value that is not a variable name (not shown: it may be a secret)' : describeFound(found);
  const expected = issue.message.startsWith('expected') ? issue.message : `expected ${issue.message}`;
  const line = lineOf(issue.path);
  return [{ key, detail: `${expected}, found ${shown}`, ...(line === undefined ? {} : { line }) }];
}

function unknownKeyProblem(key: string, parentPath: readonly PropertyKey[], known: readonly string[], lineOf: LineOf): ConfigProblem {
  const fullPath = [...parentPath, key];
  const keyPath = formatKeyPath(fullPath);
  const line = lineOf(fullPath, true);
  const at = line === undefined ? {} : { line };
  const normalised = key.toLowerCase().replace(/[-_]/g, '');
  if (SECRET_KEYS.has(normalised)) {
    const envKey = normalised.includes('secret') ? 'api_secret_env' : 'api_key_env';
    return {
      key: keyPath,
      detail: `a credential must not be written in a campaign file; expected ${envKey} with the NAME of an environment variable (e.g. ${envKey}: ${envKey === 'api_secret_env' ? 'RK_API_SECRET' : 'RK_API_KEY'}), found a value (not shown)`,
      secret: true,
      ...at,
    };
  }
  let suggestion = didYouMean(key, known);
  let where = suggestion;
  if (!suggestion) {
    // The right key at the wrong level, e.g. `phone_column` at the top instead of under `recipients`.
    for (const [parent, keys] of Object.entries(KNOWN_KEYS)) {
      if (parent === formatKeyPath(parentPath)) continue;
      const match = keys.find((k) => k === key);
      if (match) {
        suggestion = match;
        where = parent === '' ? match : `${parent}.${match}`;
        break;
      }
    }
  }
  const expected = known.length > 0 ? `expected one of ${known.join(', ')}` : 'expected no such key';
  return {
    key: keyPath,
    detail: `unknown key${where ? ` (did you mean ${where}?)` : ''}; ${expected}`,
    ...at,
  };
}

function crossChecks(raw: Record<string, unknown>, lineOf: LineOf): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const at = (path: PropertyKey[]): { line?: number } => {
    const line = lineOf(path);
    return line === undefined ? {} : { line };
  };
  const hasDevice = raw.device !== undefined && raw.device !== null;
  const hasDevices = raw.devices !== undefined && raw.devices !== null;
  if (hasDevice && hasDevices) {
    problems.push({ key: 'devices', detail: 'expected either device or devices, found both', ...at(['devices']) });
  } else if (!hasDevice && !hasDevices) {
    problems.push({ key: 'device', detail: 'expected a device code registered in the project (or a list of them, or devices), found nothing (the key is missing)' });
  } else {
    const list = raw.device ?? raw.devices;
    const codes = (Array.isArray(list) ? list : [list]).map((d) => (typeof d === 'string' ? d : (d as { code?: unknown } | null)?.code)).filter((c) => typeof c === 'string');
    const repeated = codes.find((c, i) => codes.indexOf(c) !== i);
    if (repeated !== undefined) problems.push({ key: hasDevice ? 'device' : 'devices', detail: `expected each device once, found ${repeated} twice`, ...at([hasDevice ? 'device' : 'devices']) });
  }
  const hasTemplate = raw.template !== undefined && raw.template !== null;
  const hasMessage = raw.message !== undefined && raw.message !== null;
  const hasVariants = raw.variants !== undefined && raw.variants !== null;
  if (hasVariants && (hasTemplate || hasMessage)) {
    problems.push({ key: 'variants', detail: `expected variants instead of ${hasTemplate ? 'template' : 'message'}, found both`, ...at(['variants']) });
  } else if (hasVariants) {
    // variants replace template and message
  } else if (hasTemplate && hasMessage) {
    problems.push({ key: 'template', detail: 'expected either template or message, found both', ...at(['template']) });
  } else if (!hasTemplate && !hasMessage) {
    problems.push({ key: 'template', detail: 'expected template (a .hbs file) or message (inline text), found neither' });
  }
  if (Array.isArray(raw.variants)) {
    raw.variants.forEach((v: unknown, i) => {
      const t = (v as { template?: unknown } | null)?.template;
      if (typeof t === 'string' && t.trim() !== '' && !t.trim().toLowerCase().endsWith('.hbs')) {
        problems.push({ key: `variants[${i}].template`, detail: `expected a path to a .hbs template file, found ${describeFound(t)}`, ...at(['variants', i, 'template']) });
      }
    });
  }
  if (raw.media_outside_folder !== undefined && !(typeof raw.media === 'string' && isMediaTemplate(raw.media))) {
    problems.push({
      key: 'media_outside_folder',
      detail: 'expected only with a per-recipient media path (media with {{variables}}), found it without one',
      ...at(['media_outside_folder']),
    });
  }
  if (typeof raw.template === 'string' && raw.template.trim() !== '' && !raw.template.trim().toLowerCase().endsWith('.hbs')) {
    problems.push({ key: 'template', detail: `expected a path to a .hbs template file, found ${describeFound(raw.template)}`, ...at(['template']) });
  }
  const type = raw.type === undefined ? 'text' : raw.type;
  const validType = typeof type === 'string' && (MESSAGE_TYPES as readonly string[]).includes(type);
  if (validType && type === 'text' && raw.media !== undefined) {
    problems.push({
      key: 'media',
      detail: `expected no media for type text (media goes with type image, document, video or audio), found ${describeFound(raw.media)}`,
      ...at(['media']),
    });
  }
  if (validType && type !== 'text' && (raw.media === undefined || raw.media === null)) {
    problems.push({ key: 'media', detail: `expected a media file for type ${type}, found nothing`, ...at(['type']) });
  }
  if (validType && type === 'text' && typeof raw.message === 'string' && raw.message.trim() === '') {
    problems.push({ key: 'message', detail: 'expected the message text, found an empty text', ...at(['message']) });
  }
  return problems;
}

async function missingFiles(raw: Record<string, unknown>, baseDir: string, lineOf: LineOf): Promise<ConfigProblem[]> {
  const candidates: { path: PropertyKey[]; value: unknown }[] = [
    { path: ['recipients', 'file'], value: valueAt(raw, ['recipients', 'file']) },
    { path: ['template'], value: raw.template },
    // A per-row media path is checked per row at plan time (src/plan/media-check.ts).
    { path: ['media'], value: typeof raw.media === 'string' && isMediaTemplate(raw.media) ? undefined : raw.media },
  ];
  if (Array.isArray(raw.variants)) {
    raw.variants.forEach((v: unknown, i) => candidates.push({ path: ['variants', i, 'template'], value: (v as { template?: unknown } | null)?.template }));
  }
  const suppress = typeof raw.suppress === 'string' ? [raw.suppress] : raw.suppress;
  if (Array.isArray(suppress)) {
    suppress.forEach((value, i) => candidates.push({ path: typeof raw.suppress === 'string' ? ['suppress'] : ['suppress', i], value }));
  }
  const problems: ConfigProblem[] = [];
  for (const { path, value } of candidates) {
    if (typeof value !== 'string' || value.trim() === '') continue;
    const given = value.trim();
    const absolute = isAbsolute(given) ? given : resolve(baseDir, given);
    let problem: string | undefined;
    try {
      const info = await stat(absolute);
      const kind = describeNonFile(info);
      if (kind !== undefined) problem = `expected a regular file, found ${kind} at ${absolute}`;
      else await access(absolute, constants.R_OK);
    } catch (e) {
      const code = (e as { code?: string }).code;
      problem =
        code === 'ENOENT'
          ? `file not found: ${absolute}${isAbsolute(given) ? '' : ` ("${given}" relative to the campaign file)`}`
          : `cannot read ${absolute}: ${describeOpenError(e)}`;
    }
    if (problem) {
      const line = lineOf(path);
      problems.push({ key: formatKeyPath(path), detail: problem, ...(line === undefined ? {} : { line }) });
    }
  }
  return problems;
}

/** 1-based line of the value at `keyPath` (or of its key, with `ofKey`), or of the nearest parent that exists. */
function locate(root: unknown, keyPath: readonly PropertyKey[], ofKey: boolean, counter: LineCounter): number | undefined {
  let node = root as YamlNode | null | undefined;
  let offset: number | undefined = (node as { range?: [number, number, number] } | null | undefined)?.range?.[0];
  for (const part of keyPath) {
    if (isMap(node)) {
      const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === String(part));
      if (!pair) break;
      const keyNode = pair.key as YamlNode;
      const valueNode = pair.value as YamlNode | null;
      offset = ofKey && part === keyPath[keyPath.length - 1] ? keyNode.range?.[0] : (valueNode?.range?.[0] ?? keyNode.range?.[0]);
      node = valueNode;
    } else if (isSeq(node) && typeof part === 'number') {
      const item = node.items[part] as YamlNode | undefined;
      if (!item) break;
      offset = item.range?.[0];
      node = item;
    } else {
      break;
    }
  }
  return offset === undefined ? undefined : counter.linePos(offset).line;
}

function dedupe(problems: ConfigProblem[]): ConfigProblem[] {
  const seen = new Set<string>();
  return problems.filter((p) => {
    const k = `${p.key}\u0000${p.detail}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

function sortByLine(problems: ConfigProblem[]): ConfigProblem[] {
  return problems
    .map((p, i) => ({ p, i }))
    .sort((a, b) => (a.p.line ?? Infinity) - (b.p.line ?? Infinity) || a.i - b.i)
    .map(({ p }) => p);
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(
      Object.keys(value)
        .sort()
        .map((k) => [k, sortKeys((value as Record<string, unknown>)[k])]),
    );
  }
  return value;
}

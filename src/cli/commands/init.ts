import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import type { Argv } from 'yargs';
import { EXIT } from '../../core/exit-codes.js';
import { defineCommand } from '../command.js';
import { InputError } from '../input-error.js';
import { errLine } from '../io.js';

/** Flags of `rk-broadcast init`. */
interface InitArgs {
  name: string;
  dir?: string;
  json?: boolean;
  quiet?: boolean;
  verbose?: boolean;
}

const ID = /^[a-z0-9][a-z0-9._-]{0,63}$/;

/** The files `init NAME` writes, relative to `--dir`, with their contents. */
function scaffold(name: string): { path: string; content: string }[] {
  const yaml = `# Campaign "${name}", created by \`rk-broadcast init\`. Paths are relative to this file.
# Check it (sends nothing):  rk-broadcast validate campaigns/${name}.yaml
# Send it now:               rk-broadcast run campaigns/${name}.yaml --limit 1   (a test message first)
# Or schedule it below and let cron run \`rk-broadcast due --dir campaigns\` (see docs/scheduling.md).

id: ${name}                  # stable: the checkpoint key; never reuse it for another campaign
name: ${name}
device: RK-DEMO             # your device code in RK Connect (sent as X-DEVICE-CODE)

recipients:
  file: ${name}.csv         # a header row, one recipient per row
  phone_column: phone
  default_country: ID       # for national numbers such as 0812-3456-7890
  # delimiter: ";"          # detected from the header when left out

template: ../templates/${name}.hbs   # or an inline message: "Halo {{nama}}!"
type: text                  # or image / document / video / audio with media: path/to/file

# Stored by the API with every message; strings may use the template's {{variables}}.
payload:
  campaign: ${name}

rate_per_minute: 60         # RK Connect allows 60 messages per minute per project by default
suppress: []                # opt-out CSV files: numbers never to message
# monthly_quota: 3000       # the project's monthly quota (else $RK_MONTHLY_QUOTA, else 3,000): runs stop before it

# Credentials come from the environment (RK_API_KEY / RK_API_SECRET, or .env), never from this file.
# For another project, name other variables:
# api_key_env: SHOP_B_API_KEY
# api_secret_env: SHOP_B_API_SECRET

# Schedule (optional). Without it, the campaign is sent whenever it is run.
# schedule:
#   start_at: "2026-12-05T09:00 Asia/Jakarta"   # ISO 8601 with an offset (+07:00) or a zone
#   end_at: "2026-12-07T20:00 Asia/Jakarta"     # deadline: what is not sent by then expires
#   max_lateness: 2h                            # a first run later than this after the start refuses to send
#   window:                                     # send only inside this window
#     timezone: Asia/Jakarta
#     days: [mon, tue, wed, thu, fri, sat]
#     from: "08:00"
#     to: "20:00"                               # may cross midnight, e.g. from "22:00" to "02:00"
#     # timezone_column: zona                   # CSV column with each recipient's own IANA zone
`;
  const template = `{{!-- Message of "${name}". Variables are the CSV's column names; helpers: default, titleCase, upper, lower, idr, number, date. --}}
Halo {{titleCase nama}}!

Promo spesial untuk pelanggan di {{default kota "kota Anda"}}: diskon {{diskon}}% sampai {{date berlaku_sampai "d MMMM yyyy"}}.

Balas STOP jika tidak ingin menerima pesan lagi.
`;
  const csv = `phone,nama,kota,diskon,berlaku_sampai
0812-3456-7890,budi santoso,Bandung,20,2026-12-31
+62 813 2233 4455,Siti Nurhaliza,,15,2026-12-31
6285712345678,Agus Pratama,Surabaya,25,2026-12-31
`;
  return [
    { path: join('campaigns', `${name}.yaml`), content: yaml },
    { path: join('templates', `${name}.hbs`), content: template },
    { path: join('campaigns', `${name}.csv`), content: csv },
  ];
}

/** `rk-broadcast init NAME`: scaffolds a campaign file, a template and a sample CSV, ready for `validate`. */
export const initCommand = defineCommand<InitArgs>({
  command: 'init <name>',
  describe: 'Create campaigns/NAME.yaml, templates/NAME.hbs and a sample CSV (commented, ready for validate)',
  builder: (y: Argv) =>
    y
      .positional('name', { type: 'string', demandOption: true, describe: 'Campaign id: lower-case letters, digits, ".", "_", "-"' })
      .option('dir', { type: 'string', default: '.', describe: 'Project folder to create campaigns/ and templates/ in' })
      .option('json', { type: 'boolean', default: false, describe: 'Print the created files as JSON' })
      .option('quiet', { alias: 'q', type: 'boolean', describe: 'Print nothing on success' })
      .option('verbose', { type: 'boolean', describe: 'Accepted for symmetry; init has nothing more to say' })
      .example('$0 init spring-promo', 'Start a new campaign'),
  run: async (args, io) => {
    try {
      const name = args.name;
      if (!ID.test(name)) {
        throw new InputError(
          `"${name}" cannot be a campaign id: expected lower-case letters, digits, ".", "_" or "-" (at most 64, starting with a letter or digit).`,
          'For example: rk-broadcast init spring-promo-2026',
        );
      }
      const base = resolve(io.cwd, args.dir ?? '.');
      const files = scaffold(name).map((f) => ({ ...f, absolute: join(base, f.path) }));
      const existing = files.filter((f) => existsSync(f.absolute));
      if (existing.length > 0) {
        throw new InputError(
          `Refusing to overwrite ${existing.map((f) => relative(io.cwd, f.absolute) || f.absolute).join(', ')}: nothing was written.`,
          'Pick another name, or move the existing files away first.',
        );
      }
      for (const f of files) {
        await mkdir(join(f.absolute, '..'), { recursive: true });
        // `wx`: fail rather than overwrite if the file appeared meanwhile.
        await writeFile(f.absolute, f.content, { flag: 'wx' });
      }
      const shown = files.map((f) => relative(io.cwd, f.absolute) || f.absolute);
      if (args.json) {
        io.stdout.write(JSON.stringify({ ok: true, files: shown }) + '\n');
      } else if (!args.quiet) {
        errLine(io, `Created ${shown.join(', ')}.`);
        errLine(io, `Next: set your device code and recipients, then: rk-broadcast validate ${shown[0]}`);
      }
      return EXIT.ok;
    } catch (error) {
      const { describeFailure, printFailure } = await import('../failure.js');
      const failure = describeFailure(error);
      printFailure(io, 'init', failure, { json: args.json === true, secrets: [] });
      return failure.exitCode;
    }
  },
});


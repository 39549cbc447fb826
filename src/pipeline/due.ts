import { readdir, stat } from 'node:fs/promises';
import { extname, join } from 'node:path';
import type { Campaign } from '../config/campaign.js';
import { ConfigError, type ApiCredentials } from '../config/env.js';
import type { Clock } from '../core/clock.js';
import { EXIT } from '../core/exit-codes.js';
import type { RkApi } from '../rk/types.js';
import { decideDue, type DueDecision } from '../schedule/due.js';
import { ScheduleRefusedError } from '../schedule/gate.js';
import type { QuotaReservations, QuotaSettings } from '../schedule/quota.js';
import type { Lease } from '../store/types.js';
import type { Store } from '../store/port.js';
import type { SweepEvent } from '../sweep/index.js';
import { runAndSweep, type RunAndSweepResult, type RunTuning } from './run-and-sweep.js';
import { CampaignLockedError, type RunEvent } from './run.js';

/** A campaign file read with its credentials; `projectId` groups campaigns that share a rate and a quota. */
export interface LoadedCampaign {
  campaign: Campaign;
  credentials: ApiCredentials;
  projectId: string;
}

/** A campaign the runner decided to run now. */
type DueNow = Extract<DueDecision, { due: true }>;

/**
 * Events of a `due` pass, in the order they happen: first one per campaign file (`not-due`, `campaign-invalid`,
 * or later `campaign-started`), then, for the campaigns started, their run and sweep events and how each ended.
 * Errors are handed over as thrown: what they mean to a person (and the exit code) is the caller's mapping.
 */
export type DueEvent =
  | { type: 'not-due'; campaign: string; why: Extract<DueDecision, { due: false }>['why']; reason: string; nextAt: number | null }
  /** The file cannot be loaded (or reuses another file's id); the others go on. */
  | { type: 'campaign-invalid'; file: string; error: unknown }
  | { type: 'campaign-started'; campaign: Campaign; file: string; decision: DueNow }
  | { type: 'run-event'; campaign: string; event: RunEvent }
  | { type: 'sweep-event'; campaign: string; event: SweepEvent }
  /** Run and sweep are over; `result.exitCode` is what `run` would have exited with. */
  | { type: 'campaign-finished'; campaign: Campaign; file: string; result: RunAndSweepResult }
  /** Another process holds the campaign's run lock: skipped, not an error. */
  | { type: 'campaign-locked'; campaign: string; holder: Lease }
  /** Past `end_at`: what was left is expired (an `expired` run event said so when there was any). */
  | { type: 'campaign-ended'; campaign: string; expired: number; message: string }
  | { type: 'campaign-failed'; campaign: string; error: unknown };

/**
 * How one campaign of the folder ended in a `due` pass. `exitCode` is the one that counts for `due`: a window
 * closing mid-run, a campaign running elsewhere and an expiry are normal for cron (0).
 */
export type DueOutcome =
  | { campaign: string; status: 'ran' | 'not-due' | 'locked' | 'expired'; exitCode: number; detail: string }
  /** `campaign` is the file when it could not be loaded. */
  | { campaign: string; status: 'error'; error: unknown };

/** What the `due` runner needs from the outside. */
export interface DueDeps {
  store: Store;
  clock: Clock;
  /** Loads a campaign file (as given in `files`) and its credentials; throws what loading throws. */
  load: (file: string) => Promise<LoadedCampaign>;
  /** The API client of a campaign's project: the caller keeps one per project and closes them. */
  apiFor: (loaded: LoadedCampaign) => RkApi;
  emit: (event: DueEvent) => void;
}

/** Options of one `due` pass. */
export interface DueOptions {
  /** The campaign files, as the user should see them (see `campaignFiles`). */
  files: readonly string[];
  /** Wait for a window that closes mid-run instead of ending that campaign's run. @default false */
  wait?: boolean;
  stopSignal: AbortSignal;
  abortSignal: AbortSignal;
  /** The monthly quota of a campaign's project (`quotaSettingsFor` with the environment). */
  quotaSettingsFor: (campaign: Campaign) => QuotaSettings;
  tuning?: RunTuning;
}

/** What a `due` pass did: one outcome per campaign file, and how many campaigns were due. */
export interface DueResult {
  outcomes: DueOutcome[];
  due: number;
}

/** Campaign files directly in `dir` (not recursive), sorted by name; `shown` names the folder in the error. */
export async function campaignFiles(dir: string, shown: string): Promise<string[]> {
  let names: string[];
  try {
    if (!(await stat(dir)).isDirectory()) throw Object.assign(new Error('not a directory'), { code: 'ENOTDIR' });
    names = await readdir(dir);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new ConfigError(
      `--dir ${shown}: expected a folder of campaign files, found ${code === 'ENOENT' ? 'nothing at that path' : code === 'ENOTDIR' ? 'a file' : `an unreadable path (${code ?? String(error)})`}.`,
      'Point --dir at the folder holding the campaign .yaml files, e.g. --dir campaigns',
    );
  }
  return names
    .filter((n) => ['.yaml', '.yml', '.json'].includes(extname(n).toLowerCase()) && !n.startsWith('.'))
    .sort()
    .map((n) => join(dir, n));
}

/**
 * One `due` pass, for cron or a systemd timer: every scheduled campaign of `files` that is due (started, inside its
 * window, not finished, not expired) is run concurrently in this process, each end to end as `run` does it (run
 * lock, frozen plan, checkpoints, quota, then a status sweep). Campaigns of one project share its rate through the
 * database's send slots (across processes too) and its quota through one reservation. A campaign another process
 * is running is skipped, not an error; a file that cannot be loaded is reported and the others go on.
 */
export async function runDue(deps: DueDeps, options: DueOptions): Promise<DueResult> {
  const { store, clock, emit } = deps;
  const outcomes: DueOutcome[] = [];
  const now = clock.now();
  const runs: { loaded: LoadedCampaign; file: string; decision: DueNow }[] = [];
  const seen = new Map<string, string>();
  for (const file of options.files) {
    try {
      const loaded = await deps.load(file);
      const { campaign } = loaded;
      const other = seen.get(campaign.id);
      if (other) {
        throw new ConfigError(
          `${file}: id "${campaign.id}" is already used by ${other}; two files cannot share one campaign's state.`,
          'Give each campaign file its own id.',
        );
      }
      seen.set(campaign.id, file);
      const decision = await decideDue(store, campaign, now);
      if (!decision.due) {
        outcomes.push({ campaign: campaign.id, status: 'not-due', exitCode: EXIT.ok, detail: decision.reason });
        emit({ type: 'not-due', campaign: campaign.id, why: decision.why, reason: decision.reason, nextAt: decision.nextAt });
        continue;
      }
      runs.push({ loaded, file, decision });
    } catch (error) {
      outcomes.push({ campaign: file, status: 'error', error });
      emit({ type: 'campaign-invalid', file, error });
    }
  }

  const reservations = new Map<string, QuotaReservations>();
  await Promise.all(
    runs.map(async ({ loaded, file, decision }) => {
      const { campaign, projectId } = loaded;
      const id = campaign.id;
      let shared = reservations.get(projectId);
      if (!shared) reservations.set(projectId, (shared = { reserved: 0 }));
      emit({ type: 'campaign-started', campaign, file, decision });
      try {
        const result = await runAndSweep({
          campaign,
          projectId,
          store,
          api: deps.apiFor(loaded),
          clock,
          emit: (event) => emit({ type: 'run-event', campaign: id, event }),
          emitSweep: (event) => emit({ type: 'sweep-event', campaign: id, event }),
          flags: { noWait: options.wait !== true },
          stopSignal: options.stopSignal,
          abortSignal: options.abortSignal,
          quotaSettings: options.quotaSettingsFor(campaign),
          quotaReservations: shared,
          ...(options.tuning ? { tuning: options.tuning } : {}),
          sweep: { untilFinal: false },
        });
        emit({ type: 'campaign-finished', campaign, file, result });
        // A window closing mid-run is normal for cron: the next pass continues.
        const code = result.exitCode === EXIT.notDue ? EXIT.ok : result.exitCode;
        outcomes.push({ campaign: id, status: 'ran', exitCode: code, detail: result.run.send?.reason ?? 'planned' });
      } catch (error) {
        if (error instanceof CampaignLockedError) {
          const h = error.holder;
          emit({ type: 'campaign-locked', campaign: id, holder: h });
          outcomes.push({ campaign: id, status: 'locked', exitCode: EXIT.ok, detail: `pid ${h.pid} on ${h.host}` });
        } else if (error instanceof ScheduleRefusedError && error.refusal === 'ended') {
          emit({ type: 'campaign-ended', campaign: id, expired: error.expired, message: error.message });
          outcomes.push({ campaign: id, status: 'expired', exitCode: EXIT.ok, detail: `${error.expired} expired` });
        } else {
          emit({ type: 'campaign-failed', campaign: id, error });
          outcomes.push({ campaign: id, status: 'error', error });
        }
      }
    }),
  );
  return { outcomes, due: runs.length };
}

import { stat } from 'node:fs/promises';
import type { Campaign } from '../config/campaign.js';
import type { Clock } from '../core/clock.js';
import { SUPPRESSED_AFTER_PLAN } from '../core/reasons.js';
import { loadSuppression, type Suppression } from '../ingest/suppression.js';
import type { CampaignRecords } from '../core/campaign-records.js';
import type { PlanWriter } from './ports.js';
import { hashFile, hashValue } from './fingerprint.js';

/** What applying changed suppression lists to a frozen plan did. */
export interface SuppressionUpdate {
  /** Rows still to be sent that became `suppressed`. */
  suppressed: number;
  /**
   * Numbers suppressed in the plan that the lists no longer hold. Only a replan may message them (a change that
   * adds recipients is the user's decision), so the plan's fingerprint keeps the old lists until then.
   */
  released: number;
}

/** Events of suppression updates, part of the plan stage's events. */
export type SuppressionEvent =
  | ({ type: 'suppression-applied'; when: 'start' | 'during-run' } & SuppressionUpdate)
  /** The lists changed during a run but could not be read or applied (e.g. saved half-way): the last good lists stay in force. */
  | { type: 'suppression-check-failed'; message: string };

/** What applying suppression needs. */
export interface SuppressionDeps {
  store: Pick<PlanWriter, 'applySuppression' | 'suppressedNumbers' | 'setPlanFingerprint'> & Pick<CampaignRecords, 'getCampaign'>;
  clock: Clock;
}

/** The fingerprint part of the suppression lists: the same hash `prepareCampaign` computes. */
export async function suppressionHash(files: readonly string[]): Promise<string> {
  return hashValue(await Promise.all(files.map(hashFile)));
}

/**
 * Applies suppression lists to a campaign's frozen plan without a replan: opting out can only take recipients
 * away, so it needs no operator. Every row of a listed number that could still be sent becomes `suppressed`; rows
 * in flight too when `inFlightToo` (only at the start of a run, before crash recovery, when a `sending` row is a
 * crashed attempt rather than a request of this process). When nothing was released, the plan's fingerprint takes
 * the new lists' hash, so the next run does not see a change.
 */
export async function applySuppressionUpdate(
  deps: SuppressionDeps,
  campaignId: string,
  suppression: Suppression,
  listsHash: string,
  options: { inFlightToo: boolean },
): Promise<SuppressionUpdate> {
  const { store, clock } = deps;
  const suppressed = await store.applySuppression(campaignId, suppression.numbers, SUPPRESSED_AFTER_PLAN, clock.now(), options);
  let released = 0;
  for (const phone of await store.suppressedNumbers(campaignId)) if (!suppression.numbers.has(phone)) released++;
  if (released === 0) {
    const record = await store.getCampaign(campaignId);
    if (record?.fingerprint && record.fingerprint.suppress !== listsHash) {
      await store.setPlanFingerprint(campaignId, { ...record.fingerprint, suppress: listsHash }, clock.now());
    }
  }
  return { suppressed, released };
}

/** Options of `watchSuppression`. */
export interface WatchSuppressionOptions {
  /** How often the lists are looked at (a `stat` of each file; read and hashed only when one changed). */
  intervalMs: number;
  /** The lists' hash the plan is known to reflect now. */
  appliedHash: string;
}

/**
 * Keeps a running campaign's plan in step with its suppression lists: every `intervalMs` (real time, like the
 * lease heartbeat: files change in real time) it looks at the files and applies a change at once, so an opt-out
 * that arrives on day 1 of a three-day campaign is honoured within a minute. Returns a function that stops it and
 * waits for a check in progress.
 */
export function watchSuppression(
  deps: SuppressionDeps & { emit: (event: SuppressionEvent) => void },
  campaign: Pick<Campaign, 'id' | 'suppress' | 'recipients'>,
  options: WatchSuppressionOptions,
): () => Promise<void> {
  if (campaign.suppress.length === 0) return async () => undefined;
  let appliedHash = options.appliedHash;
  let lastSeen = '';
  let lastProblem = '';
  let checking: Promise<void> = Promise.resolve();
  let stopped = false;

  const check = async (): Promise<void> => {
    try {
      const stats = await Promise.all(campaign.suppress.map((f) => stat(f)));
      const seen = stats.map((s) => `${s.ino}:${s.size}:${s.mtimeMs}`).join('|');
      if (seen === lastSeen) return;
      const hash = await suppressionHash(campaign.suppress);
      if (hash === appliedHash) {
        lastSeen = seen;
        return;
      }
      const suppression = await loadSuppression(campaign.suppress, campaign.recipients.defaultCountry);
      if (stopped) return;
      const update = await applySuppressionUpdate(deps, campaign.id, suppression, hash, { inFlightToo: false });
      lastSeen = seen;
      appliedHash = hash;
      lastProblem = '';
      deps.emit({ type: 'suppression-applied', when: 'during-run', ...update });
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      if (message !== lastProblem) deps.emit({ type: 'suppression-check-failed', message });
      lastProblem = message;
    }
  };

  const timer = setInterval(() => {
    checking = checking.then(check);
  }, options.intervalMs);
  timer.unref();
  return async () => {
    stopped = true;
    clearInterval(timer);
    await checking;
  };
}

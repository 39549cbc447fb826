import type { CampaignCounts, CampaignRecord } from '../store/types.js';

/**
 * The campaign records port: one row per campaign (name, project, plan fingerprint, how the last run stopped) and
 * its message counts. Declared here because every stage reads it (plan, send, sweep, report, schedule); each
 * consumer asks for the part it uses (`Pick<CampaignRecords, 'counts'>`).
 */
export interface CampaignRecords {
  getCampaign(id: string): Promise<CampaignRecord | undefined>;
  listCampaigns(): Promise<CampaignRecord[]>;
  /** Creates the campaign record if missing; returns it. Atomic: two processes creating one campaign get one row. */
  ensureCampaign(init: { id: string; name: string; projectId: string; sourcePath: string; now: number }): Promise<CampaignRecord>;
  /** Updates the given fields (`lastStopDetail` only with `lastStop`: a new stop replaces the old detail). One statement. */
  updateCampaign(
    id: string,
    patch: Partial<Pick<CampaignRecord, 'name' | 'sourcePath' | 'lastStop' | 'lastStopDetail' | 'finishedAt' | 'projectId'>>,
    now: number,
  ): Promise<void>;
  /** Counts by state and by API status, read in one snapshot (the totals add up). */
  counts(campaignId: string): Promise<CampaignCounts>;
}

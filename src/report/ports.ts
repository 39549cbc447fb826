import type { CampaignRecords } from '../core/campaign-records.js';
import type { ReportRow } from '../store/types.js';

/** What a report reads: the campaign, its counts and every row. Reads only. */
export interface ReportReader extends Pick<CampaignRecords, 'getCampaign' | 'counts'> {
  /** Every row of the campaign in CSV order (line, then id), streamed in pages of `pageSize`. */
  reportRows(campaignId: string, pageSize?: number): AsyncIterable<ReportRow>;
}

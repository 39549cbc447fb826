import type { CampaignRecord } from '../store/types.js';
import type { ReportReader } from './ports.js';
import { ReportError } from './record.js';

/** Where a report's rows come from and what the campaign file says about them. */
export interface ReportSource {
  store: ReportReader;
  campaignId: string;
  /** Display name from the campaign file; the stored name otherwise. */
  name?: string | undefined;
  /** The campaign's `report.columns`: CSV columns to include. Default: all but the phone column. */
  columns?: readonly string[] | undefined;
  /** The recipient CSV's phone column (`recipients.phone_column`); recognised from the rows when not given. */
  phoneColumn?: string | undefined;
  /** Values that must never appear in a report (the API secret); redacted from error messages. */
  secrets?: readonly string[] | undefined;
  /** Whether the campaign has media (`media_file`, `media_sha256` columns); recognised from the rows when not given. */
  media?: boolean | undefined;
  /** Whether the campaign has `variants` (`variant` column, per-variant table); recognised from the rows when not given. */
  variants?: boolean | undefined;
  /** The report's generation time, ms since the epoch. @default Date.now() */
  generatedAt?: number | undefined;
}

/** The campaign's stored record, or a ReportError saying there is nothing to report. */
export async function requireCampaign(source: ReportSource): Promise<CampaignRecord> {
  const campaign = await source.store.getCampaign(source.campaignId);
  if (!campaign) {
    throw new ReportError(
      `Campaign ${source.campaignId} has no state in this database: it was never run here.`,
      'Run it first (rk-broadcast run CAMPAIGN), or point --db at the database it was run with.',
    );
  }
  return campaign;
}

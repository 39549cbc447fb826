/**
 * The whole persistence port: the union of the role interfaces the stages declare beside themselves. Each adapter
 * (SqliteStore, PostgresStore) implements it; the composition root (src/store/factory.ts) opens one, and each stage
 * receives only the part it uses.
 */
import type { CampaignRecords } from '../core/campaign-records.js';
import type { Leases } from '../pipeline/ports.js';
import type { PlanWriter } from '../plan/ports.js';
import type { ReportReader } from '../report/ports.js';
import type { PendingZones, QuotaLedger } from '../schedule/ports.js';
import type { DeviceLedger, RateWindow, SendQueue } from '../send/ports.js';
import type { StatusLedger } from '../sweep/ports.js';

export type { CampaignRecords, DeviceLedger, Leases, PendingZones, PlanWriter, QuotaLedger, RateWindow, ReportReader, SendQueue, StatusLedger };

/** Everything the stages persist, with no SQL and no driver types in its signatures. */
export interface Store
  extends CampaignRecords,
    PlanWriter,
    SendQueue,
    RateWindow,
    DeviceLedger,
    StatusLedger,
    ReportReader,
    Leases,
    QuotaLedger,
    PendingZones {
  close(): Promise<void>;
}

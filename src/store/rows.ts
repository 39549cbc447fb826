/**
 * Rows of the `campaigns` and `leases` tables as both SQL adapters read them (the same column names in SQLite and
 * PostgreSQL), and their mapping onto the port's records: one mapping, so the two stores cannot drift.
 */
import type { CampaignRecord, Lease, PlanFingerprint } from './types.js';

/** A `campaigns` row; `plan_complete` is 0/1 in SQLite and a boolean in PostgreSQL. */
export interface CampaignRow {
  id: string;
  name: string;
  project_id: string;
  source_path: string;
  fingerprint: string | null;
  plan_generation: number;
  plan_complete: number | boolean;
  planned_at: number | null;
  first_send_at: number | null;
  last_send_at: number | null;
  finished_at: number | null;
  last_stop: string | null;
  last_stop_detail: string | null;
  updated_at: number;
}

/** A `leases` row. */
export interface LeaseRow {
  campaign_id: string;
  owner: string;
  pid: number;
  host: string;
  acquired_at: number;
  heartbeat_at: number;
}

/** A campaign's stored record. */
export function toCampaign(row: CampaignRow): CampaignRecord {
  return {
    id: row.id,
    name: row.name,
    projectId: row.project_id,
    sourcePath: row.source_path,
    fingerprint: row.fingerprint ? (JSON.parse(row.fingerprint) as PlanFingerprint) : null,
    planGeneration: row.plan_generation,
    planComplete: row.plan_complete === true || row.plan_complete === 1,
    plannedAt: row.planned_at,
    firstSendAt: row.first_send_at,
    lastSendAt: row.last_send_at,
    finishedAt: row.finished_at,
    lastStop: row.last_stop,
    lastStopDetail: row.last_stop_detail,
    updatedAt: row.updated_at,
  };
}

/** A lease as stored. */
export function toLease(row: LeaseRow): Lease {
  return {
    campaignId: row.campaign_id,
    owner: row.owner,
    pid: row.pid,
    host: row.host,
    acquiredAt: row.acquired_at,
    heartbeatAt: row.heartbeat_at,
  };
}

/** The quota ledger: what the monthly quota pre-flight counts. */
export interface QuotaLedger {
  /** Messages accepted for a project since `sinceMs` (every campaign of the project in this database). */
  acceptedSince(projectId: string, sinceMs: number): Promise<number>;
}

/** What `due` asks about the recipients still to send. */
export interface PendingZones {
  /** Distinct recipient zones (null: none given) of the rows still to send, for per-recipient windows. */
  pendingTimezones(campaignId: string): Promise<(string | null)[]>;
}

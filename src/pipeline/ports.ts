import type { Lease } from '../store/types.js';

/** Run locks: one runner at a time per campaign, on any machine sharing the state database. */
export interface Leases {
  /**
   * Takes the campaign's run lock, or returns the live holder. A lease whose heartbeat is older than `staleMs` is
   * taken over. Atomic: of two runners asking at once exactly one gets it.
   */
  acquireLease(lease: Omit<Lease, 'acquiredAt' | 'heartbeatAt'>, now: number, staleMs: number): Promise<{ acquired: true } | { acquired: false; holder: Lease }>;
  /** Renews the lease if `owner` still holds it; false when it was taken over. One guarded statement. */
  heartbeat(campaignId: string, owner: string, now: number): Promise<boolean>;
  /** Releases the lease if `owner` still holds it. One guarded statement. */
  releaseLease(campaignId: string, owner: string): Promise<void>;
  /** The campaign's lease as stored (live or stale), without taking it: for `list` and `status`. */
  getLease(campaignId: string): Promise<Lease | undefined>;
}

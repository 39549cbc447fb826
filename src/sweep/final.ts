/**
 * API statuses after which a message's delivery state no longer changes, as far as the sweep is concerned.
 *
 * - `delivered` and `failed` are the API's final states.
 * - `read` comes after `delivered` (the recipient opened it): nothing later is worth polling for.
 * - `unknown` is what the sweep records when the API answers 404 for a UUID it gave us; asking again would get
 *   the same answer.
 *
 * Any other status (`queued`, `sent`, or one this tool has never heard of) is kept verbatim and polled again.
 */
export const FINAL_API_STATUSES: readonly string[] = ['delivered', 'read', 'failed', 'unknown'];

/** True when the sweep stops polling a message with this API status. */
export function isFinalApiStatus(status: string | null): boolean {
  return status !== null && FINAL_API_STATUSES.includes(status);
}

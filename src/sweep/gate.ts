import type { Clock } from '../core/clock.js';
import type { RateWindow } from '../send/ports.js';

/**
 * Called before every status request. Resolves when the request may leave (it may wait as long as it needs),
 * optionally with a function to call once the request has been answered or has failed. Resolving after `signal`
 * aborted is fine: the sweep then drops the request.
 */
export type StatusCallGate = (signal: AbortSignal) => Promise<void | (() => void | Promise<void>)>;

/** Where `sendSlotGate` counts status calls. */
export interface SendSlotGateOptions {
  store: RateWindow;
  clock: Clock;
  /** The project whose send budget the status calls share (see `projectIdFor`). */
  projectId: string;
  /** The project's rate, as the senders use it. */
  ratePerMinute: number;
}

/**
 * A gate that counts every status call as a send in the project's shared window (`Store.reserveSendSlot`), for
 * when a sweep runs while the same project is sending: the API does not document whether status calls count
 * against the rate limit, so this is the cautious choice. Without it the sweep only obeys its own rate.
 */
export function sendSlotGate(options: SendSlotGateOptions): StatusCallGate {
  const { store, clock, projectId, ratePerMinute } = options;
  const minSpacingMs = Math.ceil(60_000 / ratePerMinute);
  return async (signal) => {
    for (;;) {
      if (signal.aborted) return;
      const now = clock.now();
      const reserved = await store.reserveSendSlot(projectId, now, ratePerMinute, minSpacingMs);
      if ('slot' in reserved) {
        return () => store.releaseSendSlot(reserved.slot, clock.now());
      }
      await clock.sleep(Math.max(1, reserved.retryAt - now), signal);
    }
  };
}

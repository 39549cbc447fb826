/**
 * A view of a store whose send-path transitions are fenced by one campaign's lease (see LeaseFence): the sender
 * gets this view instead of the store and stays unaware of leases. Every other method is the store's own.
 */
import type { Store } from './port.js';
import type { LeaseFence } from './types.js';

/** The transitions of the send path: each one passes the fence as its last argument. */
const FENCED = {
  markSending: 3,
  markAccepted: 4,
  markRetry: 5,
  markRejected: 3,
  markFailedToSend: 3,
} as const satisfies Partial<Record<keyof Store, number>>;

/**
 * `store` with `markSending`, `markAccepted`, `markRetry`, `markRejected` and `markFailedToSend` conditional on
 * `fence.owner` still holding `fence.campaignId`'s lease (LeaseLostError otherwise, nothing changed).
 */
export function fencedStore(store: Store, fence: LeaseFence): Store {
  return new Proxy(store, {
    get(target, prop) {
      const value: unknown = Reflect.get(target, prop, target);
      if (typeof value !== 'function') return value;
      const arity = (FENCED as Record<PropertyKey, number>)[prop];
      // Bound to the store itself: its private fields are not reachable through the proxy.
      if (arity === undefined) return (value as (...a: unknown[]) => unknown).bind(target);
      return (...args: unknown[]) => {
        const given = Array.from({ length: arity }, (_, i) => args[i]);
        return (value as (...a: unknown[]) => unknown).apply(target, [...given, fence]);
      };
    },
  });
}

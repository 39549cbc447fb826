/**
 * A view of a store whose send-path transitions are fenced by one campaign's lease (see LeaseFence): the sender
 * gets this view instead of the store and stays unaware of leases. Every other method is the store's own.
 */
import type { Store } from './port.js';
import type { LeaseFence } from './types.js';

/** The transitions of the send path, which take a fence as their last argument. */
type FencedTransitions = Pick<Store, 'markSending' | 'markAccepted' | 'markRetry' | 'markRejected' | 'markFailedToSend'>;

/**
 * `store` with `markSending`, `markAccepted`, `markRetry`, `markRejected` and `markFailedToSend` conditional on
 * `fence.owner` still holding `fence.campaignId`'s lease (LeaseLostError otherwise, nothing changed).
 */
export function fencedStore(store: Store, fence: LeaseFence): Store {
  // Typed against the port, so a parameter added to a transition cannot silently take the fence's place.
  const fenced: FencedTransitions = {
    markSending: (id, now, device) => store.markSending(id, now, device, fence),
    markAccepted: (id, uuid, apiStatus, now) => store.markAccepted(id, uuid, apiStatus, now, fence),
    markRetry: (id, error, nextAttemptAt, now, how) => store.markRetry(id, error, nextAttemptAt, now, how, fence),
    markRejected: (id, error, now) => store.markRejected(id, error, now, fence),
    markFailedToSend: (id, error, now) => store.markFailedToSend(id, error, now, fence),
  };
  const bound = new Map<PropertyKey, unknown>();
  return new Proxy(store, {
    get(target, prop) {
      if (Object.hasOwn(fenced, prop)) return fenced[prop as keyof FencedTransitions];
      const value: unknown = Reflect.get(target, prop, target);
      if (typeof value !== 'function') return value;
      // Bound to the store itself (its private fields are not reachable through the proxy), once per method.
      let method = bound.get(prop);
      if (method === undefined) bound.set(prop, (method = (value as (...a: unknown[]) => unknown).bind(target)));
      return method;
    },
  });
}

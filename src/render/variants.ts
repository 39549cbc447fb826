import { hash } from 'node:crypto';

/** A variant as the assignment sees it: its name and its relative weight. */
export interface WeightedVariant {
  name: string;
  weight: number;
}

/**
 * Salt of the variant draw. `pick` hashes the request id with the call's position (src/render/helpers.ts), so a
 * different salt here keeps the variant a recipient gets independent of every choice `pick` makes for them.
 */
const VARIANT_SALT = 'rk-broadcast/variant/v1\n';

/**
 * A uniform number in [0, 1) from a request id: the first 52 bits of SHA-256(salt + id). A pure function of the
 * id (itself a function of the campaign id and the number), so a resend after a crash, a replan, or the same
 * campaign run against another database gives every recipient the same variant.
 */
export function variantDraw(requestId: string): number {
  const hex = hash('sha256', VARIANT_SALT + requestId, 'hex');
  return parseInt(hex.slice(0, 13), 16) / 2 ** 52;
}

/**
 * Index of the variant a recipient gets: the draw falls into one slice of [0, total weight), each variant's slice
 * as wide as its weight. Over many recipients the shares approach weight / total.
 */
export function assignVariant(requestId: string, variants: readonly WeightedVariant[]): number {
  if (variants.length <= 1) return 0;
  let total = 0;
  for (const v of variants) total += v.weight;
  const point = variantDraw(requestId) * total;
  let upTo = 0;
  for (let i = 0; i < variants.length; i++) {
    upTo += variants[i]!.weight;
    if (point < upTo) return i;
  }
  return variants.length - 1;
}

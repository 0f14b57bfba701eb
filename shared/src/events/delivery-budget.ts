/**
 * How long one callback delivery can take at most (lambdas/src/dispatch/webhook-client.ts): every attempt
 * at the callback URL times out, with the backoff between them, then the fallback URL's single attempt
 * does too, plus the reads and writes around them. The dispatcher's claim on an event lasts this long,
 * and the dispatcher Lambda's timeout covers it for the contract's largest settings.
 */

/** webhook-client.ts backs off at most this long between attempts. */
export const MAX_BACKOFF_MS = 1_000;
/** Reading the tenant, opening sealed fields, writing the reply and journal items, a cold start. */
export const DELIVERY_OVERHEAD_MS = 15_000;
/** The contract's upper bounds (shared/src/contracts/rest.ts: callbackTimeoutMs ≤ 15000, callbackRetries ≤ 5). */
export const MAX_CALLBACK_TIMEOUT_MS = 15_000;
export const MAX_CALLBACK_RETRIES = 5;

/** The worst case of one delivery of `callbacks` callbacks (a callback and the notifications it carries). */
export function deliveryWorstCaseMs(callbackTimeoutMs: number, callbackRetries: number, callbacks = 1): number {
  const attempts = callbackRetries + 1;
  const perCallback = callbackTimeoutMs * attempts + MAX_BACKOFF_MS * callbackRetries + callbackTimeoutMs;
  return perCallback * callbacks + DELIVERY_OVERHEAD_MS;
}

/** The longest a delivery may take: one callback at the contract's largest settings (the Lambda's timeout). */
export const LONGEST_DELIVERY_MS = deliveryWorstCaseMs(MAX_CALLBACK_TIMEOUT_MS, MAX_CALLBACK_RETRIES);

/** At most this many notifications ride with a later callback of their session (envelope.ts, `carried`). */
export const MAX_CARRIED = 4;

/**
 * Whether a delivery of `callbacks` callbacks at the tenant's settings fits within the longest one a
 * delivery may take: a callback carries earlier notifications only then.
 */
export function carriedDeliveryFits(callbackTimeoutMs: number, callbackRetries: number, callbacks: number): boolean {
  return (
    callbacks - 1 <= MAX_CARRIED &&
    deliveryWorstCaseMs(callbackTimeoutMs, callbackRetries, callbacks) <= LONGEST_DELIVERY_MS
  );
}

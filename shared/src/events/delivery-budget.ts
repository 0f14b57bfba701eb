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

export function deliveryWorstCaseMs(callbackTimeoutMs: number, callbackRetries: number): number {
  const attempts = callbackRetries + 1;
  return callbackTimeoutMs * attempts + MAX_BACKOFF_MS * callbackRetries + callbackTimeoutMs + DELIVERY_OVERHEAD_MS;
}

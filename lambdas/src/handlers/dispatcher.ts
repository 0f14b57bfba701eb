import { parseOrReason } from '@sipms/shared/contracts/validate';
import { TtlCache } from '@sipms/shared/data/ttl-cache';
import type { TenantRecord } from '@sipms/shared/domain/tenant';
import { type BusEvent, CallbackEnvelope } from '@sipms/shared/events/envelope';
import { AddressPolicy } from '@sipms/shared/net/address-policy';
import type { Context } from 'aws-lambda';
import { controlPlane } from '../composition-root.js';
import { dispatchCallback } from '../dispatch/dispatch-callback.js';

/** The tenant for every callback: a changed URL or a rotated secret applies within 2 s (the previous secret stays valid 24 h). */
let tenantCache: TtlCache<TenantRecord | undefined> | undefined;
let addresses: AddressPolicy | undefined;

/**
 * An event this old that finds a live claim is not a concurrent duplicate: it is the platform's retry
 * after a delivery failed (Lambda retries a failed asynchronous invocation after one minute, then two).
 * Its holder may have died with a lease longer than that minute; failing this invocation gets the
 * event one more retry, two minutes later, when the longest lease has run out (docs/callback-delivery.md).
 */
export const RETRY_AGE_MS = 30_000;

/**
 * EventBridge target of the `callbacks-to-dispatcher` rule. Every log line of the invocation carries its
 * awsRequestId (when Lambda gives a context; the local bus does not); those of the delivery also the event's
 * eventId, sessionId, tenantId and traceId. The invocation's metrics and spans are flushed when it ends, thrown or not.
 */
export async function handler(event: BusEvent, context?: Context): Promise<void> {
  const cp = controlPlane();
  try {
    await dispatch(event, cp, context?.awsRequestId);
  } finally {
    cp.metrics.flush();
    // On Lambda, before the process is frozen (a frozen batch would be sent minutes later, or never).
    await cp.tracer.invocationEnded();
  }
}

async function dispatch(
  event: BusEvent,
  cp: ReturnType<typeof controlPlane>,
  awsRequestId: string | undefined,
): Promise<void> {
  const logger = awsRequestId ? cp.logger.child({ awsRequestId }) : cp.logger;
  tenantCache ??= new TtlCache((id) => cp.tenants.get(id));
  addresses ??= AddressPolicy.fromSettings(cp.config.CALLBACK_URL_POLICY, cp.config.OUTBOUND_ALLOW_CIDRS);
  const parsed = parseOrReason(CallbackEnvelope, event.detail);
  if (!parsed.ok) {
    // Retrying cannot fix a malformed event; log it for the operator and let it go.
    logger.error({ eventId: event.id, reason: parsed.reason }, 'malformed callback event dropped');
    return;
  }
  const env = parsed.value;
  const result = await dispatchCallback(env, {
    tenants: tenantCache,
    sessions: cp.sessions,
    urlPolicy: cp.config.CALLBACK_URL_POLICY,
    addresses,
    secrets: cp.secrets,
    logger,
    metrics: cp.metrics,
    tracer: cp.tracer,
    slowCallbacks: cp.slowCallbacks,
  });
  const age = Date.now() - Date.parse(env.time);
  if (result.status === 'duplicate' && result.reason === 'claim-held' && age >= RETRY_AGE_MS) {
    throw new Error(`callback ${env.id} is claimed by a delivery that may have died; retry once its lease runs out`);
  }
}

import { CALLBACK_REPLIES, FALLBACK_REPLIES } from '@sipms/shared/contracts/callbacks';
import { parseOrReason } from '@sipms/shared/contracts/validate';
import type { SecretBox } from '@sipms/shared/crypto/secret-box';
import type { SessionStore } from '@sipms/shared/data/session-store';
import type { SlowCallbackSlots } from '@sipms/shared/data/slow-callback-slots';
import type { TenantStore } from '@sipms/shared/data/tenant-store';
import { activeSecrets, type TenantRecord } from '@sipms/shared/domain/tenant';
import { messageOf } from '@sipms/shared/errors';
import { deliveryWorstCaseMs } from '@sipms/shared/events/delivery-budget';
import type { CallbackEnvelope } from '@sipms/shared/events/envelope';
import { openSealedFields, redactPayload, type SensitivePath } from '@sipms/shared/events/sensitive-fields';
import { AddressPolicy } from '@sipms/shared/net/address-policy';
import { type CallbackUrlPolicy, checkCallbackUrl } from '@sipms/shared/net/callback-url-policy';
import { type Tracer, type TraceSpan, UNRECORDED_TRACER } from '@sipms/shared/observability/tracing';
import { randomId } from '@sipms/shared/util/ids';
import type { Logger } from '@sipms/shared/util/logger';
import { type CallbackMetric, type CallbackMetrics, NO_METRICS } from '../observability/metrics.js';
import { postSignedCallback, type WebhookAttempt, webhookTimeOf } from './webhook-client.js';

export interface DispatchDeps {
  tenants: Pick<TenantStore, 'get'>;
  sessions: SessionStore;
  urlPolicy: CallbackUrlPolicy;
  /** The outbound address policy (operator-allowed ranges); by default, what `urlPolicy` implies. */
  addresses?: AddressPolicy;
  /** Opens the fields the node sealed (`dtmf.sensitive`); without it such a callback gets the defined fallback. */
  secrets?: Pick<SecretBox, 'open'> | undefined;
  logger: Logger;
  /** Counts each handled callback by outcome (docs/operations.md); none by default. */
  metrics?: CallbackMetrics;
  /** Records the delivery's span (none: its id and traceparent are still made). */
  tracer?: Tracer;
  /** The per-tenant cap on slow callbacks in flight (docs/callback-delivery.md); no cap without it. */
  slowCallbacks?: SlowCallbackCap;
}

export interface SlowCallbackCap {
  slots: Pick<SlowCallbackSlots, 'acquire' | 'release'>;
  /** A delivery waiting on the tenant's webhook longer than this takes a slot (SLOW_CALLBACK_MS). */
  afterMs: number;
  /** The tenant's maxSlowCallbacks (its own limit, else the deployment's). */
  limitFor(tenant: TenantRecord): number;
}

/** What the node does when a callback has no valid reply (docs/callback-delivery.md), for the journal. */
const FALLBACK_DESCRIPTIONS: Partial<Record<CallbackEnvelope['type'], string>> = {
  newCall: 'the defined fallback: the call is rejected with 480',
  getIvrCommand: 'the defined fallback: an apology in TTS, then hang-up',
  callEvent: 'the defined fallback: default handling ({})',
};

type Validated = { ok: true; reply: unknown } | { ok: false; reason: string };

function validateReply(type: CallbackEnvelope['type'], expectsReply: boolean, body: string): Validated {
  if (!expectsReply) return { ok: true, reply: {} };
  let parsed: unknown;
  try {
    parsed = body.trim() === '' ? {} : JSON.parse(body);
  } catch (err) {
    return { ok: false, reason: `reply is not valid JSON: ${messageOf(err)}` };
  }
  const schema = CALLBACK_REPLIES[type as keyof typeof CALLBACK_REPLIES];
  if (!schema) return { ok: true, reply: parsed };
  const r = parseOrReason(schema, parsed);
  return r.ok ? { ok: true, reply: r.value } : { ok: false, reason: `reply fails the schema: ${r.reason}` };
}

/** What one delivery did: delivered (an outcome stored, or found stored by a concurrent one), or nothing. */
export type DispatchResult =
  | { status: 'delivered'; outcome: 'reply' | 'fallback' }
  /** A duplicate: another delivery holds a live claim on the event, or its outcome is already stored. */
  | { status: 'duplicate'; reason: 'claim-held' | 'outcome-stored' };

/**
 * Delivers one callback: signed POST to callbackUrl with retries, then fallbackUrl once, then the
 * defined fallback. The validated reply (or the fallback and why) is stored once on the session.
 *
 * At-least-once buses deliver an event twice now and then, sometimes at the same moment: the event is
 * claimed first (a conditional write with a lease as long as this delivery can take), so only the holder
 * calls the webhook. A holder that fails before storing the outcome gives the claim back; one that dies
 * leaves it to run out, after which a redelivery takes it over.
 */
export async function dispatchCallback(env: CallbackEnvelope, deps: DispatchDeps): Promise<DispatchResult> {
  // This delivery is a span of the call's trace, a child of the callback's (a new trace for an event that
  // carried none); its traceparent is what the tenant receives.
  const span = (deps.tracer ?? UNRECORDED_TRACER).startSpan(`webhook ${env.type}`, {
    parent: env.traceparent,
    kind: 'client',
    attributes: { 'sipms.event_id': env.id, 'sipms.callback': env.type, 'sipms.seq': env.seq },
  });
  try {
    return await claimAndDeliver(env, deps, span);
  } catch (err) {
    span.fail(messageOf(err));
    throw err;
  } finally {
    span.end();
  }
}

async function claimAndDeliver(env: CallbackEnvelope, deps: DispatchDeps, span: TraceSpan): Promise<DispatchResult> {
  const log = deps.logger.child({
    eventId: env.id,
    sessionId: env.sessionId,
    tenantId: env.tenantId,
    traceId: span.traceId,
    type: env.type,
  });
  const count = (
    m: Pick<CallbackMetric, 'outcome' | 'latencyMs' | 'webhookAttempts'>,
    callback: { type: CallbackEnvelope['type']; eventId: string } = { type: env.type, eventId: env.id },
  ) =>
    (deps.metrics ?? NO_METRICS).callback({
      outcome: m.outcome,
      latencyMs: m.latencyMs,
      webhookAttempts: m.webhookAttempts,
      callbackType: callback.type,
      tenantId: env.tenantId,
      sessionId: env.sessionId,
      eventId: callback.eventId,
    });
  const started = Date.now();
  const tenant = await deps.tenants.get(env.tenantId);
  const holder = randomId('d', 12);
  const callbacks = 1 + (env.carried?.length ?? 0);
  const leaseMs = deliveryWorstCaseMs(tenant?.callbackTimeoutMs ?? 0, tenant?.callbackRetries ?? 0, callbacks);
  const claim = await deps.sessions.claimDelivery(env.sessionId, env.id, { holder, leaseMs });
  if (!claim) {
    log.info({}, 'duplicate delivery ignored: another delivery holds a live claim on this event');
    span.setAttributes({ 'sipms.outcome': 'duplicate' });
    count({ outcome: 'duplicate' });
    return { status: 'duplicate', reason: 'claim-held' };
  }
  try {
    // A claim taken over once an earlier holder's lease ran out may find that holder's outcome here.
    if (claim.takenOver && (await deps.sessions.getReply(env.sessionId, env.id))) {
      log.info({}, 'duplicate delivery ignored: outcome already stored');
      span.setAttributes({ 'sipms.outcome': 'duplicate' });
      count({ outcome: 'duplicate' });
      return { status: 'duplicate', reason: 'outcome-stored' };
    }
    const result = await deliver(env, tenant, deps, log, started, span, { holder, leaseEndsAt: started + leaseMs });
    for (const c of result.carried) count(c, c);
    count(result);
    return { status: 'delivered', outcome: result.outcome };
  } catch (err) {
    // No outcome stored: the claim goes back at once, so the bus's redelivery need not wait for the lease.
    await deps.sessions
      .releaseDelivery(env.sessionId, env.id, holder)
      .catch((releaseErr) =>
        log.warn({ err: releaseErr }, 'delivery claim not given back; a redelivery waits for its lease to run out'),
      );
    throw err;
  }
}

async function deliver(
  env: CallbackEnvelope,
  tenant: TenantRecord | undefined,
  deps: DispatchDeps,
  log: Logger,
  started: number,
  span: TraceSpan,
  claim: { holder: string; leaseEndsAt: number },
): Promise<Posted & { carried: CarriedPosted[] }> {
  const slow = watchSlowDelivery(env, tenant, deps.slowCallbacks, claim, log);
  try {
    // Notifications the callback carries go first, in order, each its own POST, span and journal entry.
    const carried: CarriedPosted[] = [];
    const { sealed: _sealed, traceparent: _traceparent, carried: _carried, ...common } = env;
    let since = started;
    for (const c of env.carried ?? []) {
      const one: CallbackEnvelope = { ...common, ...c, expectsReply: false };
      const childSpan = (deps.tracer ?? UNRECORDED_TRACER).startSpan(`webhook ${c.type}`, {
        parent: c.traceparent,
        kind: 'client',
        attributes: { 'sipms.event_id': c.id, 'sipms.callback': c.type, 'sipms.seq': c.seq },
      });
      const childLog = log.child({ eventId: c.id, type: c.type, carriedBy: env.id });
      try {
        carried.push({
          ...(await postCallback(one, tenant, deps, childLog, since, childSpan, slow)),
          type: c.type,
          eventId: c.id,
        });
      } finally {
        childSpan.end();
      }
      since = Date.now();
    }
    const main = await postCallback(env, tenant, deps, log, since, span, slow);
    slow.stop();
    // The node waits on the last outcome for the whole delivery: its webhook time counts every POST.
    const webhookMs = carried.reduce((sum, c) => sum + (c.stored.record.webhookMs ?? 0), 0);
    main.stored.record.webhookMs = (main.stored.record.webhookMs ?? 0) + webhookMs;
    // One request, one item: the outcome the node waits on (for its reply, or to keep seq order) with every
    // callback's journal entry.
    await deps.sessions.storeOutcomes(env.sessionId, [...carried.map((c) => c.stored), main.stored]);
    return { ...main, carried };
  } finally {
    await slow.end();
  }
}

interface StoredOutcome {
  record: Parameters<SessionStore['storeOutcome']>[1];
  entry: Parameters<SessionStore['storeOutcome']>[2];
}

/** One callback's POST (with retries and the fallback URL) and the outcome to store for it. */
interface Posted {
  outcome: 'reply' | 'fallback';
  latencyMs: number;
  webhookAttempts: number;
  stored: StoredOutcome;
}

type CarriedPosted = Posted & { type: CallbackEnvelope['type']; eventId: string };

interface SlowWatch {
  /** Aborted when the tenant has no slow-callback slot left; the reason says why. */
  signal: AbortSignal;
  /** The webhook request is about to be sent: the clock starts (once; later calls do nothing). */
  start(): void;
  /** The webhook has answered or failed: the clock stops, and a slot not yet taken never will be. */
  stop(): void;
  /** Gives back the slot, if one was taken. */
  end(): Promise<void>;
}

/**
 * Once a delivery has waited `afterMs` on the tenant's webhook it takes one of the tenant's slow-callback
 * slots; when none is left the delivery stops at once (the abort reason says why) and the defined fallback
 * is used. A failure of the table is logged and the delivery goes on uncounted: the cap protects the other
 * tenants, and refusing this tenant's callback because the table hiccupped would protect no one.
 *
 * Only the webhook's time counts: the clock runs from the first request to the last answer, and when it
 * rings the event loop first reads what is pending (`setImmediate` runs after the poll phase). A dispatcher
 * that is itself slow — its loop busy, its table requests queued — would otherwise blame a fast webhook,
 * and the slot requests that follow would make it slower still.
 */
function watchSlowDelivery(
  env: CallbackEnvelope,
  tenant: TenantRecord | undefined,
  cap: SlowCallbackCap | undefined,
  claim: { holder: string; leaseEndsAt: number },
  log: Logger,
): SlowWatch {
  const controller = new AbortController();
  const none = (): void => undefined; // no cap, or no tenant (nothing is delivered): nothing to time
  if (!cap || !tenant) return { signal: controller.signal, start: none, stop: none, end: () => Promise.resolve() };
  const limit = cap.limitFor(tenant);
  let state: 'idle' | 'running' | 'stopped' = 'idle';
  let held = false;
  let timer: NodeJS.Timeout | undefined;
  let taking: Promise<void> | undefined;
  const take = () => {
    if (state !== 'running') return;
    taking = cap.slots.acquire(env.tenantId, claim.holder, claim.leaseEndsAt, limit).then(
      (ok) => {
        if (ok) held = true;
        else
          controller.abort(
            new Error(
              `${limit} of the tenant's callbacks already wait longer than ${cap.afterMs} ms on its webhook (maxSlowCallbacks)`,
            ),
          );
      },
      (err) => log.error({ err }, 'slow-callback slot not taken; this delivery goes on uncounted'),
    );
  };
  const stop = () => {
    state = 'stopped';
    clearTimeout(timer);
  };
  return {
    signal: controller.signal,
    start() {
      if (state !== 'idle') return;
      state = 'running';
      timer = setTimeout(() => setImmediate(take), cap.afterMs);
    },
    stop,
    async end() {
      stop();
      await taking;
      if (!held) return;
      await cap.slots
        .release(env.tenantId, claim.holder)
        .catch((err) => log.warn({ err }, 'slow-callback slot not given back; it frees itself when the lease ends'));
    },
  };
}

async function postCallback(
  env: CallbackEnvelope,
  tenant: TenantRecord | undefined,
  deps: DispatchDeps,
  log: Logger,
  started: number,
  span: TraceSpan,
  slow: SlowWatch,
): Promise<Posted> {
  const { signal } = slow;
  const addresses = deps.addresses ?? AddressPolicy.fromSettings(deps.urlPolicy);
  const attempts: WebhookAttempt[] = [];
  const failures: string[] = [];
  let accepted: { reply: unknown; status: number; url: string } | undefined;
  const sealedPaths = Object.keys(env.sealed ?? {}) as SensitivePath[];
  // The journal keeps the payload as the bus carried it: sealed fields read "***" there.
  const journaledRequest = redactPayload(env.payload, sealedPaths);
  const traceparent = span.traceparent;

  const targets = [
    { url: tenant?.callbackUrl, retries: tenant?.callbackRetries ?? 0, label: 'callbackUrl' },
    { url: tenant?.fallbackUrl, retries: 0, label: 'fallbackUrl' },
  ];
  if (!tenant) failures.push('tenant not found');
  else if (!tenant.callbackUrl) failures.push('no callbackUrl configured');

  // The body the tenant receives: sealed fields opened just before signing, and kept in no log or record.
  let rawBody: string | undefined;
  if (tenant?.callbackUrl || tenant?.fallbackUrl) {
    try {
      const ids = { tenantId: env.tenantId, eventId: env.id };
      rawBody = JSON.stringify(await openSealedFields(env.payload, env.sealed, deps.secrets, ids));
    } catch (err) {
      log.error({ err, sealed: sealedPaths }, 'sealed callback fields cannot be opened; nothing is sent');
      failures.push(`sealed fields cannot be opened: ${messageOf(err)}`);
    }
  }

  // Stopped by the slow-callback cap while an earlier callback of this delivery waited: this one is not sent.
  if (signal.aborted && rawBody !== undefined) failures.push(`stopped: ${messageOf(signal.reason)}`);
  for (const target of targets) {
    // A delivery stopped by the slow-callback cap does not try the fallback URL (often the same slow server).
    if (!tenant || !target.url || accepted || rawBody === undefined || signal.aborted) continue;
    const url = `${target.url.replace(/\/+$/, '')}/${env.type}`;
    try {
      // Names are checked again where it matters, at connect time (guarded lookup): no DNS round trip here.
      await checkCallbackUrl(url, deps.urlPolicy, target.label, { resolve: false, addresses });
    } catch (err) {
      failures.push(`${target.label} refused: ${(err as Error).message}`);
      continue;
    }
    slow.start();
    const outcome = await postSignedCallback({
      url,
      eventId: env.id,
      traceparent,
      rawBody,
      secrets: activeSecrets(tenant),
      timeoutMs: tenant.callbackTimeoutMs,
      retries: target.retries,
      policy: deps.urlPolicy,
      addresses,
      firstAttempt: attempts.length + 1,
      logger: log,
      tenantId: env.tenantId,
      signal,
    });
    attempts.push(...outcome.attempts);
    if (!outcome.ok) {
      failures.push(`${target.label}: ${outcome.reason}`);
      continue;
    }
    const validated = validateReply(env.type, env.expectsReply, outcome.body);
    if (validated.ok) accepted = { reply: validated.reply, status: outcome.status, url };
    else
      failures.push(
        `${target.label}: attempt ${attempts.at(-1)?.attempt ?? '?'} answered ${outcome.status}: ${validated.reason}`,
      );
  }

  const reason = accepted ? undefined : failures.join('; ');
  const fallback = FALLBACK_REPLIES[env.type as keyof typeof FALLBACK_REPLIES] ?? {};
  const latencyMs = Date.now() - started;
  const at = new Date().toISOString();
  const stored: StoredOutcome = {
    record: {
      eventId: env.id,
      outcome: accepted ? 'reply' : 'fallback',
      reply: accepted ? accepted.reply : fallback,
      ...(reason ? { reason } : {}),
      at,
      // The tenant's share of the wait: the overload guard counts the rest as the platform's.
      webhookMs: attempts.reduce((sum, a) => sum + webhookTimeOf(a), 0),
    },
    entry: {
      at,
      kind: 'callback',
      callback: env.type,
      eventId: env.id,
      seq: env.seq,
      traceId: span.traceId,
      traceparent,
      request: journaledRequest,
      ...(sealedPaths.length > 0 ? { redacted: sealedPaths } : {}),
      ...(accepted
        ? { reply: accepted.reply, httpStatus: accepted.status }
        : { fallback: true, reason, ranInstead: FALLBACK_DESCRIPTIONS[env.type] ?? 'nothing (a reply is not used)' }),
      attempts,
      latencyMs,
    },
  };
  span.setAttributes({ 'sipms.outcome': accepted ? 'reply' : 'fallback', 'sipms.webhook_attempts': attempts.length });
  if (accepted) span.setAttributes({ 'http.response.status_code': accepted.status });
  if (reason) {
    span.fail(reason);
    log.warn({ reason, attempts: attempts.length }, 'callback failed; defined fallback used');
  }
  return { outcome: accepted ? 'reply' : 'fallback', latencyMs, webhookAttempts: attempts.length, stored };
}

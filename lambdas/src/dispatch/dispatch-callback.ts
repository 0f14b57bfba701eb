import { CALLBACK_REPLIES, FALLBACK_REPLIES } from '@sipms/shared/contracts/callbacks';
import { parseOrReason } from '@sipms/shared/contracts/validate';
import type { SessionStore } from '@sipms/shared/data/session-store';
import type { TenantStore } from '@sipms/shared/data/tenant-store';
import { activeSecrets } from '@sipms/shared/domain/tenant';
import { messageOf } from '@sipms/shared/errors';
import type { CallbackEnvelope } from '@sipms/shared/events/envelope';
import { AddressPolicy } from '@sipms/shared/net/address-policy';
import { type CallbackUrlPolicy, checkCallbackUrl } from '@sipms/shared/net/callback-url-policy';
import type { Logger } from '@sipms/shared/util/logger';
import { postSignedCallback, type WebhookAttempt } from './webhook-client.js';

export interface DispatchDeps {
  tenants: Pick<TenantStore, 'get'>;
  sessions: SessionStore;
  urlPolicy: CallbackUrlPolicy;
  /** The outbound address policy (operator-allowed ranges); by default, what `urlPolicy` implies. */
  addresses?: AddressPolicy;
  logger: Logger;
}

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

/**
 * Delivers one callback: signed POST to callbackUrl with retries, then fallbackUrl once, then the
 * defined fallback. The validated reply (or the fallback and why) is stored once on the session.
 */
export async function dispatchCallback(env: CallbackEnvelope, deps: DispatchDeps): Promise<void> {
  const log = deps.logger.child({ eventId: env.id, sessionId: env.sessionId, type: env.type });
  const addresses = deps.addresses ?? AddressPolicy.fromSettings(deps.urlPolicy);
  const started = Date.now();
  if (await deps.sessions.getReply(env.sessionId, env.id)) {
    log.info({}, 'duplicate delivery ignored: outcome already stored');
    return;
  }
  const tenant = await deps.tenants.get(env.tenantId);
  const rawBody = JSON.stringify(env.payload);
  const attempts: WebhookAttempt[] = [];
  const failures: string[] = [];
  let accepted: { reply: unknown; status: number; url: string } | undefined;

  const targets = [
    { url: tenant?.callbackUrl, retries: tenant?.callbackRetries ?? 0, label: 'callbackUrl' },
    { url: tenant?.fallbackUrl, retries: 0, label: 'fallbackUrl' },
  ];
  if (!tenant) failures.push('tenant not found');
  else if (!tenant.callbackUrl) failures.push('no callbackUrl configured');

  for (const target of targets) {
    if (!tenant || !target.url || accepted) continue;
    const url = `${target.url.replace(/\/+$/, '')}/${env.type}`;
    try {
      // Names are checked again where it matters, at connect time (guarded lookup): no DNS round trip here.
      await checkCallbackUrl(url, deps.urlPolicy, target.label, { resolve: false, addresses });
    } catch (err) {
      failures.push(`${target.label} refused: ${(err as Error).message}`);
      continue;
    }
    const outcome = await postSignedCallback({
      url,
      eventId: env.id,
      rawBody,
      secrets: activeSecrets(tenant),
      timeoutMs: tenant.callbackTimeoutMs,
      retries: target.retries,
      policy: deps.urlPolicy,
      addresses,
      firstAttempt: attempts.length + 1,
      logger: log,
    });
    attempts.push(...outcome.attempts);
    if (!outcome.ok) {
      failures.push(`${target.label}: ${outcome.reason}`);
      continue;
    }
    const validated = validateReply(env.type, env.expectsReply, outcome.body);
    if (validated.ok) accepted = { reply: validated.reply, status: outcome.status, url };
    else failures.push(`${target.label}: ${validated.reason}`);
  }

  const reason = accepted ? undefined : failures.join('; ');
  // Stored for every callback, once: the node waits on it (for the reply, or to keep seq order).
  const fallback = FALLBACK_REPLIES[env.type as keyof typeof FALLBACK_REPLIES] ?? {};
  const stored = await deps.sessions.putReply(env.sessionId, {
    eventId: env.id,
    outcome: accepted ? 'reply' : 'fallback',
    reply: accepted ? accepted.reply : fallback,
    ...(reason ? { reason } : {}),
    at: new Date().toISOString(),
  });
  if (!stored) log.info({}, 'a concurrent delivery stored the outcome first; this one is not used');
  await deps.sessions
    .journal(env.sessionId, {
      kind: 'callback',
      callback: env.type,
      eventId: env.id,
      seq: env.seq,
      request: env.payload,
      ...(accepted ? { reply: accepted.reply, httpStatus: accepted.status } : { fallback: true, reason }),
      attempts,
      latencyMs: Date.now() - started,
    })
    .catch((err) => log.warn({ err }, 'journal write failed'));
  if (reason) log.warn({ reason, attempts: attempts.length }, 'callback failed; defined fallback used');
}

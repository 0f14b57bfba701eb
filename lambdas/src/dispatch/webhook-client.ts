import { messageOf } from '@sipms/shared/errors';
import { MAX_BACKOFF_MS } from '@sipms/shared/events/delivery-budget';
import type { AddressPolicy } from '@sipms/shared/net/address-policy';
import type { CallbackUrlPolicy } from '@sipms/shared/net/callback-url-policy';
import { guardedLookup } from '@sipms/shared/net/guarded-lookup';
import { signatureHeader } from '@sipms/shared/signing';
import type { Logger } from '@sipms/shared/util/logger';
import { Pool } from 'undici';
import { LoopLagMeter } from './loop-lag.js';

export interface WebhookAttempt {
  url: string;
  attempt: number;
  status?: number;
  error?: string;
  /** From sending the request to the answer read (or the failure), as this process saw it. */
  ms: number;
  /**
   * Of `ms`, how late this process's event loop ran (busy with other work, not waiting on the webhook):
   * recorded from 10 ms on. The webhook's own time is `ms - lagMs`.
   */
  lagMs?: number;
}

/** The webhook's own time of an attempt: what the process saw less its event loop's lateness. */
export const webhookTimeOf = (a: Pick<WebhookAttempt, 'ms' | 'lagMs'>): number => Math.max(0, a.ms - (a.lagMs ?? 0));

export type WebhookOutcome =
  | { ok: true; status: number; body: string; attempts: WebhookAttempt[] }
  | { ok: false; status?: number; body?: string; reason: string; attempts: WebhookAttempt[]; retryable: boolean };

export interface PostOptions {
  url: string;
  eventId: string;
  /** W3C `traceparent` sent with every attempt (the delivery's span in the call's trace). */
  traceparent?: string;
  rawBody: string;
  secrets: readonly string[];
  timeoutMs: number;
  /** Extra attempts after the first, for network errors, timeouts and 5xx (never 4xx). */
  retries: number;
  policy: CallbackUrlPolicy;
  /** The outbound address policy every connection is checked against (one per process). */
  addresses: AddressPolicy;
  /** Numbered from here, so a fallback URL's attempt continues the count. */
  firstAttempt?: number;
  backoffMs?: (retry: number) => number;
  logger: Logger;
  /** The tenant: each has its own connection pools, so one tenant's hanging server holds none of another's. */
  tenantId: string;
  /** Stops the delivery (the attempt in flight, and any retry); its reason is the attempt's error. */
  signal?: AbortSignal;
}

const MAX_REPLY_BYTES = 256 * 1024;
const MAX_POOLS = 256;
/**
 * Connections per tenant origin. A delivery waiting for one of them counts as waiting on the webhook (the
 * slow-callback cap's clock runs), so the local dispatcher, which serves every delivery from one process,
 * needs enough that a burst does not queue behind answers it has not read yet: at 32, bench:full-call found
 * 100-200 deliveries queued at 40 calls/s. A Lambda serves one delivery at a time and uses one.
 */
const CONNECTIONS_PER_ORIGIN = 128;

/** One per process: every delivery in flight watches the same loop. */
const loopLag = new LoopLagMeter();
/** Lateness below this is the timer's own jitter, not worth a field in the journal. */
const LAG_RECORDED_MS = 10;

const defaultBackoff = (retry: number) => Math.min(MAX_BACKOFF_MS, 100 * 2 ** retry) * (0.5 + Math.random() / 2);

/**
 * Keep-alive connection pools, one per tenant origin (and URL policy), reused across invocations of a
 * warm Lambda and by the local dispatcher. Connections resolve through the SSRF guard.
 */
const pools = new Map<string, Pool>();

function poolFor(
  tenantId: string,
  origin: string,
  policy: CallbackUrlPolicy,
  addresses: AddressPolicy,
  logger: Logger,
): Pool {
  const key = `${tenantId} ${policy} ${origin}`;
  let pool = pools.get(key);
  if (pool) {
    pools.delete(key); // re-insert: Map order is our LRU order
    pools.set(key, pool);
    return pool;
  }
  if (pools.size >= MAX_POOLS) {
    const [oldestKey, oldest] = pools.entries().next().value as [string, Pool];
    pools.delete(oldestKey);
    // Closing waits for the evicted pool's requests in flight; a failure there concerns them, not this callback.
    void oldest
      .close()
      .catch((err) => logger.debug({ err, origin: oldestKey }, 'evicted webhook pool closed with an error'));
  }
  pool = new Pool(origin, {
    connections: CONNECTIONS_PER_ORIGIN,
    keepAliveTimeout: 30_000,
    keepAliveMaxTimeout: 60_000,
    connect: { lookup: guardedLookup(addresses) as never, timeout: 5000 },
  });
  pools.set(key, pool);
  return pool;
}

function reasonOf(err: unknown, timeoutMs: number, signal: AbortSignal | undefined): string {
  if (signal?.aborted) return `stopped: ${messageOf(signal.reason)}`;
  const e = err as { name?: string; code?: string; message?: string; cause?: { code?: string } };
  if (e.name === 'TimeoutError' || e.code === 'UND_ERR_HEADERS_TIMEOUT' || e.code === 'UND_ERR_BODY_TIMEOUT') {
    return `timeout after ${timeoutMs} ms`;
  }
  if (e.code === 'EADDRNOTALLOWED') return `refused: ${e.message}`;
  return `network error: ${e.code ?? e.cause?.code ?? e.message}`;
}

/** POSTs one signed callback with retries. Never throws: every failure is an outcome with a reason. */
export async function postSignedCallback(opts: PostOptions): Promise<WebhookOutcome> {
  const attempts: WebhookAttempt[] = [];
  const backoff = opts.backoffMs ?? defaultBackoff;
  const url = new URL(opts.url);
  const pool = poolFor(opts.tenantId, url.origin, opts.policy, opts.addresses, opts.logger);
  let last: Extract<WebhookOutcome, { ok: false }> | undefined;
  for (let i = 0; i <= opts.retries; i++) {
    if (i > 0) await abortableDelay(backoff(i - 1), opts.signal);
    if (opts.signal?.aborted) {
      const reason = `stopped: ${messageOf(opts.signal.reason)}`;
      return last
        ? { ...last, reason: `${last.reason}; ${reason}`, retryable: false }
        : { ok: false, reason, attempts, retryable: false };
    }
    const attempt = (opts.firstAttempt ?? 1) + i;
    const started = performance.now();
    const lagSince = loopLag.watch();
    const timing = () => {
      const lagMs = Math.round(lagSince());
      return { ms: Math.round(performance.now() - started), ...(lagMs >= LAG_RECORDED_MS ? { lagMs } : {}) };
    };
    try {
      const res = await pool.request({
        path: url.pathname + url.search,
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'user-agent': 'sip-mediaserver/0.1',
          'x-mediaserver-event-id': opts.eventId,
          'x-mediaserver-attempt': String(attempt),
          ...(opts.traceparent ? { traceparent: opts.traceparent } : {}),
          'x-mediaserver-signature': signatureHeader(opts.secrets, opts.rawBody, Math.floor(Date.now() / 1000)),
        },
        body: opts.rawBody,
        headersTimeout: opts.timeoutMs,
        bodyTimeout: opts.timeoutMs,
        signal: opts.signal
          ? AbortSignal.any([AbortSignal.timeout(opts.timeoutMs), opts.signal])
          : AbortSignal.timeout(opts.timeoutMs),
      });
      const body = await readLimited(res.body);
      attempts.push({ url: opts.url, attempt, status: res.statusCode, ...timing() });
      if (res.statusCode >= 200 && res.statusCode < 300) return { ok: true, status: res.statusCode, body, attempts };
      const retryable = res.statusCode >= 500;
      last = { ok: false, status: res.statusCode, body, reason: `HTTP ${res.statusCode}`, attempts, retryable };
      if (!retryable) return last;
    } catch (err) {
      const took = timing();
      const reason = reasonOf(err, opts.timeoutMs, opts.signal);
      attempts.push({ url: opts.url, attempt, error: reason, ...took });
      const retryable = !reason.startsWith('refused') && !opts.signal?.aborted;
      last = { ok: false, reason, attempts, retryable };
      if (!retryable) return last;
    }
  }
  return last!;
}

function abortableDelay(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

async function readLimited(body: AsyncIterable<Buffer> & { destroy?: () => void }): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.length;
    if (size > MAX_REPLY_BYTES) {
      body.destroy?.();
      throw Object.assign(new Error(`reply larger than ${MAX_REPLY_BYTES} bytes`), { code: 'REPLY_TOO_LARGE' });
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

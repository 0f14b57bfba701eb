import { signatureHeader } from '@sipms/shared/signing';

export interface WebhookAttempt {
  url: string;
  attempt: number;
  status?: number;
  error?: string;
  ms: number;
}

export type WebhookOutcome =
  | { ok: true; status: number; body: string; attempts: WebhookAttempt[] }
  | { ok: false; status?: number; body?: string; reason: string; attempts: WebhookAttempt[]; retryable: boolean };

export interface PostOptions {
  url: string;
  eventId: string;
  rawBody: string;
  secrets: readonly string[];
  timeoutMs: number;
  /** Extra attempts after the first, for network errors, timeouts and 5xx (never 4xx). */
  retries: number;
  /** Numbered from here, so a fallback URL's attempt continues the count. */
  firstAttempt?: number;
  backoffMs?: (retry: number) => number;
}

const MAX_REPLY_BYTES = 256 * 1024;

const defaultBackoff = (retry: number) => Math.min(1000, 50 * 2 ** retry) * (0.5 + Math.random() / 2);

/** POSTs one signed callback with retries. Never throws: every failure is an outcome with a reason. */
export async function postSignedCallback(opts: PostOptions): Promise<WebhookOutcome> {
  const attempts: WebhookAttempt[] = [];
  const backoff = opts.backoffMs ?? defaultBackoff;
  let last: WebhookOutcome | undefined;
  for (let i = 0; i <= opts.retries; i++) {
    if (i > 0) await new Promise((r) => setTimeout(r, backoff(i - 1)));
    const attempt = (opts.firstAttempt ?? 1) + i;
    const started = performance.now();
    try {
      const res = await fetch(opts.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'user-agent': 'sip-mediaserver/0.1',
          'x-mediaserver-event-id': opts.eventId,
          'x-mediaserver-attempt': String(attempt),
          'x-mediaserver-signature': signatureHeader(opts.secrets, opts.rawBody, Math.floor(Date.now() / 1000)),
        },
        body: opts.rawBody,
        redirect: 'manual',
        signal: AbortSignal.timeout(opts.timeoutMs),
      });
      const body = await readLimited(res);
      const ms = Math.round(performance.now() - started);
      attempts.push({ url: opts.url, attempt, status: res.status, ms });
      if (res.status >= 200 && res.status < 300) return { ok: true, status: res.status, body, attempts };
      const retryable = res.status >= 500;
      last = { ok: false, status: res.status, body, reason: `HTTP ${res.status}`, attempts, retryable };
      if (!retryable) return last;
    } catch (err) {
      const ms = Math.round(performance.now() - started);
      const reason =
        (err as Error).name === 'TimeoutError'
          ? `timeout after ${opts.timeoutMs} ms`
          : `network error: ${(err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message}`;
      attempts.push({ url: opts.url, attempt, error: reason, ms });
      last = { ok: false, reason, attempts, retryable: true };
    }
  }
  return last!;
}

async function readLimited(res: Response): Promise<string> {
  const text = await res.text();
  return text.length > MAX_REPLY_BYTES ? text.slice(0, MAX_REPLY_BYTES) : text;
}

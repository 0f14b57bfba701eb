import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CALLBACK_BODIES, CALLBACK_NAMES, type CallbackName } from '@sipms/shared/contracts/callbacks';

/** One callback as the tenant's webhook received it. */
export interface ReceivedCallback {
  name: string;
  headers: Record<string, string>;
  rawBody: string;
  body: Record<string, unknown>;
  at: number;
}

/**
 * Every body the platform publishes is checked against the contract's schema for its callback, strictly
 * (a field the schema does not name is a violation too), so the node cannot drift from the contract
 * that the OpenAPI document and the tenants' types are made from. `close()` fails on any violation.
 */
export function contractViolation(name: string, body: unknown): string | undefined {
  if (!(CALLBACK_NAMES as readonly string[]).includes(name)) return `unknown callback name "${name}"`;
  const schema = CALLBACK_BODIES[name as CallbackName].strict();
  const result = schema.safeParse(body);
  if (result.success) return undefined;
  return result.error.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`).join('; ');
}

export type Responder = (cb: ReceivedCallback) => { status?: number; body?: unknown; delayMs?: number } | undefined;

/**
 * A scriptable tenant webhook: records every request and answers with what the test's responder says
 * (default `200 {}`). `waitFor` resolves when a matching callback has arrived.
 */
export class WebhookServer {
  readonly received: ReceivedCallback[] = [];
  /** Bodies that broke the contract (see contractViolation). */
  readonly violations: { name: string; reason: string; body: string }[] = [];
  private server: Server | undefined;
  private waiters: { match: (cb: ReceivedCallback) => boolean; resolve: (cb: ReceivedCallback) => void }[] = [];
  url = '';

  constructor(public responder: Responder = () => undefined) {}

  async start(): Promise<string> {
    this.server = createServer((req, res) => {
      void this.onRequest(req).then(async (cb) => {
        const answer = this.responder(cb) ?? {};
        if (answer.delayMs) await new Promise((r) => setTimeout(r, answer.delayMs));
        const body =
          answer.body === undefined
            ? '{}'
            : typeof answer.body === 'string'
              ? answer.body
              : JSON.stringify(answer.body);
        res.writeHead(answer.status ?? 200, { 'content-type': 'application/json' }).end(body);
      });
    });
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', () => r()));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/hooks`;
    return this.url;
  }

  private async onRequest(req: IncomingMessage): Promise<ReceivedCallback> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const rawBody = Buffer.concat(chunks).toString('utf8');
    let body: Record<string, unknown> = {};
    try {
      body = JSON.parse(rawBody);
    } catch (err) {
      // Not JSON: recorded as received (rawBody), with an empty body, for the test to assert on.
      if (!(err instanceof SyntaxError)) throw err;
    }
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string') headers[k] = v;
    const cb: ReceivedCallback = {
      name: (req.url ?? '').split('/').pop() ?? '',
      headers,
      rawBody,
      body,
      at: Date.now(),
    };
    this.received.push(cb);
    const reason = contractViolation(cb.name, body);
    if (reason) this.violations.push({ name: cb.name, reason, body: rawBody.slice(0, 500) });
    this.waiters = this.waiters.filter((w) => {
      if (!w.match(cb)) return true;
      w.resolve(cb);
      return false;
    });
    return cb;
  }

  waitFor(
    name: string,
    match: (cb: ReceivedCallback) => boolean = () => true,
    timeoutMs = 15_000,
  ): Promise<ReceivedCallback> {
    const pred = (cb: ReceivedCallback) => cb.name === name && match(cb);
    const found = this.received.find(pred);
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ${name} callback within ${timeoutMs} ms`)), timeoutMs);
      this.waiters.push({
        match: pred,
        resolve: (cb) => {
          clearTimeout(timer);
          resolve(cb);
        },
      });
    });
  }

  named(name: string): ReceivedCallback[] {
    return this.received.filter((r) => r.name === name);
  }

  async close(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }

  /**
   * Fails when a body the platform published broke the contract. Tests call it last in their `after`
   * hook (after the stack has stopped, so a failure here never leaves processes behind).
   */
  assertContract(): void {
    if (this.violations.length === 0) return;
    const list = this.violations.map((v) => `${v.name}: ${v.reason} in ${v.body}`).join('\n');
    throw new Error(`callback bodies that break the contract (${this.violations.length}):\n${list}`);
  }
}

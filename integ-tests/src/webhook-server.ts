import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One callback as the tenant's webhook received it. */
export interface ReceivedCallback {
  name: string;
  headers: Record<string, string>;
  rawBody: string;
  body: Record<string, unknown>;
  at: number;
}

export type Responder = (cb: ReceivedCallback) => { status?: number; body?: unknown; delayMs?: number } | undefined;

/**
 * A scriptable tenant webhook: records every request and answers with what the test's responder says
 * (default `200 {}`). `waitFor` resolves when a matching callback has arrived.
 */
export class WebhookServer {
  readonly received: ReceivedCallback[] = [];
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
    } catch {
      // recorded as received
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
}

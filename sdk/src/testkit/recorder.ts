import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createCallbackHandler } from '../callbacks/adapters.js';
import type { CallbackContext, CallbackFunction, CallbackHandlers, SecretsSource } from '../callbacks/handler.js';
import { CALLBACK_NAMES, type CallbackName } from '../generated/wire.js';

/** One callback as the tenant's app received it (signature verified) and what it answered. */
export interface RecordedCallback {
  name: CallbackName;
  body: Record<string, unknown> & { sessionId: string };
  /** What the app's function returned (a builder rendered); undefined when it threw. */
  reply: unknown;
  eventId: string | undefined;
  attempt: number;
  /** Date.now() when it arrived. */
  at: number;
}

export interface CallbackRecorderOptions {
  secrets: SecretsSource;
  /** The app under test (or a script): as for createCallbackHandler; every call is recorded. */
  handlers?: CallbackHandlers;
  host?: string;
  /** 0 (default): any free port. */
  port?: number;
}

/**
 * A tenant's callback server for tests: the SDK's handler on node:http, recording every verified callback and the
 * reply it got, with `waitFor` to await one. Its `url` is what the tenant's `callbackUrl` is set to.
 */
/** Without a function of the app these answer 404 (the platform's fallback runs), as the plain handler does. */
const NEEDS_FUNCTION = new Set<CallbackName>(['newCall', 'getIvrCommand']);

export class CallbackRecorder {
  readonly received: RecordedCallback[] = [];
  url = '';
  private server: Server | undefined;
  private waiters: { match: (cb: RecordedCallback) => boolean; resolve: (cb: RecordedCallback) => void }[] = [];
  private app: CallbackHandlers = {};
  /** What the handler dispatches to: a recording wrapper per callback (it reads this object on every request). */
  private readonly live: CallbackHandlers = {};

  constructor(private readonly options: CallbackRecorderOptions) {
    this.use(options.handlers ?? {});
  }

  /** Replaces the functions answering the callbacks (e.g. per test), keeping the recording. */
  use(handlers: CallbackHandlers): this {
    this.app = handlers;
    const live = this.live as Record<string, unknown>;
    for (const name of CALLBACK_NAMES) {
      if (handlers[name] || !NEEDS_FUNCTION.has(name)) live[name] = this.recording(name);
      else delete live[name];
    }
    return this;
  }

  private recording(name: CallbackName): CallbackFunction<CallbackName> {
    return async (body, context) => {
      let reply: unknown;
      try {
        const fn = this.app[name] as CallbackFunction<CallbackName> | undefined;
        const result: unknown = fn ? await fn(body, context) : undefined;
        reply =
          typeof (result as { toJSON?: unknown } | undefined)?.toJSON === 'function'
            ? (result as { toJSON(): unknown }).toJSON()
            : result;
        return reply as never;
      } finally {
        this.record(name, body, context, reply);
      }
    };
  }

  private record(name: CallbackName, body: unknown, context: CallbackContext, reply: unknown): void {
    const cb: RecordedCallback = {
      name,
      body: body as RecordedCallback['body'],
      reply,
      eventId: context.eventId,
      attempt: context.attempt,
      at: Date.now(),
    };
    this.received.push(cb);
    this.waiters = this.waiters.filter((w) => {
      if (!w.match(cb)) return true;
      w.resolve(cb);
      return false;
    });
  }

  /** Serves the callbacks on node:http; resolves with `url` (…/hooks), the tenant's callbackUrl. */
  async start(): Promise<string> {
    const handler = createCallbackHandler({ secrets: this.options.secrets, handlers: this.live });
    const server = createServer(handler.node);
    this.server = server;
    const host = this.options.host ?? '127.0.0.1';
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.options.port ?? 0, host, () => resolve());
    });
    this.url = `http://${host}:${(server.address() as AddressInfo).port}/hooks`;
    return this.url;
  }

  /** Resolves with the first callback (already received or arriving) that matches. */
  waitFor(
    name: CallbackName,
    match: (cb: RecordedCallback) => boolean = () => true,
    timeoutMs = 15_000,
  ): Promise<RecordedCallback> {
    const pred = (cb: RecordedCallback) => cb.name === name && match(cb);
    const found = this.received.find(pred);
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const done = (cb: RecordedCallback) => {
        clearTimeout(timer);
        resolve(cb);
      };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w.resolve !== done);
        const got = this.received.map((c) => c.name).join(', ') || 'none';
        reject(new Error(`no ${name} callback within ${timeoutMs} ms (received: ${got})`));
      }, timeoutMs);
      this.waiters.push({ match: pred, resolve: done });
    });
  }

  /** The callbacks of one session, in arrival order. */
  ofSession(sessionId: string): RecordedCallback[] {
    return this.received.filter((c) => c.body.sessionId === sessionId);
  }

  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  }
}

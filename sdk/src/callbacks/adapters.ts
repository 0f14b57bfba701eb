import {
  type CallbackCore,
  type CallbackHandlerOptions,
  type CallbackRequest,
  type CallbackResponse,
  createCallbackCore,
  errorResponse,
} from './handler.js';

/**
 * The callback handler on the servers tenants use. None of them is a dependency: each adapter is typed by the
 * shape it needs (structural types), so `node:http`, Express, Fastify and any Fetch-API runtime plug in as they
 * are. Every adapter needs the raw body bytes, because the signature covers them exactly.
 */

/** `node:http`'s IncomingMessage, or Express's Request (which extends it). */
export interface NodeRequestLike extends AsyncIterable<Uint8Array | string> {
  method?: string | undefined;
  url?: string | undefined;
  headers: Record<string, string | string[] | undefined>;
  /** Express with `express.raw()` / `express.text()` (or a `verify` hook's `rawBody`): the bytes as read. */
  body?: unknown;
  rawBody?: unknown;
  readableEnded?: boolean;
  destroy?(): unknown;
}

/** `node:http`'s ServerResponse, or Express's Response. */
export interface NodeResponseLike {
  writeHead(status: number, headers: Record<string, string>): unknown;
  end(body: string, callback?: () => void): unknown;
}

export interface FastifyRequestLike {
  params: unknown;
  headers: Record<string, string | string[] | undefined>;
  body: unknown;
}

export interface FastifyReplyLike {
  code(status: number): FastifyReplyLike;
  headers(values: Record<string, string>): FastifyReplyLike;
  send(payload: string): FastifyReplyLike;
}

export interface FastifyInstanceLike {
  removeAllContentTypeParsers(): unknown;
  addContentTypeParser(
    type: string,
    options: { parseAs: 'buffer'; bodyLimit?: number },
    parser: (request: unknown, body: Uint8Array, done: (error: Error | null, body?: unknown) => void) => void,
  ): unknown;
  post(path: string, handler: (request: FastifyRequestLike, reply: FastifyReplyLike) => Promise<unknown>): unknown;
}

export interface CallbackHandler extends CallbackCore {
  /** For `http.createServer(handler.node)` and Express (`app.post('/hooks/:name', handler.node)`). */
  node(req: NodeRequestLike, res: NodeResponseLike): Promise<void>;
  /** The same as `node`; mount it before any JSON body parser, or with `express.raw({ type: '*\/*' })`. */
  express(req: NodeRequestLike, res: NodeResponseLike): Promise<void>;
  /** A Fastify plugin serving `POST /:name`: `app.register(handler.fastify, { prefix: '/hooks' })`. */
  fastify(instance: FastifyInstanceLike, options: unknown, done: (error?: Error) => void): void;
  /** For any Fetch-API server (Deno, Bun, Cloudflare Workers, Hono, Next.js route handlers): `Request` → `Response`. */
  fetch(request: Request): Promise<Response>;
}

const lastSegment = (path: string) => path.split('?')[0]!.split('/').filter(Boolean).pop() ?? '';

function headerOf(headers: Record<string, string | string[] | undefined>) {
  return (name: string) => {
    const v = headers[name];
    return Array.isArray(v) ? v.join(',') : v;
  };
}

const TOO_LARGE = Symbol('too large');

async function readLimited(
  chunks: AsyncIterable<Uint8Array | string>,
  limit: number,
): Promise<Buffer | typeof TOO_LARGE> {
  const parts: Buffer[] = [];
  let size = 0;
  for await (const chunk of chunks) {
    const b =
      typeof chunk === 'string' ? Buffer.from(chunk) : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    size += b.byteLength;
    if (size > limit) return TOO_LARGE;
    parts.push(b);
  }
  return Buffer.concat(parts);
}

async function* streamChunks(body: ReadableStream<Uint8Array>): AsyncIterable<Uint8Array> {
  const reader = body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      yield value;
    }
  } finally {
    // Stops reading a body that was refused as too large (a no-op once it was read to the end).
    await reader.cancel();
  }
}

/** What a body parser that ran before the handler left: the raw bytes, or the sign that they are gone. */
function preRead(req: NodeRequestLike): string | Uint8Array | 'consumed' | undefined {
  for (const v of [req.rawBody, req.body]) {
    if (typeof v === 'string' || v instanceof Uint8Array) return v;
  }
  return req.body !== undefined && req.readableEnded ? 'consumed' : undefined;
}

function notPost(method: string | undefined): CallbackResponse | undefined {
  return method === 'POST' ? undefined : errorResponse(405, 'method_not_allowed', 'callbacks are POST requests');
}

export function createCallbackHandler(options: CallbackHandlerOptions): CallbackHandler {
  const core = createCallbackCore(options);

  async function node(req: NodeRequestLike, res: NodeResponseLike): Promise<void> {
    const send = (r: CallbackResponse, then?: () => void) => {
      res.writeHead(r.status, r.headers);
      res.end(r.body, then);
    };
    const refused = notPost(req.method);
    if (refused) return send(refused);
    const early = preRead(req);
    if (early === 'consumed') {
      const error = new Error(
        'the request body was parsed before the callback handler: the signature needs the raw bytes (mount the handler before express.json(), or use express.raw({ type: "*/*" }))',
      );
      core.reportError(error, { name: lastSegment(req.url ?? ''), eventId: undefined });
      return send(errorResponse(500, 'internal', 'the callback handler is misconfigured'));
    }
    const raw = early ?? (await readLimited(req, core.maxBodyBytes));
    if (raw === TOO_LARGE) {
      // Stop reading an oversized body: answer, then drop the connection.
      res.writeHead(413, { 'content-type': 'application/json; charset=utf-8', connection: 'close' });
      res.end(
        JSON.stringify({ error: { code: 'payload_too_large', message: `body over ${core.maxBodyBytes} bytes` } }),
        () => req.destroy?.(),
      );
      return;
    }
    send(await core.handle({ name: lastSegment(req.url ?? ''), header: headerOf(req.headers), rawBody: raw }));
  }

  function fastify(instance: FastifyInstanceLike, _options: unknown, done: (error?: Error) => void): void {
    // Encapsulated by Fastify: the raw-bytes parser applies to this plugin's route only.
    instance.removeAllContentTypeParsers();
    instance.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: core.maxBodyBytes }, (_req, body, parsed) =>
      parsed(null, body),
    );
    instance.post('/:name', async (request, reply) => {
      const name = String((request.params as { name?: unknown } | undefined)?.name ?? '');
      const raw = request.body instanceof Uint8Array || typeof request.body === 'string' ? request.body : '';
      const r = await core.handle({ name, header: headerOf(request.headers), rawBody: raw });
      return reply.code(r.status).headers(r.headers).send(r.body);
    });
    done();
  }

  async function fetchHandler(request: Request): Promise<Response> {
    const toResponse = (r: CallbackResponse) => new Response(r.body, { status: r.status, headers: r.headers });
    const refused = notPost(request.method);
    if (refused) return toResponse(refused);
    const raw = request.body ? await readLimited(streamChunks(request.body), core.maxBodyBytes) : Buffer.alloc(0);
    if (raw === TOO_LARGE)
      return toResponse(errorResponse(413, 'payload_too_large', `body over ${core.maxBodyBytes} bytes`));
    const name = lastSegment(new URL(request.url).pathname);
    const r = await core.handle({ name, header: (h) => request.headers.get(h) ?? undefined, rawBody: raw });
    return toResponse(r);
  }

  return {
    ...core,
    node,
    express: node,
    fastify,
    fetch: fetchHandler,
  } satisfies CallbackHandler;
}

export type { CallbackRequest };

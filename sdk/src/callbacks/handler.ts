import {
  CALLBACK_NAMES,
  CALLBACKS_WITH_REPLY,
  type CallbackBodies,
  type CallbackName,
  type CallbackReplies,
} from '../generated/wire.js';
import {
  ATTEMPT_HEADER,
  EVENT_ID_HEADER,
  SIGNATURE_HEADER,
  type SignatureCheck,
  verifySignature,
} from '../signature.js';

/**
 * The transport-free core of the callback handler: verify the signature, parse the body, dispatch to the
 * tenant's typed function, and turn its return value into the HTTP reply. The adapters (adapters.ts) only move
 * bytes between their server and `handle`.
 */

/** Something the reply can be: the reply object itself, or a builder that renders it (`toJSON`). */
export type ReplyLike<T> = T | { toJSON(): T };

/** What a handler may return for callback N: its reply (nothing means `{}`), or anything for ignored callbacks. */
export type HandlerResult<N extends CallbackName> = N extends keyof CallbackReplies
  ? // biome-ignore lint/suspicious/noConfusingVoidType: a handler that returns nothing is typed void, and means {}
    ReplyLike<CallbackReplies[N]> | undefined | void
  : unknown;

export interface CallbackContext<N extends CallbackName = CallbackName> {
  name: N;
  /** `X-Mediaserver-Event-Id`: unique per event and stable across retries; use it to ignore a repeat. */
  eventId: string | undefined;
  /** `X-Mediaserver-Attempt`: 1 on the first delivery. */
  attempt: number;
  /** The signature's timestamp (unix seconds). */
  signedAt: number;
}

export type CallbackFunction<N extends CallbackName> = (
  body: CallbackBodies[N],
  context: CallbackContext<N>,
) => HandlerResult<N> | Promise<HandlerResult<N>>;

export type CallbackHandlers = { [N in CallbackName]?: CallbackFunction<N> };

/** A secret, several (during a rotation), or a function that returns the current ones (e.g. from a secret store). */
export type SecretsSource =
  | string
  | readonly string[]
  | (() => string | readonly string[] | Promise<string | readonly string[]>);

export interface CallbackHandlerOptions {
  secrets: SecretsSource;
  handlers: CallbackHandlers;
  /** Seconds the signature's timestamp may be off (default 300). */
  toleranceSec?: number;
  /** Bodies above this size are refused with 413 (default 1 MiB; callbacks are a few KB). */
  maxBodyBytes?: number;
  /** Called when a handler throws or returns something that cannot be sent; default: console.error. */
  onError?: (error: unknown, context: { name: string; eventId: string | undefined }) => void;
  /** The clock, in unix seconds (tests). */
  now?: () => number;
}

/** A request as any server sees it. Header names are looked up in lower case. */
export interface CallbackRequest {
  /** The callback name: the last path segment (`/hooks/newCall` → `newCall`). */
  name: string;
  header(name: string): string | undefined;
  rawBody: string | Uint8Array;
}

export interface CallbackResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

export interface CallbackCore {
  handle(request: CallbackRequest): Promise<CallbackResponse>;
  readonly maxBodyBytes: number;
  /** The `onError` option (or its default), for adapters that fail before `handle`. */
  reportError(error: unknown, context: { name: string; eventId: string | undefined }): void;
}

const JSON_HEADERS = { 'content-type': 'application/json; charset=utf-8' };

export function errorResponse(status: number, code: string, message: string): CallbackResponse {
  return { status, headers: JSON_HEADERS, body: JSON.stringify({ error: { code, message } }) };
}

const ok = (body: unknown): CallbackResponse => ({ status: 200, headers: JSON_HEADERS, body: JSON.stringify(body) });

const KNOWN = new Set<string>(CALLBACK_NAMES);
const WITH_REPLY = new Set<string>(CALLBACKS_WITH_REPLY);
/** Reply-bearing callbacks whose `{}` would do something the tenant did not ask for: without a handler, 404. */
const NEEDS_HANDLER = new Set<string>(['newCall', 'getIvrCommand']);

/** A name for an error message: printable, short. */
const shown = (name: string) => JSON.stringify(name.replace(/[^\x20-\x7e]/g, '?').slice(0, 64));

async function currentSecrets(source: SecretsSource): Promise<readonly string[]> {
  const value = typeof source === 'function' ? await source() : source;
  return typeof value === 'string' ? [value] : value;
}

function toReply(result: unknown): unknown {
  if (result === undefined || result === null) return {};
  const rendered =
    typeof (result as { toJSON?: unknown }).toJSON === 'function' ? (result as { toJSON(): unknown }).toJSON() : result;
  if (typeof rendered !== 'object' || rendered === null || Array.isArray(rendered)) {
    throw new TypeError('a callback reply must be an object');
  }
  return rendered;
}

export function createCallbackCore(options: CallbackHandlerOptions): CallbackCore {
  const { handlers } = options;
  if (typeof options.secrets === 'string' && options.secrets.length === 0) {
    throw new TypeError('createCallbackHandler: secrets is empty (the signing secret from signup)');
  }
  if (Array.isArray(options.secrets) && options.secrets.filter((s) => s).length === 0) {
    throw new TypeError('createCallbackHandler: secrets is empty (the signing secret from signup)');
  }
  const onError =
    options.onError ?? ((error, { name }) => console.error(`[@sipms/sdk] the ${name} handler failed:`, error));
  const maxBodyBytes = options.maxBodyBytes ?? 1024 * 1024;

  async function handle(request: CallbackRequest): Promise<CallbackResponse> {
    const eventId = request.header(EVENT_ID_HEADER);
    const size = typeof request.rawBody === 'string' ? Buffer.byteLength(request.rawBody) : request.rawBody.byteLength;
    if (size > maxBodyBytes) return errorResponse(413, 'payload_too_large', `body over ${maxBodyBytes} bytes`);

    let check: SignatureCheck;
    try {
      check = verifySignature(
        request.rawBody,
        request.header(SIGNATURE_HEADER),
        await currentSecrets(options.secrets),
        {
          ...(options.toleranceSec === undefined ? {} : { toleranceSec: options.toleranceSec }),
          ...(options.now ? { now: options.now() } : {}),
        },
      );
    } catch (error) {
      onError(error, { name: request.name, eventId });
      return errorResponse(500, 'internal', 'the signing secrets could not be read');
    }
    if (!check.ok) return errorResponse(401, 'unauthorized', check.reason);

    if (!KNOWN.has(request.name)) return errorResponse(404, 'not_found', `unknown callback ${shown(request.name)}`);
    const name = request.name as CallbackName;
    const fn = handlers[name] as CallbackFunction<CallbackName> | undefined;
    if (!fn) {
      return NEEDS_HANDLER.has(name) ? errorResponse(404, 'not_found', `no handler for ${name}`) : ok({}); // callEvent: {} is the default handling; the others ignore the reply.
    }

    let body: unknown;
    try {
      const text =
        typeof request.rawBody === 'string' ? request.rawBody : Buffer.from(request.rawBody).toString('utf8');
      body = JSON.parse(text);
    } catch (error) {
      if (!(error instanceof SyntaxError)) throw error;
      return errorResponse(400, 'bad_request', 'the body is not JSON');
    }
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      return errorResponse(400, 'bad_request', 'the body must be a JSON object');
    }

    const attempt = Number(request.header(ATTEMPT_HEADER) ?? '1');
    const context: CallbackContext = {
      name,
      eventId,
      attempt: Number.isInteger(attempt) && attempt > 0 ? attempt : 1,
      signedAt: check.timestamp,
    };
    try {
      const result = await fn(body as CallbackBodies[CallbackName], context as never);
      // Ignored callbacks answer {} whatever the handler returned.
      return ok(WITH_REPLY.has(name) ? toReply(result) : {});
    } catch (error) {
      onError(error, { name, eventId });
      // 5xx: the platform retries with the same event id, then runs the defined fallback. No error text leaks.
      return errorResponse(500, 'internal', `the ${name} handler failed`);
    }
  }

  return { handle, maxBodyBytes, reportError: onError };
}

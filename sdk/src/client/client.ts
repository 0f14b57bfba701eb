import { randomUUID } from 'node:crypto';
import {
  type ErrorResponse,
  OPERATIONS,
  type OperationId,
  type OperationInfo,
  type Operations,
} from '../generated/wire.js';
import { type ApiErrorCode, SipmsApiError } from './errors.js';

/**
 * A typed client of the platform's REST API (docs/api.md): every method is one operation of the OpenAPI
 * document, with the request and response types generated from it. Failures throw SipmsApiError.
 */

export interface ClientOptions {
  /** The API's base URL, e.g. `https://api.example.com` or `http://127.0.0.1:8080`. */
  baseUrl: string;
  /** The tenant's API key (`msk_…`); not needed for `signup` only. */
  apiKey?: string;
  /** The tenant's SIP domain for the `/mediaservice/{domain}/…` routes; looked up once with GET /v1/tenant when absent. */
  domain?: string;
  /** Per attempt, in ms (default 10000). */
  timeoutMs?: number;
  /** Retries after network errors, timeouts, 429, 502, 503 and 504 (default 2). POSTs carry one idempotency key across them. */
  maxRetries?: number;
  /** Another fetch (a proxy agent, a test double). */
  fetch?: typeof fetch;
  /** Makes idempotency keys (default: random UUIDs). */
  idempotencyKey?: () => string;
}

export interface RequestOptions {
  signal?: AbortSignal;
  timeoutMs?: number;
  maxRetries?: number;
  /** For POSTs: this key instead of a fresh one, e.g. to make a retry of your own job idempotent. */
  idempotencyKey?: string;
}

type IsNever<T> = [T] extends [never] ? true : false;
/** `domain` comes from the client unless given. */
type WithOptionalDomain<P> =
  IsNever<P> extends true ? never : 'domain' extends keyof P ? Omit<P, 'domain'> & { domain?: string } : P;
type Part<Key extends string, T> =
  IsNever<T> extends true
    ? { [K in Key]?: never }
    : Record<string, never> extends T
      ? { [K in Key]?: T }
      : { [K in Key]: T };

/** The inputs of operation K: path params (domain optional), query and body, each only where the operation has it. */
export type OperationInput<K extends OperationId> = Part<'params', WithOptionalDomain<Operations[K]['params']>> &
  Part<'query', Operations[K]['query']> &
  Part<'body', Operations[K]['body']>;

export type OperationResponse<K extends OperationId> = Operations[K]['response'];

const RETRY_STATUS = new Set([429, 502, 503, 504]);
const MAX_RETRY_DELAY_MS = 10_000;

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

function retryDelayMs(attempt: number, res: Response | undefined): number {
  const header = res?.headers.get('retry-after');
  const seconds = header && /^\d+$/.test(header) ? Number(header) : undefined;
  if (seconds !== undefined) return Math.min(seconds * 1000, MAX_RETRY_DELAY_MS);
  return Math.min(250 * 2 ** attempt + Math.floor(Math.random() * 100), MAX_RETRY_DELAY_MS);
}

function errorCodeOf(body: unknown): ErrorResponse['error'] | undefined {
  const error = (body as { error?: unknown } | null)?.error as ErrorResponse['error'] | undefined;
  return error && typeof error.code === 'string' && typeof error.message === 'string' ? error : undefined;
}

function toBytes(data: Uint8Array | ArrayBuffer): Uint8Array {
  return data instanceof Uint8Array ? data : new Uint8Array(data);
}

export class SipmsClient {
  private readonly baseUrl: string;
  private readonly fetchFn: typeof fetch;
  private readonly newKey: () => string;
  private domainLookup: Promise<string> | undefined;

  constructor(private readonly options: ClientOptions) {
    if (!/^https?:\/\//.test(options.baseUrl))
      throw new TypeError(`baseUrl must be an http(s) URL: ${options.baseUrl}`);
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.fetchFn = options.fetch ?? fetch;
    this.newKey = options.idempotencyKey ?? randomUUID;
  }

  /** A client for another API key (e.g. the one signup returned), with the same settings. */
  withApiKey(apiKey: string, domain?: string): SipmsClient {
    const { domain: _old, ...rest } = this.options;
    return new SipmsClient({ ...rest, apiKey, ...(domain ? { domain } : {}) });
  }

  /** The tenant's SIP domain: the one given, or GET /v1/tenant's (asked once). */
  async domain(options: RequestOptions = {}): Promise<string> {
    if (this.options.domain) return this.options.domain;
    this.domainLookup ??= this.request('getTenant', {}, options).then((t) => t.domain);
    try {
      return await this.domainLookup;
    } catch (error) {
      this.domainLookup = undefined;
      throw error;
    }
  }

  /** Calls any operation of the document by its operationId; the methods below are this with names. */
  async request<K extends OperationId>(
    id: K,
    input: OperationInput<K>,
    options: RequestOptions = {},
  ): Promise<OperationResponse<K>> {
    const info = OPERATIONS[id] as OperationInfo;
    const res = await this.send(id, info, input as RawInput, options);
    if (info.response === 'raw') return (await this.readRaw(id, res, options)).bytes as OperationResponse<K>;
    return (await this.readJson(id, res)) as OperationResponse<K>;
  }

  // ---- plumbing ----------------------------------------------------------------------------------------------

  private async url(info: OperationInfo, input: RawInput, options: RequestOptions): Promise<string> {
    const params: Record<string, unknown> = { ...input.params };
    if (info.path.includes('{domain}') && params.domain === undefined) params.domain = await this.domain(options);
    const path = info.path.replace(/\{(\w+)\}/g, (_, name: string) => {
      const value = params[name];
      if (value === undefined || value === '') throw new TypeError(`missing path parameter ${name}`);
      return encodeURIComponent(String(value));
    });
    const query = new URLSearchParams();
    for (const [k, v] of Object.entries(input.query ?? {})) if (v !== undefined) query.set(k, String(v));
    const qs = query.toString();
    return `${this.baseUrl}${path}${qs ? `?${qs}` : ''}`;
  }

  private async send(
    id: string,
    info: OperationInfo,
    input: RawInput,
    options: RequestOptions,
    extra: { contentType?: string } = {},
  ): Promise<Response> {
    const url = await this.url(info, input, options);
    const headers: Record<string, string> = { accept: 'application/json' };
    if (info.auth && this.options.apiKey) headers.authorization = `Bearer ${this.options.apiKey}`;
    let body: RequestInit['body'];
    if (info.body === 'json') {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(input.body ?? {});
    } else if (info.body === 'raw') {
      headers['content-type'] = extra.contentType ?? 'application/octet-stream';
      body = toBytes(input.body as Uint8Array) as NonNullable<RequestInit['body']>;
    }
    // One key for every attempt of this call: a retry after a lost response does nothing twice.
    if (info.method === 'POST') headers['idempotency-key'] = options.idempotencyKey ?? this.newKey();
    return this.fetchWithRetries(id, url, { method: info.method, headers, ...(body ? { body } : {}) }, options);
  }

  private async fetchWithRetries(
    operation: string,
    url: string,
    init: RequestInit,
    options: RequestOptions,
  ): Promise<Response> {
    const maxRetries = options.maxRetries ?? this.options.maxRetries ?? 2;
    const timeoutMs = options.timeoutMs ?? this.options.timeoutMs ?? 10_000;
    for (let attempt = 0; ; attempt++) {
      const timeout = AbortSignal.timeout(timeoutMs);
      const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
      let res: Response | undefined;
      let failure: SipmsApiError | undefined;
      try {
        res = await this.fetchFn(url, { ...init, signal, redirect: 'manual' });
      } catch (error) {
        if (options.signal?.aborted) throw options.signal.reason;
        const timedOut = timeout.aborted;
        failure = new SipmsApiError({
          status: 0,
          code: timedOut ? 'timeout' : 'network_error',
          message: timedOut ? `no response within ${timeoutMs} ms` : `request failed: ${(error as Error).message}`,
          operation,
          cause: error,
        });
      }
      const retryable = failure !== undefined || (res !== undefined && RETRY_STATUS.has(res.status));
      if (!retryable || attempt >= maxRetries) {
        if (failure) throw failure;
        return res!;
      }
      await res?.body?.cancel(); // the body of a response we retry is not needed
      await sleep(retryDelayMs(attempt, res), options.signal);
    }
  }

  private async readJson(operation: string, res: Response): Promise<unknown> {
    const requestId = res.headers.get('x-request-id') ?? undefined;
    const text = await res.text();
    let body: unknown;
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch (error) {
      if (!(error instanceof SyntaxError)) throw error;
      body = undefined;
    }
    if (res.status >= 200 && res.status < 300 && body !== undefined) return body;
    const apiError = errorCodeOf(body);
    if (apiError) {
      throw new SipmsApiError({
        status: res.status,
        code: apiError.code as ApiErrorCode,
        message: apiError.message,
        operation,
        requestId: apiError.requestId ?? requestId,
        details: apiError,
      });
    }
    throw new SipmsApiError({
      status: res.status,
      code: 'invalid_response',
      message: `HTTP ${res.status}: ${text.slice(0, 200) || 'empty body'}`,
      operation,
      requestId,
    });
  }

  // ---- tenancy -----------------------------------------------------------------------------------------------

  /** Signs a tenant up (no API key needed). The API key and the signing secret are shown only here. */
  signup(body: Operations['signup']['body'], options?: RequestOptions) {
    return this.request('signup', { body }, options);
  }

  readonly tenant = {
    get: (options?: RequestOptions) => this.request('getTenant', {}, options),
    update: (patch: Operations['updateTenant']['body'], options?: RequestOptions) =>
      this.request('updateTenant', { body: patch }, options),
    /** A new signing secret (shown only here); the previous one stays valid for 24 h. */
    rotateSigningSecret: (options?: RequestOptions) => this.request('rotateSigningSecret', {}, options),
  };

  readonly numbers = {
    list: (options?: RequestOptions) => this.request('listNumbers', {}, options),
    claim: (number: string, options?: RequestOptions) => this.request('claimNumber', { params: { number } }, options),
    release: (number: string, options?: RequestOptions) =>
      this.request('releaseNumber', { params: { number } }, options),
  };

  readonly apiKeys = {
    list: (options?: RequestOptions) => this.request('listApiKeys', {}, options),
    create: (name: string, options?: RequestOptions) => this.request('createApiKey', { body: { name } }, options),
    revoke: (keyId: string, options?: RequestOptions) => this.request('revokeApiKey', { params: { keyId } }, options),
  };

  // ---- softphone ---------------------------------------------------------------------------------------------

  /**
   * A short-lived SIP credential for a browser softphone: `wsUrl`, `token` (shown only here), `sipUri`,
   * `expiresAt`. `ttlSec` 60–3600, default 600. Each call issues a new credential (it is never replayed).
   */
  createSoftphoneCredential(body: Operations['createSoftphoneCredential']['body'] = {}, options?: RequestOptions) {
    return this.request('createSoftphoneCredential', { body }, options);
  }

  // ---- prompts -----------------------------------------------------------------------------------------------

  readonly prompts = {
    list: (query: Operations['listPromptFiles']['query'] = {}, options?: RequestOptions) =>
      this.request('listPromptFiles', { query }, options),
    /** Uploads a WAV or MP3 file of up to 4 MB (recognised by content); larger ones: `upload`. */
    put: (
      filename: string,
      data: Uint8Array | ArrayBuffer,
      options: RequestOptions & { contentType?: 'audio/wav' | 'audio/mpeg' | 'application/octet-stream' } = {},
    ) => this.putPrompt(filename, data, options),
    /** The file's bytes and content type (a large file is fetched from its download URL). */
    get: (filename: string, options?: RequestOptions) => this.getPrompt(filename, options),
    delete: (filename: string, options?: RequestOptions) =>
      this.request('deletePromptFile', { params: { filename } }, options),
    uploadUrl: (filename: string, body: Operations['uploadPromptFileUrl']['body'], options?: RequestOptions) =>
      this.request('uploadPromptFileUrl', { params: { filename }, body }, options),
    downloadUrl: (filename: string, options?: RequestOptions) =>
      this.request('getPromptFileDownloadUrl', { params: { filename } }, options),
    /** Uploads a file of any size through an upload URL (the bytes bypass the API). */
    upload: (
      filename: string,
      data: Uint8Array | ArrayBuffer,
      contentType: 'audio/wav' | 'audio/mpeg',
      options: RequestOptions = {},
    ) => this.uploadPrompt(filename, toBytes(data), contentType, options),
  };

  private async putPrompt(
    filename: string,
    data: Uint8Array | ArrayBuffer,
    options: RequestOptions & { contentType?: string },
  ) {
    const info = OPERATIONS.putPromptFile as OperationInfo;
    const input: RawInput = { params: { filename }, body: toBytes(data) };
    const res = await this.send('putPromptFile', info, input, options, {
      ...(options.contentType ? { contentType: options.contentType } : {}),
    });
    return (await this.readJson('putPromptFile', res)) as Operations['putPromptFile']['response'];
  }

  private async getPrompt(filename: string, options: RequestOptions = {}) {
    const info = OPERATIONS.getPromptFile as OperationInfo;
    return this.readRaw(
      'getPromptFile',
      await this.send('getPromptFile', info, { params: { filename } }, options),
      options,
    );
  }

  /** A response with bytes: a redirect (a large file's download URL) is followed without the API key. */
  private async readRaw(operation: string, res: Response, options: RequestOptions) {
    const location = res.headers.get('location');
    if (res.status >= 300 && res.status < 400 && location) {
      await res.body?.cancel();
      // A presigned URL refuses an Authorization header, and it is not for other hosts anyway.
      res = await this.fetchWithRetries(operation, new URL(location, this.baseUrl).href, {}, options);
    }
    if (!res.ok) await this.readJson(operation, res); // throws the API's error
    return {
      bytes: new Uint8Array(await res.arrayBuffer()),
      contentType: res.headers.get('content-type') ?? 'application/octet-stream',
    };
  }

  private async uploadPrompt(filename: string, data: Uint8Array, contentType: string, options: RequestOptions) {
    const target = await this.prompts.uploadUrl(
      filename,
      { contentType: contentType as 'audio/wav', bytes: data.byteLength },
      options,
    );
    const res = await this.fetchWithRetries(
      'uploadPromptFile',
      target.url,
      { method: 'PUT', headers: target.headers, body: data as NonNullable<RequestInit['body']> },
      options,
    );
    if (!res.ok) {
      throw new SipmsApiError({
        status: res.status,
        code: 'invalid_response',
        message: `the upload URL answered HTTP ${res.status}`,
        operation: 'uploadPromptFile',
      });
    }
    await res.arrayBuffer();
    return { success: true as const };
  }

  // ---- sessions and usage ------------------------------------------------------------------------------------

  readonly sessions = {
    /** One page, newest first; filter by creation time (`from`, `to`: ISO 8601) and `number`. */
    list: (query: Operations['listSessions']['query'] = {}, options?: RequestOptions) =>
      this.request('listSessions', { query }, options),
    /** Every session matching the filters, page after page. */
    all: (query: Omit<Operations['listSessions']['query'], 'cursor'> = {}, options?: RequestOptions) =>
      this.allSessions(query, options),
    /** One session with its journal: every callback with request, reply, status, latency and attempts, every SIP state change. */
    get: (sessionId: string, options?: RequestOptions) =>
      this.request('getSession', { params: { sessionId } }, options),
  };

  private async *allSessions(query: Operations['listSessions']['query'], options?: RequestOptions) {
    let cursor: string | undefined;
    do {
      const page = await this.request('listSessions', { query: { ...query, ...(cursor ? { cursor } : {}) } }, options);
      yield* page.sessions;
      cursor = page.nextCursor;
    } while (cursor);
  }

  readonly usage = {
    /** Usage per UTC day, `from` and `to` as YYYY-MM-DD (inclusive). */
    get: (query: Operations['getUsage']['query'], options?: RequestOptions) =>
      this.request('getUsage', { query }, options),
  };

  // ---- live calls --------------------------------------------------------------------------------------------

  readonly calls = {
    /** Calls a SIP URI or number and runs IVR with it (optionally in an existing session). */
    placeIvrCall: (body: Operations['placeIvrCall']['body'], options?: RequestOptions) =>
      this.request('placeIvrCall', { body }, options),
    hangupParticipant: (body: Operations['hangupParticipant']['body'], options?: RequestOptions) =>
      this.request('hangupParticipant', { body }, options),
    /** Stops the participant's running command; the next getIvrCommand follows. */
    interruptIvrCommand: (body: Operations['interruptIvrCommand']['body'], options?: RequestOptions) =>
      this.request('interruptIvrCommand', { body }, options),
    /** Connects two participants of a session; returns the connectionId. */
    connect: (body: Operations['connect']['body'], options?: RequestOptions) =>
      this.request('connect', { body }, options),
    splitConnection: (body: Operations['splitConnection']['body'], options?: RequestOptions) =>
      this.request('splitConnection', { body }, options),
    startRecording: (body: Operations['startRecording']['body'], options?: RequestOptions) =>
      this.request('startRecording', { body }, options),
    stopRecording: (body: Operations['stopRecording']['body'], options?: RequestOptions) =>
      this.request('stopRecording', { body }, options),
  };

  readonly conferences = {
    get: (name: string, options?: RequestOptions) => this.request('getConference', { params: { name } }, options),
    /** Mutes or deafens one participant. */
    updateParticipant: (
      name: string,
      participantId: string,
      body: Operations['updateConferenceParticipant']['body'],
      options?: RequestOptions,
    ) => this.request('updateConferenceParticipant', { params: { name, participantId }, body }, options),
    kick: (name: string, participantId: string, options?: RequestOptions) =>
      this.request('kickConferenceParticipant', { params: { name, participantId } }, options),
    end: (name: string, options?: RequestOptions) => this.request('endConference', { params: { name } }, options),
  };

  /** The platform's OpenAPI document, as it serves it. */
  openApiDocument(options?: RequestOptions) {
    return this.request('getOpenApiDocument', {}, options);
  }
}

interface RawInput {
  params?: Record<string, unknown>;
  query?: Record<string, unknown>;
  body?: unknown;
}

import type {
  SoftphoneCredential,
  SoftphoneCredentialCreated,
  SoftphoneCredentialRequest,
} from '../../sdk/src/generated/wire.js';

/** POST /v1/softphone/credentials's `credential`: its `token` is a secret, never shown, stored or logged. */
export type { SoftphoneCredential } from '../../sdk/src/generated/wire.js';

/**
 * The console's only way to the control-plane API: bearer key from the session, JSON in and out, and
 * every failure turned into an ApiError carrying the API's own `{error:{code,message}}` for display.
 */

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export interface Credentials {
  apiKey: string;
  domain: string;
}

export class Api {
  constructor(
    /** '' for the API on the console's own origin (the local deployment); the API's base URL on AWS. */
    readonly baseUrl: string,
    private readonly key: () => string | undefined,
  ) {}

  async request<T>(method: string, path: string, body?: unknown, init: { raw?: Blob; type?: string } = {}): Promise<T> {
    const headers: Record<string, string> = { accept: 'application/json' };
    const key = this.key();
    if (key) headers.authorization = `Bearer ${key}`;
    let payload: BodyInit | undefined;
    if (init.raw) {
      payload = init.raw;
      headers['content-type'] = init.type ?? 'application/octet-stream';
    } else if (body !== undefined) {
      payload = JSON.stringify(body);
      headers['content-type'] = 'application/json';
    }
    let res: Response;
    try {
      res = await fetch(`${this.baseUrl}${path}`, { method, headers, body: payload, cache: 'no-store' });
    } catch (err) {
      throw new ApiError(0, 'network', `the API could not be reached (${(err as Error).message})`);
    }
    const text = await res.text();
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      throw new ApiError(res.status, 'bad_response', `HTTP ${res.status}: the API's answer was not JSON`);
    }
    if (!res.ok) {
      const e = (json as { error?: { code?: string; message?: string; field?: string } } | undefined)?.error;
      const where = e?.field ? ` (${e.field})` : '';
      throw new ApiError(res.status, e?.code ?? `http_${res.status}`, `${e?.message ?? `HTTP ${res.status}`}${where}`);
    }
    return json as T;
  }

  get<T>(path: string): Promise<T> {
    return this.request<T>('GET', path);
  }

  /** A short-lived SIP credential admitting this browser to the WebSocket transport for the tenant's numbers. */
  async softphoneCredential(ttlSec?: number): Promise<SoftphoneCredential> {
    const body: Partial<SoftphoneCredentialRequest> = ttlSec === undefined ? {} : { ttlSec };
    const r = await this.request<Partial<SoftphoneCredentialCreated> | undefined>(
      'POST',
      '/v1/softphone/credentials',
      body,
    );
    // Checked, not trusted: the page builds URLs from these.
    const c: Partial<SoftphoneCredential> | undefined = r?.credential;
    for (const k of ['credentialId', 'token', 'wsUrl', 'sipUri', 'expiresAt'] as const) {
      if (typeof c?.[k] !== 'string') throw new ApiError(201, 'bad_response', `the softphone credential has no ${k}`);
    }
    return c as SoftphoneCredential;
  }
}

/** Where the API is: `config.json` beside the page (on AWS the stack writes it; locally it says same origin). */
export async function loadApiBaseUrl(): Promise<string> {
  const res = await fetch('config.json', { cache: 'no-store' });
  if (!res.ok) throw new Error(`config.json: HTTP ${res.status}`);
  const cfg = (await res.json()) as { apiUrl?: unknown };
  if (typeof cfg.apiUrl !== 'string') throw new Error('config.json has no apiUrl');
  return cfg.apiUrl.replace(/\/+$/, '');
}

/** The key lives in sessionStorage only: gone with the tab, never in the URL or in localStorage. */
const STORE_KEY = 'sipms.console.credentials';

export function loadCredentials(): Credentials | undefined {
  const raw = sessionStorage.getItem(STORE_KEY);
  if (!raw) return undefined;
  try {
    const c = JSON.parse(raw) as Partial<Credentials>;
    return typeof c.apiKey === 'string' && typeof c.domain === 'string'
      ? { apiKey: c.apiKey, domain: c.domain }
      : undefined;
  } catch {
    sessionStorage.removeItem(STORE_KEY);
    return undefined;
  }
}

export function saveCredentials(c: Credentials | undefined): void {
  if (c) sessionStorage.setItem(STORE_KEY, JSON.stringify(c));
  else sessionStorage.removeItem(STORE_KEY);
}

export const enc = encodeURIComponent;

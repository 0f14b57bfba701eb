/**
 * CallOptions checked and made concrete before anything is sent: the Request-URI, the server's address,
 * the From URI, the digits and the timers. Everything a caller (a person, a CI job, the SDK's test kit)
 * passes is treated as hostile: one CallOptionsError naming the field for the first thing that is wrong.
 */

import { formatHostPort, parseHostPort, parseSipUri } from '@sipms/media-node/sip/builtin/uri';
import { hasControl } from '@sipms/media-node/sip/builtin/wire-safety';
import { DTMF_DIGITS } from './dtmf-sender.js';
import { checkMs, formatMs } from './durations.js';
import { CallOptionsError } from './errors.js';
import type { CallOptions } from './types.js';

export const DEFAULT_SERVER = '127.0.0.1:5060';
export const DEFAULT_HANGUP_AFTER_MS = 30_000;
export const DEFAULT_RING_TIMEOUT_MS = 30_000;
export const DEFAULT_JOURNAL_TIMEOUT_MS = 10_000;
const MAX_CALL_MS = 4 * 3_600_000;
const MAX_DTMF_GROUPS = 100;
/** A number or user part: what a tenant may claim (E.164 or a SIP user part), plus the keys * and #. */
const USER = /^\+?[A-Za-z0-9*#][A-Za-z0-9*#._~-]{0,63}$/;

export interface CallPlan {
  /** The Request-URI. */
  requestUri: string;
  server: { host: string; port: number };
  transport: 'udp' | 'tcp';
  /** A SIP URI or a user name; a user name is completed with the local address once it is known. */
  from: { uri?: string; user?: string };
  dtmf: { atMs: number; digits: string }[];
  playWav: string | undefined;
  recordWav: string | undefined;
  hangupAfterMs: number;
  ringTimeoutMs: number;
  api: { url: string; apiKey: string } | undefined;
  journalTimeoutMs: number;
}

export function planCall(opts: CallOptions): CallPlan {
  if (typeof opts !== 'object' || opts === null) throw new CallOptionsError('options', 'must be an object');
  const server = parseServer(opts.server ?? DEFAULT_SERVER);
  const transport = opts.transport ?? 'udp';
  if (transport !== 'udp' && transport !== 'tcp') throw new CallOptionsError('transport', 'must be udp or tcp');
  const hangupAfterMs =
    opts.hangupAfterMs === undefined
      ? DEFAULT_HANGUP_AFTER_MS
      : checkMs(opts.hangupAfterMs, 'hangupAfterMs', { min: 1, max: MAX_CALL_MS });
  const ringTimeoutMs =
    opts.ringTimeoutMs === undefined
      ? DEFAULT_RING_TIMEOUT_MS
      : checkMs(opts.ringTimeoutMs, 'ringTimeoutMs', { min: 100, max: 600_000 });
  const journalTimeoutMs =
    opts.journalTimeoutMs === undefined
      ? DEFAULT_JOURNAL_TIMEOUT_MS
      : checkMs(opts.journalTimeoutMs, 'journalTimeoutMs', { max: 600_000 });
  return {
    requestUri: requestUri(opts.target, server),
    server,
    transport,
    from: parseFrom(opts.from),
    dtmf: checkDtmf(opts.dtmf, hangupAfterMs),
    playWav: checkPath(opts.playWav, 'playWav'),
    recordWav: checkPath(opts.recordWav, 'recordWav'),
    hangupAfterMs,
    ringTimeoutMs,
    api: checkApi(opts.api),
    journalTimeoutMs,
  };
}

/** `host[:port]`, `[v6]:port`; the port defaults to 5060. */
export function parseServer(text: unknown): { host: string; port: number } {
  if (typeof text !== 'string' || text.trim() === '' || hasControl(text)) {
    throw new CallOptionsError('server', 'must be host[:port]');
  }
  try {
    const { host, port } = parseHostPort(text);
    return { host, port: port ?? 5060 };
  } catch (err) {
    throw new CallOptionsError('server', `"${text}" is not host[:port] (${(err as Error).message})`);
  }
}

/** A SIP URI as given, or a number/user part addressed to the server. */
export function requestUri(target: unknown, server: { host: string; port: number }): string {
  if (typeof target !== 'string' || target.trim() === '') {
    throw new CallOptionsError('target', 'a number or a SIP URI is required');
  }
  const t = target.trim();
  if (hasControl(t)) throw new CallOptionsError('target', 'must not contain control characters');
  if (/^sips:/i.test(t)) throw new CallOptionsError('target', 'sips: URIs need TLS, which this caller does not use');
  if (/^sip:/i.test(t)) {
    if (t.length > 256) throw new CallOptionsError('target', 'longer than 256 characters');
    try {
      parseSipUri(t);
    } catch (err) {
      throw new CallOptionsError('target', `"${t}" is not a SIP URI (${(err as Error).message})`);
    }
    return t;
  }
  if (!USER.test(t)) {
    throw new CallOptionsError('target', `"${t}" is neither a number/user part (+4930123, ivr-test) nor a sip: URI`);
  }
  return `sip:${t.replaceAll('#', '%23')}@${formatHostPort(server.host, server.port)}`;
}

function parseFrom(from: unknown): { uri?: string; user?: string } {
  if (from === undefined) return { user: 'sipms-cli' };
  if (typeof from !== 'string' || from.trim() === '' || hasControl(from)) {
    throw new CallOptionsError('from', 'must be a SIP URI or a user name');
  }
  const f = from.trim();
  if (/^sips?:/i.test(f)) {
    try {
      parseSipUri(f);
    } catch (err) {
      throw new CallOptionsError('from', `"${f}" is not a SIP URI (${(err as Error).message})`);
    }
    return { uri: f };
  }
  if (!USER.test(f)) throw new CallOptionsError('from', `"${f}" is neither a user name nor a sip: URI`);
  return { user: f.replaceAll('#', '%23') };
}

function checkDtmf(dtmf: unknown, hangupAfterMs: number): { atMs: number; digits: string }[] {
  if (dtmf === undefined) return [];
  if (!Array.isArray(dtmf)) throw new CallOptionsError('dtmf', 'must be a list of {atMs, digits}');
  if (dtmf.length > MAX_DTMF_GROUPS) throw new CallOptionsError('dtmf', `at most ${MAX_DTMF_GROUPS} groups`);
  return dtmf.map((g: unknown) => {
    const { atMs, digits } = (g ?? {}) as { atMs?: unknown; digits?: unknown };
    if (typeof digits !== 'string' || digits.length === 0 || digits.length > 64) {
      throw new CallOptionsError('dtmf', 'each group needs 1-64 digits');
    }
    const keys = digits.toUpperCase();
    const bad = [...keys].find((d) => !DTMF_DIGITS.includes(d));
    if (bad !== undefined) throw new CallOptionsError('dtmf', `"${bad}" is not a DTMF key (0-9 * # A-D)`);
    const at = checkMs(atMs, 'dtmf', { max: MAX_CALL_MS });
    if (at >= hangupAfterMs) {
      throw new CallOptionsError(
        'dtmf',
        `${keys} at ${formatMs(at)} would be after the hang-up at ${formatMs(hangupAfterMs)}`,
      );
    }
    return { atMs: at, digits: keys };
  });
}

function checkPath(path: unknown, field: string): string | undefined {
  if (path === undefined) return undefined;
  if (typeof path !== 'string' || path === '' || path.includes('\0'))
    throw new CallOptionsError(field, 'must be a file path');
  return path;
}

function checkApi(api: unknown): { url: string; apiKey: string } | undefined {
  if (api === undefined) return undefined;
  const { url, apiKey } = (api ?? {}) as { url?: unknown; apiKey?: unknown };
  let parsed: URL;
  try {
    parsed = new URL(String(url));
  } catch (err) {
    throw new CallOptionsError('api.url', `"${String(url)}" is not a URL (${(err as Error).message})`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new CallOptionsError('api.url', 'must be an http(s) URL');
  }
  if (typeof apiKey !== 'string' || !/^[\x21-\x7e]{8,512}$/.test(apiKey)) {
    throw new CallOptionsError('api.apiKey', 'must be the API key (printable, no spaces)');
  }
  return { url: parsed.href.replace(/\/+$/, ''), apiKey };
}

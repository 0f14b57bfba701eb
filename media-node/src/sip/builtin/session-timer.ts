/**
 * RFC 4028 session timers: the Session-Expires and Min-SE headers (§4, §5), the UAS's choice of
 * interval and refresher (§9), the UAC's reading of a 2xx (§7.4) and the headers of a refresh
 * request (§7.4, §8). The dialog (dialog.ts) runs the timers; this module only decides.
 *
 * `refresher=uac` / `uas` name the roles of the transaction that carried the header, not of the
 * dialog: in a re-INVITE the callee sends, `uac` is the callee. Inside the stack the refresher is
 * therefore kept as 'local' or 'remote'.
 */

import type { SipRequest, SipResponse } from './message.js';

/** What this UA asks for and accepts (SESSION_EXPIRES_SEC, SESSION_MIN_SE_SEC; docs/sip.md). */
export interface SessionTimerSettings {
  /** The session interval we want (default 1800 s, RFC 4028 §4's recommendation). */
  expiresSec: number;
  /** The smallest interval we accept; shorter requests get 422 (default 90 s, the floor of §5). */
  minSeSec: number;
}

export const DEFAULT_SESSION_TIMER: SessionTimerSettings = { expiresSec: 1800, minSeSec: 90 };

/** The session timer of a dialog: its interval, who refreshes, and the agreed minimum. */
export interface SessionTimerState {
  intervalSec: number;
  refresher: 'local' | 'remote';
  /** The Min-SE our refresh requests carry (§7.4: at least what was agreed before, e.g. after a 422). */
  minSeSec: number;
}

/** delta-seconds (RFC 3261 §25.1) are at most 2^32 - 1; a timer is never set beyond setTimeout's range. */
const MAX_DELTA_SECONDS = 2 ** 32 - 1;

export interface SessionExpires {
  deltaSec: number;
  refresher?: 'uac' | 'uas';
}

/** Checks the settings (both whole seconds ≥ 1, minimum ≤ interval); throws RangeError. */
export function checkSessionTimerSettings(settings: SessionTimerSettings): void {
  const { expiresSec, minSeSec } = settings;
  if (!Number.isInteger(expiresSec) || !Number.isInteger(minSeSec) || minSeSec < 1 || expiresSec > MAX_DELTA_SECONDS) {
    throw new RangeError(`session timer: whole seconds from 1 needed, got ${expiresSec} / ${minSeSec}`);
  }
  if (minSeSec > expiresSec) {
    throw new RangeError(`session timer: the minimum (${minSeSec} s) exceeds the interval (${expiresSec} s)`);
  }
}

/** `Session-Expires: 1800;refresher=uac` (§4); undefined when absent, 'invalid' when unreadable. */
export function parseSessionExpires(message: SipRequest | SipResponse): SessionExpires | undefined | 'invalid' {
  const value = message.headers.get('session-expires');
  if (value === undefined) return undefined;
  const [delta, ...params] = value.split(';');
  const deltaSec = parseDelta(delta);
  if (deltaSec === undefined) return 'invalid';
  const result: SessionExpires = { deltaSec };
  for (const param of params) {
    const [name, paramValue] = param.split('=').map((s) => s.trim().toLowerCase());
    if (name !== 'refresher') continue; // other se-params are extensions (§4) and ignored
    if (paramValue !== 'uac' && paramValue !== 'uas') return 'invalid';
    result.refresher = paramValue;
  }
  return result;
}

/** `Min-SE: 90` (§5); undefined when absent, 'invalid' when unreadable. */
export function parseMinSe(message: SipRequest | SipResponse): number | undefined | 'invalid' {
  const value = message.headers.get('min-se');
  if (value === undefined) return undefined;
  return parseDelta(value.split(';')[0]) ?? 'invalid';
}

function parseDelta(text: string | undefined): number | undefined {
  const trimmed = text?.trim() ?? '';
  if (!/^\d{1,10}$/.test(trimmed)) return undefined;
  const n = Number(trimmed);
  return n <= MAX_DELTA_SECONDS ? n : undefined;
}

/** Whether the message says `Supported: timer` (or `Require: timer`). */
export function supportsTimer(message: SipRequest | SipResponse): boolean {
  return [...message.headers.getAll('supported'), ...message.headers.getAll('require')].some(
    (tag) => tag.toLowerCase() === 'timer',
  );
}

/** Whether the message's Allow lists `method`; undefined when it has no Allow. */
export function allowsMethod(message: SipRequest | SipResponse, method: string): boolean | undefined {
  if (!message.headers.has('allow')) return undefined;
  return message.headers.getAll('allow').some((m) => m.toUpperCase() === method);
}

export type UasDecision =
  /** §9: Session-Expires below our minimum: 422 with our Min-SE. */
  | { kind: 'too-small'; minSeSec: number }
  | { kind: 'invalid'; reason: string }
  | { kind: 'accept'; state: SessionTimerState; headers: Record<string, string> };

/**
 * §9: how we answer an INVITE, re-INVITE or UPDATE as its UAS. The interval is the request's
 * Session-Expires, lowered to ours when it is longer, never below the request's Min-SE or ours;
 * without Session-Expires we apply ours (§9 allows it). The refresher is the request's choice;
 * unnamed, the UAC refreshes when it supports the extension, else we do (`refresher=uas`, no
 * Require, since a UAC without `timer` cannot refresh on request).
 */
export function negotiateAsUas(request: SipRequest, settings: SessionTimerSettings): UasDecision {
  const se = parseSessionExpires(request);
  const minSe = parseMinSe(request);
  if (se === 'invalid') return { kind: 'invalid', reason: 'Bad Session-Expires' };
  if (minSe === 'invalid') return { kind: 'invalid', reason: 'Bad Min-SE' };
  if (se !== undefined && se.deltaSec < settings.minSeSec) return { kind: 'too-small', minSeSec: settings.minSeSec };
  const peerSupports = supportsTimer(request);
  const floor = Math.max(settings.minSeSec, minSe ?? 0);
  const wanted = se === undefined ? settings.expiresSec : Math.min(se.deltaSec, settings.expiresSec);
  const intervalSec = Math.max(wanted, floor);
  const refresher: 'uac' | 'uas' = peerSupports ? (se?.refresher ?? 'uac') : 'uas';
  const headers: Record<string, string> = {
    Supported: 'timer',
    'Session-Expires': `${intervalSec};refresher=${refresher}`,
  };
  if (peerSupports) headers['Require'] = 'timer';
  return {
    kind: 'accept',
    state: { intervalSec, refresher: refresher === 'uac' ? 'remote' : 'local', minSeSec: floor },
    headers,
  };
}

/**
 * §7.4: the session timer a 2xx to our request sets: its Session-Expires, `refresher=uac` meaning
 * us. Undefined when the 2xx carries none (or an unreadable one).
 */
export function stateFromResponse(response: SipResponse, minSeSec: number): SessionTimerState | undefined {
  const se = parseSessionExpires(response);
  if (se === undefined || se === 'invalid') return undefined;
  // §7.4 asks the UAS to name the refresher; when it does not, refreshing ourselves is the safe side.
  return {
    intervalSec: Math.max(se.deltaSec, 1),
    refresher: se.refresher === 'uas' ? 'remote' : 'local',
    minSeSec,
  };
}

/** The headers of a request we send inside a dialog whose timer is `state` (§7.4), or of an initial INVITE. */
export function requestTimerHeaders(
  state: SessionTimerState | undefined,
  settings: SessionTimerSettings,
): Record<string, string> {
  if (!state) {
    // §7.1: an initial request leaves the refresher to the UAS.
    return { Supported: 'timer', 'Session-Expires': String(settings.expiresSec), 'Min-SE': String(settings.minSeSec) };
  }
  return {
    Supported: 'timer',
    'Session-Expires': `${state.intervalSec};refresher=${state.refresher === 'local' ? 'uac' : 'uas'}`,
    'Min-SE': String(state.minSeSec),
  };
}

/** setTimeout's largest delay; longer intervals fire at this bound instead of at once. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** §10: when the non-refresher gives up: expiry minus min(32 s, a third of the interval). */
export function expiryDelayMs(intervalSec: number): number {
  const ms = intervalSec * 1000;
  return Math.min(ms - Math.min(32_000, ms / 3), MAX_TIMER_MS);
}

/** §10: the refresher refreshes at half the interval. */
export function refreshDelayMs(intervalSec: number): number {
  return Math.min((intervalSec * 1000) / 2, MAX_TIMER_MS);
}

/**
 * Where the softphone connects and whom it calls, from the credential's wsUrl. Pure (no DOM): unit-tested.
 * The WebSocket URL carries the token as a query parameter (the contract); the SIP target's host is the
 * WebSocket's host, so one configured URL (SOFTPHONE_WS_URL) says both.
 */

/** A number the tenant can claim: E.164 or a SIP user part (the API's own rule for /v1/numbers). */
const DIALABLE = /^(\+[1-9][0-9]{3,15}|[A-Za-z0-9][A-Za-z0-9._~-]*)$/;

/** The deployment's WebSocket URL, checked: ws:// or wss://, a host, no credentials, query or fragment. */
export function parseWsUrl(wsUrl: string): URL {
  let url: URL;
  try {
    url = new URL(wsUrl);
  } catch {
    throw new Error(`the API gave a softphone WebSocket URL that is not a URL: ${JSON.stringify(wsUrl)}`);
  }
  if (url.protocol !== 'ws:' && url.protocol !== 'wss:') {
    throw new Error(`the softphone WebSocket URL must be ws:// or wss://, not ${url.protocol}`);
  }
  if (!url.hostname || url.username || url.password || url.search || url.hash) {
    throw new Error('the softphone WebSocket URL must be a bare ws(s)://host[:port][/path]');
  }
  return url;
}

/** `${wsUrl}/?token=…`: the path the contract names, whatever trailing slash the configured URL had. */
export function socketUrl(wsUrl: string, token: string): string {
  const url = parseWsUrl(wsUrl);
  const base = `${url.protocol}//${url.host}${url.pathname.replace(/\/+$/, '')}`;
  return `${base}/?token=${encodeURIComponent(token)}`;
}

export function isDialable(number: string): boolean {
  return DIALABLE.test(number);
}

/** `sip:<number>@<host of wsUrl>`; throws for anything that is not a claimable number. */
export function targetUri(wsUrl: string, number: string): string {
  if (!isDialable(number)) throw new Error(`${JSON.stringify(number)} is not an E.164 number or SIP user part`);
  // URL.hostname keeps an IPv6 literal's brackets, as a SIP URI needs them.
  return `sip:${number}@${parseWsUrl(wsUrl).hostname}`;
}

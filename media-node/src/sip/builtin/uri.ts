/**
 * SIP/SIPS URIs (RFC 3261 §19.1, §25.1), name-addr / addr-spec header values (§20.10, §20.20,
 * §20.39) and Via (§20.42, RFC 3581 rport). Parse errors throw SipSyntaxError, which the message
 * parser turns into a SipParseError.
 */

/**
 * For callers that treat unparsable text as absent: `fallback` when `err` is a SipSyntaxError; anything else
 * (a bug, not bad input) is rethrown. `try { … } catch (err) { return onSyntaxError(err, undefined); }`
 */
export function onSyntaxError<T>(err: unknown, fallback: T): T {
  if (err instanceof SipSyntaxError) return fallback;
  throw err;
}

export class SipSyntaxError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SipSyntaxError';
  }
}

/** Parameters keep their order; a parameter without `=value` maps to null. Names are lower-case. */
export type Params = Map<string, string | null>;

export interface SipUri {
  scheme: 'sip' | 'sips';
  /** Unescaped user part, '' when absent. */
  user: string;
  /** The user part as written (escapes kept), for re-serialisation. */
  rawUser: string;
  password?: string;
  /** Host without IPv6 brackets. */
  host: string;
  port?: number;
  params: Params;
  /** URI headers (`?name=value&...`), raw. */
  headers: [string, string][];
}

export interface NameAddress {
  displayName?: string;
  /** The URI text as written. */
  uri: string;
  /** Parsed when the scheme is sip/sips. */
  sipUri?: SipUri;
  tag?: string;
  /** Header parameters (outside the URI), including tag. */
  params: Params;
}

export interface Via {
  protocol: string;
  version: string;
  transport: string;
  host: string;
  port?: number;
  params: Params;
  branch?: string;
  received?: string;
  /** undefined: no rport; null: `rport` without value (RFC 3581 request); number: filled. */
  rport?: number | null;
}

const TOKEN_RE = /^[A-Za-z0-9\-.!%*_+`'~]+$/;
const HOSTNAME_RE = /^[A-Za-z0-9]([A-Za-z0-9\-.]*[A-Za-z0-9])?\.?$/;
const IPV4_RE = /^\d{1,3}(\.\d{1,3}){3}$/;
const IPV6_RE = /^[0-9A-Fa-f:.]+$/;

export function isToken(s: string): boolean {
  return TOKEN_RE.test(s);
}

/** Decodes %XX escapes as UTF-8; rejects malformed escapes. */
export function unescapeUriPart(s: string): string {
  if (!s.includes('%')) return s;
  const bytes: number[] = [];
  for (let i = 0; i < s.length; i++) {
    const ch = s[i]!;
    if (ch === '%') {
      const hex = s.slice(i + 1, i + 3);
      if (!/^[0-9A-Fa-f]{2}$/.test(hex)) throw new SipSyntaxError('Invalid %-escape in URI');
      bytes.push(Number.parseInt(hex, 16));
      i += 2;
    } else {
      bytes.push(...Buffer.from(ch, 'utf8'));
    }
  }
  return Buffer.from(bytes).toString('utf8');
}

export function isIpv4(host: string): boolean {
  return IPV4_RE.test(host) && host.split('.').every((o) => Number(o) <= 255);
}

export function isIpv6(host: string): boolean {
  return host.includes(':') && IPV6_RE.test(host);
}

export function isIpAddress(host: string): boolean {
  return isIpv4(host) || isIpv6(host);
}

function parsePort(text: string): number {
  if (!/^\d{1,5}$/.test(text)) throw new SipSyntaxError('Invalid port');
  const port = Number(text);
  if (port < 1 || port > 65535) throw new SipSyntaxError('Invalid port');
  return port;
}

/** Parses `host[:port]` where host may be `[IPv6]`. */
export function parseHostPort(text: string): { host: string; port?: number } {
  const s = text.trim();
  let host: string;
  let rest: string;
  if (s.startsWith('[')) {
    const close = s.indexOf(']');
    if (close < 0) throw new SipSyntaxError('Unterminated IPv6 reference');
    host = s.slice(1, close);
    if (!isIpv6(host)) throw new SipSyntaxError('Invalid IPv6 address');
    rest = s.slice(close + 1);
  } else {
    const colon = s.indexOf(':');
    host = colon < 0 ? s : s.slice(0, colon);
    rest = colon < 0 ? '' : s.slice(colon);
    if (!(isIpv4(host) || HOSTNAME_RE.test(host))) throw new SipSyntaxError('Invalid host');
  }
  if (rest === '') return { host };
  if (!rest.startsWith(':')) throw new SipSyntaxError('Invalid host');
  return { host, port: parsePort(rest.slice(1).trim()) };
}

export function formatHost(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

export function formatHostPort(host: string, port?: number): string {
  return port === undefined ? formatHost(host) : `${formatHost(host)}:${port}`;
}

/**
 * Splits `;a=b;c;d="x;y"` into params. Quoted values (used in header params) keep their quotes.
 * `text` must start at the first `;` or be empty.
 */
export function parseParams(text: string): Params {
  const params: Params = new Map();
  const parts = splitOutsideQuotes(text, ';');
  if (parts.length > 0 && parts[0]!.trim() !== '') throw new SipSyntaxError('Invalid parameters');
  for (const part of parts.slice(1)) {
    const eq = part.indexOf('=');
    const name = (eq < 0 ? part : part.slice(0, eq)).trim().toLowerCase();
    if (name === '' || !isToken(name)) throw new SipSyntaxError('Invalid parameter name');
    params.set(name, eq < 0 ? null : part.slice(eq + 1).trim());
  }
  return params;
}

export function formatParams(params: Params): string {
  let out = '';
  for (const [name, value] of params) out += value === null ? `;${name}` : `;${name}=${value}`;
  return out;
}

/** Splits on `sep` outside double-quoted strings (with backslash escapes). */
function splitOutsideQuotes(text: string, sep: string): string[] {
  const parts: string[] = [];
  let current = '';
  let inQuotes = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (inQuotes) {
      current += ch;
      if (ch === '\\' && i + 1 < text.length) current += text[++i];
      else if (ch === '"') inQuotes = false;
    } else if (ch === '"') {
      inQuotes = true;
      current += ch;
    } else if (ch === sep) {
      parts.push(current);
      current = '';
    } else {
      current += ch;
    }
  }
  if (inQuotes) throw new SipSyntaxError('Unterminated quoted string');
  parts.push(current);
  return parts;
}

/** Parses a sip: or sips: URI. */
export function parseSipUri(text: string): SipUri {
  const s = text.trim();
  const colon = s.indexOf(':');
  if (colon < 0) throw new SipSyntaxError('Invalid URI');
  const scheme = s.slice(0, colon).toLowerCase();
  if (scheme !== 'sip' && scheme !== 'sips') throw new SipSyntaxError('Unsupported URI scheme');
  let rest = s.slice(colon + 1);
  if (/[\s<>"]/.test(rest)) throw new SipSyntaxError('Invalid character in URI');

  // userinfo ends at the first '@' (unescaped '@' cannot occur in user or password, §25.1).
  let rawUser = '';
  let password: string | undefined;
  const at = rest.indexOf('@');
  const question = rest.indexOf('?');
  if (at >= 0 && (question < 0 || at < question)) {
    const userinfo = rest.slice(0, at);
    rest = rest.slice(at + 1);
    const pw = userinfo.indexOf(':');
    rawUser = pw < 0 ? userinfo : userinfo.slice(0, pw);
    if (pw >= 0) password = unescapeUriPart(userinfo.slice(pw + 1));
    if (rawUser === '') throw new SipSyntaxError('Empty user part');
  }
  const user = unescapeUriPart(rawUser);

  let headerText = '';
  const q = rest.indexOf('?');
  if (q >= 0) {
    headerText = rest.slice(q + 1);
    rest = rest.slice(0, q);
  }
  const semi = rest.indexOf(';');
  const hostPort = semi < 0 ? rest : rest.slice(0, semi);
  const { host, port } = parseHostPort(hostPort);
  const params = parseParams(semi < 0 ? '' : rest.slice(semi));
  const headers: [string, string][] = [];
  if (headerText !== '') {
    for (const pair of headerText.split('&')) {
      const eq = pair.indexOf('=');
      if (eq <= 0) throw new SipSyntaxError('Invalid URI header');
      headers.push([pair.slice(0, eq), pair.slice(eq + 1)]);
    }
  }
  const uri: SipUri = { scheme, user, rawUser, host, params, headers };
  if (port !== undefined) uri.port = port;
  if (password !== undefined) uri.password = password;
  return uri;
}

export function formatSipUri(uri: SipUri): string {
  let out = `${uri.scheme}:`;
  if (uri.rawUser !== '') out += uri.password === undefined ? `${uri.rawUser}@` : `${uri.rawUser}:${uri.password}@`;
  out += formatHostPort(uri.host, uri.port);
  out += formatParams(uri.params);
  if (uri.headers.length > 0) out += `?${uri.headers.map(([n, v]) => `${n}=${v}`).join('&')}`;
  return out;
}

/** A URI of any scheme must at least look like `scheme:something` (RFC 3986 absoluteURI). */
export function isAbsoluteUri(text: string): boolean {
  return /^[A-Za-z][A-Za-z0-9+\-.]*:\S+$/.test(text);
}

function unquote(quoted: string): string {
  let out = '';
  for (let i = 1; i < quoted.length - 1; i++) {
    const ch = quoted[i]!;
    if (ch === '\\' && i + 1 < quoted.length - 1) out += quoted[++i];
    else out += ch;
  }
  return out;
}

export function quoteString(s: string): string {
  return `"${s.replace(/["\\]/g, (c) => `\\${c}`)}"`;
}

/**
 * Parses a name-addr (`"Name" <uri>;params` or `Name <uri>;params`) or addr-spec (`uri;params`).
 * In the addr-spec form the `;params` are header parameters, not URI parameters (§20.10).
 */
export function parseNameAddress(text: string): NameAddress {
  const s = text.trim();
  if (s === '') throw new SipSyntaxError('Empty address');
  let displayName: string | undefined;
  let uriText: string;
  let paramText: string;
  let i = 0;
  if (s.startsWith('"')) {
    let end = 1;
    while (end < s.length && s[end] !== '"') end += s[end] === '\\' ? 2 : 1;
    if (end >= s.length) throw new SipSyntaxError('Unterminated display name');
    displayName = unquote(s.slice(0, end + 1));
    i = end + 1;
  }
  const lt = s.indexOf('<', i);
  if (lt >= 0) {
    const before = s.slice(i, lt).trim();
    if (displayName === undefined) {
      if (before !== '') {
        if (!before.split(/\s+/).every(isToken)) throw new SipSyntaxError('Invalid display name');
        displayName = before;
      }
    } else if (before !== '') {
      throw new SipSyntaxError('Invalid address');
    }
    const gt = s.indexOf('>', lt);
    if (gt < 0) throw new SipSyntaxError('Unterminated <URI>');
    uriText = s.slice(lt + 1, gt).trim();
    paramText = s.slice(gt + 1).trim();
  } else {
    if (displayName !== undefined) throw new SipSyntaxError('Display name without <URI>');
    const semi = s.indexOf(';');
    uriText = semi < 0 ? s : s.slice(0, semi);
    paramText = semi < 0 ? '' : s.slice(semi);
    if (/[?,]/.test(uriText)) throw new SipSyntaxError('Address with headers must use <URI>');
  }
  if (!isAbsoluteUri(uriText)) throw new SipSyntaxError('Invalid URI in address');
  const params = parseParams(paramText);
  const result: NameAddress = { uri: uriText, params };
  const scheme = uriText.slice(0, uriText.indexOf(':')).toLowerCase();
  if (scheme === 'sip' || scheme === 'sips') result.sipUri = parseSipUri(uriText);
  if (displayName !== undefined) result.displayName = displayName;
  const tag = params.get('tag');
  if (tag !== undefined && tag !== null) result.tag = tag;
  return result;
}

export function formatNameAddress(addr: { displayName?: string; uri: string; params?: Params }): string {
  const name = addr.displayName === undefined ? '' : `${quoteString(addr.displayName)} `;
  return `${name}<${addr.uri}>${addr.params ? formatParams(addr.params) : ''}`;
}

/** Parses one Via value: `SIP/2.0/UDP host[:port];params`, LWS allowed around `/` and `:`. */
export function parseVia(text: string): Via {
  const m = /^\s*([^\s/]+)\s*\/\s*([^\s/]+)\s*\/\s*([^\s/]+)\s+([^;]+?)\s*(;.*)?$/.exec(text);
  if (!m) throw new SipSyntaxError('Invalid Via');
  const [, protocol, version, transport, sentBy, paramText] = m;
  if (!isToken(protocol!) || !isToken(version!) || !isToken(transport!)) throw new SipSyntaxError('Invalid Via');
  const { host, port } = parseHostPort(sentBy!.replace(/\s*:\s*/, ':'));
  const params = parseParams(paramText ?? '');
  const via: Via = {
    protocol: protocol!.toUpperCase(),
    version: version!,
    transport: transport!.toUpperCase(),
    host,
    params,
  };
  if (port !== undefined) via.port = port;
  const branch = params.get('branch');
  if (branch) via.branch = branch;
  const received = params.get('received');
  if (received) via.received = received;
  if (params.has('rport')) {
    const rport = params.get('rport');
    if (rport === null || rport === '') via.rport = null;
    else via.rport = parsePort(rport!);
  }
  return via;
}

export function formatVia(via: Via): string {
  return `${via.protocol}/${via.version}/${via.transport} ${formatHostPort(via.host, via.port)}${formatParams(via.params)}`;
}

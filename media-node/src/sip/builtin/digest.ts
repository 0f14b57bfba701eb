/**
 * HTTP Digest for SIP UACs (RFC 3261 §22, RFC 7616, RFC 8760): MD5 and SHA-256 (plus their -sess
 * variants), qop=auth with nc/cnonce, or no qop for RFC 2069-style servers. qop=auth-int alone is
 * not supported (a challenge offering only it is not answered).
 */

import { createHash, randomBytes } from 'node:crypto';

export interface DigestChallenge {
  realm: string;
  nonce: string;
  algorithm: string;
  opaque?: string;
  /** The qop values offered, lower-case. */
  qop: string[];
  stale: boolean;
}

const HASHES: Readonly<Record<string, string>> = { MD5: 'md5', 'SHA-256': 'sha256' };

/** Parses `Digest k=v, k="v", ...`; undefined for other schemes or an unusable challenge. */
export function parseDigestChallenge(header: string): DigestChallenge | undefined {
  const m = /^\s*Digest\s+(.*)$/is.exec(header);
  if (!m) return undefined;
  const params = new Map<string, string>();
  const re = /([A-Za-z0-9_-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))\s*(?:,|$)/g;
  for (let match = re.exec(m[1]!); match !== null; match = re.exec(m[1]!)) {
    params.set(match[1]!.toLowerCase(), match[2] !== undefined ? match[2].replace(/\\(.)/g, '$1') : match[3]!);
    if (match[0] === '') break;
  }
  const realm = params.get('realm');
  const nonce = params.get('nonce');
  if (realm === undefined || nonce === undefined) return undefined;
  const challenge: DigestChallenge = {
    realm,
    nonce,
    algorithm: (params.get('algorithm') ?? 'MD5').toUpperCase(),
    qop: (params.get('qop') ?? '')
      .split(',')
      .map((q) => q.trim().toLowerCase())
      .filter((q) => q !== ''),
    stale: (params.get('stale') ?? '').toLowerCase() === 'true',
  };
  const opaque = params.get('opaque');
  if (opaque !== undefined) challenge.opaque = opaque;
  return challenge;
}

function baseAlgorithm(algorithm: string): string {
  return algorithm.replace(/-SESS$/, '');
}

/** Whether we can answer this challenge. */
export function isSupportedChallenge(c: DigestChallenge): boolean {
  if (HASHES[baseAlgorithm(c.algorithm)] === undefined) return false;
  return c.qop.length === 0 || c.qop.includes('auth');
}

/** Of several challenges (one per header), the strongest we support (RFC 8760 §2.4: SHA-256 first). */
export function chooseChallenge(headers: string[]): DigestChallenge | undefined {
  const usable = headers
    .map(parseDigestChallenge)
    .filter((c): c is DigestChallenge => c !== undefined && isSupportedChallenge(c));
  return usable.find((c) => baseAlgorithm(c.algorithm) === 'SHA-256') ?? usable[0];
}

export interface DigestInput {
  method: string;
  uri: string;
  username: string;
  password: string;
  /** Nonce count for this nonce, starting at 1. */
  nc: number;
  /** Fixed in tests; random otherwise. */
  cnonce?: string;
}

function quote(value: string): string {
  return `"${value.replace(/(["\\])/g, '\\$1')}"`;
}

/** The Authorization / Proxy-Authorization header value answering `challenge`. */
export function digestAuthorization(challenge: DigestChallenge, input: DigestInput): string {
  const algorithm = challenge.algorithm;
  const hashName = HASHES[baseAlgorithm(algorithm)];
  if (!hashName) throw new Error(`unsupported digest algorithm ${algorithm}`);
  const h = (text: string): string => createHash(hashName).update(text, 'utf8').digest('hex');
  const cnonce = input.cnonce ?? randomBytes(8).toString('hex');
  const nc = input.nc.toString(16).padStart(8, '0');
  let ha1 = h(`${input.username}:${challenge.realm}:${input.password}`);
  if (algorithm.endsWith('-SESS')) ha1 = h(`${ha1}:${challenge.nonce}:${cnonce}`);
  const ha2 = h(`${input.method}:${input.uri}`);
  const useQop = challenge.qop.includes('auth');
  const response = useQop
    ? h(`${ha1}:${challenge.nonce}:${nc}:${cnonce}:auth:${ha2}`)
    : h(`${ha1}:${challenge.nonce}:${ha2}`);
  const parts = [
    `username=${quote(input.username)}`,
    `realm=${quote(challenge.realm)}`,
    `nonce=${quote(challenge.nonce)}`,
    `uri=${quote(input.uri)}`,
    `response=${quote(response)}`,
    `algorithm=${algorithm}`,
  ];
  if (useQop) parts.push(`cnonce=${quote(cnonce)}`, 'qop=auth', `nc=${nc}`);
  if (challenge.opaque !== undefined) parts.push(`opaque=${quote(challenge.opaque)}`);
  return `Digest ${parts.join(', ')}`;
}

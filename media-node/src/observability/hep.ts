/**
 * SIP capture to a Homer collector (docs/operations.md): every message the built-in SIP stack sends or
 * receives, encapsulated in HEP v3 (the EEP/HEP3 chunk format Kamailio, OpenSIPS, FreeSWITCH, rtpengine
 * and heplify-server speak) and sent over UDP. Capture is best effort: nothing here may slow down,
 * block or break the SIP path.
 */

import { createSocket, type Socket } from 'node:dgram';
import { lookup } from 'node:dns/promises';
import { isIP, isIPv4 } from 'node:net';
import { networkInterfaces } from 'node:os';
import type { Logger } from '@sipms/shared/util/logger';
import type { SipTransport } from '../ports/signaling.js';
import type { CapturedMessage } from '../sip/builtin/transport.js';

/** The largest UDP payload over IPv4 (65535 − 8 UDP − 20 IP): a bigger HEP packet cannot be sent in one datagram. */
export const MAX_HEP_DATAGRAM_BYTES = 65_507;

/** Generic chunk types (vendor 0x0000) of HEP v3. */
const CHUNK = {
  ipFamily: 0x0001,
  ipProtocol: 0x0002,
  ipv4Source: 0x0003,
  ipv4Destination: 0x0004,
  ipv6Source: 0x0005,
  ipv6Destination: 0x0006,
  sourcePort: 0x0007,
  destinationPort: 0x0008,
  timeSeconds: 0x0009,
  timeMicroseconds: 0x000a,
  protocolType: 0x000b,
  captureId: 0x000c,
  authKey: 0x000e,
  payload: 0x000f,
  correlationId: 0x0011,
} as const;

const AF_INET = 2;
const AF_INET6 = 10;
const IPPROTO_TCP = 6;
const IPPROTO_UDP = 17;
const PROTOCOL_TYPE_SIP = 1;
/** vendor id, type id, length: 2 bytes each. */
const CHUNK_HEADER = 6;
/** "HEP3" and the total length. */
const PACKET_HEADER = 6;

export interface HepPacket {
  /** TLS is reported as TCP: HEP has no TLS protocol id, and the payload is the cleartext anyway. */
  transport: SipTransport;
  source: { address: string; port: number };
  destination: { address: string; port: number };
  /** Seconds and microseconds since the epoch. */
  seconds: number;
  microseconds: number;
  captureId: number;
  /** Chunk 0x000e, only when set (HEP_PASSWORD). */
  authKey?: string | undefined;
  /** The SIP message, byte for byte. */
  payload: Buffer;
  /** Chunk 0x0011: the Call-ID, which Homer groups a call's messages by. Bytes kept as they are (latin1). */
  correlationId?: string | undefined;
}

/**
 * One HEP v3 packet, or undefined when it would be larger than `maxBytes` (default: what one UDP
 * datagram carries). Both addresses are sent in one family: IPv4 when both are IPv4, else IPv6
 * (an IPv4 address then as ::ffff:a.b.c.d).
 */
export function encodeHep3(packet: HepPacket, maxBytes = MAX_HEP_DATAGRAM_BYTES): Buffer | undefined {
  const v4 = isIPv4(packet.source.address) && isIPv4(packet.destination.address);
  const source = v4 ? ipv4Bytes(packet.source.address) : ipv6Bytes(packet.source.address);
  const destination = v4 ? ipv4Bytes(packet.destination.address) : ipv6Bytes(packet.destination.address);
  const authKey = packet.authKey === undefined ? undefined : Buffer.from(packet.authKey, 'utf8');
  const correlation = packet.correlationId === undefined ? undefined : Buffer.from(packet.correlationId, 'latin1');
  const length =
    PACKET_HEADER +
    2 * (CHUNK_HEADER + 1) + // family, protocol
    2 * (CHUNK_HEADER + source.length) +
    2 * (CHUNK_HEADER + 2) + // ports
    2 * (CHUNK_HEADER + 4) + // time
    (CHUNK_HEADER + 1) + // protocol type
    (CHUNK_HEADER + 4) + // capture id
    (authKey ? CHUNK_HEADER + authKey.length : 0) +
    (CHUNK_HEADER + packet.payload.length) +
    (correlation ? CHUNK_HEADER + correlation.length : 0);
  if (length > maxBytes || length > 0xffff) return undefined;

  const out = Buffer.allocUnsafe(length);
  out.write('HEP3', 0, 'latin1');
  out.writeUInt16BE(length, 4);
  let at = PACKET_HEADER;
  const header = (type: number, payloadLength: number): void => {
    out.writeUInt16BE(0x0000, at);
    out.writeUInt16BE(type, at + 2);
    out.writeUInt16BE(CHUNK_HEADER + payloadLength, at + 4);
    at += CHUNK_HEADER;
  };
  const u8 = (type: number, value: number): void => {
    header(type, 1);
    at = out.writeUInt8(value, at);
  };
  const u16 = (type: number, value: number): void => {
    header(type, 2);
    at = out.writeUInt16BE(value, at);
  };
  const u32 = (type: number, value: number): void => {
    header(type, 4);
    at = out.writeUInt32BE(value >>> 0, at);
  };
  const bytes = (type: number, value: Buffer): void => {
    header(type, value.length);
    at += value.copy(out, at);
  };

  u8(CHUNK.ipFamily, v4 ? AF_INET : AF_INET6);
  u8(CHUNK.ipProtocol, packet.transport === 'udp' ? IPPROTO_UDP : IPPROTO_TCP);
  bytes(v4 ? CHUNK.ipv4Source : CHUNK.ipv6Source, source);
  bytes(v4 ? CHUNK.ipv4Destination : CHUNK.ipv6Destination, destination);
  u16(CHUNK.sourcePort, packet.source.port);
  u16(CHUNK.destinationPort, packet.destination.port);
  u32(CHUNK.timeSeconds, packet.seconds);
  u32(CHUNK.timeMicroseconds, packet.microseconds);
  u8(CHUNK.protocolType, PROTOCOL_TYPE_SIP);
  u32(CHUNK.captureId, packet.captureId);
  if (authKey) bytes(CHUNK.authKey, authKey);
  bytes(CHUNK.payload, packet.payload);
  if (correlation) bytes(CHUNK.correlationId, correlation);
  return out;
}

function ipv4Bytes(address: string): Buffer {
  return Buffer.from(address.split('.').map(Number));
}

/** 16 bytes of an IPv6 address (a zone is dropped; IPv4 becomes ::ffff:a.b.c.d; anything else ::). */
function ipv6Bytes(address: string): Buffer {
  const out = Buffer.alloc(16);
  if (isIPv4(address)) {
    out.writeUInt16BE(0xffff, 10);
    ipv4Bytes(address).copy(out, 12);
    return out;
  }
  const text = address.replace(/%.*$/, '');
  if (isIP(text) !== 6) return out;
  const groups = (part: string): number[] => {
    if (part === '') return [];
    const words: number[] = [];
    for (const piece of part.split(':')) {
      if (piece.includes('.')) {
        const [a = 0, b = 0, c = 0, d = 0] = piece.split('.').map(Number);
        words.push((a << 8) | b, (c << 8) | d);
      } else words.push(Number.parseInt(piece, 16));
    }
    return words;
  };
  const gap = text.indexOf('::');
  const head = groups(gap < 0 ? text : text.slice(0, gap));
  const tail = gap < 0 ? [] : groups(text.slice(gap + 2));
  const words = [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
  for (const [i, word] of words.entries()) out.writeUInt16BE(word, i * 2);
  return out;
}

const CRLFCRLF = Buffer.from('\r\n\r\n', 'latin1');
/** The Call-ID header, long or compact form (RFC 3261 §7.3.3), at the start of a header line. */
const CALL_ID = /^(?:call-id|i)[ \t]*:[ \t]*([^\r\n]*)/im;

/** The Call-ID of a raw SIP message: a scan of its header section, no full parse. */
export function sipCallId(message: Buffer): string | undefined {
  const end = message.indexOf(CRLFCRLF);
  const head = message.toString('latin1', 0, end < 0 ? message.length : end);
  const value = CALL_ID.exec(head)?.[1]?.trim();
  return value ? value : undefined;
}

/** `host:port` or `[ipv6]:port`; throws an Error saying what is wrong. */
export function parseHostPort(value: string): { host: string; port: number } {
  const m = /^(?:\[([^\]\s]+)\]|([^\s:[\]]+)):(\d{1,5})$/.exec(value.trim());
  const host = m?.[1] ?? m?.[2];
  const port = Number(m?.[3]);
  if (!m || !host) throw new Error(`"${value}" is not host:port (an IPv6 address in brackets: [::1]:9060)`);
  if (m[1] !== undefined && isIP(m[1]) !== 6) throw new Error(`"${m[1]}" in brackets is not an IPv6 address`);
  if (!(port >= 1 && port <= 65_535)) throw new Error(`port ${m[3]} is not between 1 and 65535`);
  return { host, port };
}

/** Lets through one log line a minute and counts what it held back. */
class OncePerMinute {
  private last = Number.NEGATIVE_INFINITY;
  private held = 0;

  hit(now = Date.now()): { log: boolean; suppressed: number } {
    if (now - this.last < 60_000) {
      this.held++;
      return { log: false, suppressed: 0 };
    }
    const suppressed = this.held;
    this.last = now;
    this.held = 0;
    return { log: true, suppressed };
  }
}

export interface HepSenderOptions {
  /** The collector (heplify-server, or Kamailio/OpenSIPS as a HEP receiver): a host name is resolved once, at open(). */
  collector: { host: string; port: number };
  /** HEP_CAPTURE_ID: tells this node's packets apart at the collector. */
  captureId: number;
  /** HEP_PASSWORD: sent as the auth key chunk when set. */
  password?: string | undefined;
  logger: Logger;
}

/** Sends beyond this many datagrams waiting in the socket are dropped: capture never builds up memory. */
const MAX_SEND_QUEUE = 1024;

/**
 * Owns one UDP socket to the collector and sends one HEP packet per captured message, fire-and-forget.
 * `capture` is the built-in stack's capture hook: it returns at once and never throws.
 */
export class HepSender {
  private readonly errors = new OncePerMinute();
  private readonly oversized = new OncePerMinute();
  private readonly backlog = new OncePerMinute();
  private readonly hostAddresses: { v4: string; v6: string };
  /** Timestamps (µs) only go forward, so messages captured within one millisecond keep their order in Homer. */
  private lastMicros = 0;
  private closed = false;

  private constructor(
    private readonly socket: Socket,
    private readonly options: HepSenderOptions,
  ) {
    this.hostAddresses = externalAddresses();
    socket.on('error', (err) => this.sendFailed(err));
  }

  /** Resolves the collector's name and opens the socket; rejects when the name does not resolve. */
  static async open(options: HepSenderOptions): Promise<HepSender> {
    const { host, port } = options.collector;
    const address = isIP(host) ? host : (await lookup(host)).address;
    const socket = createSocket(isIPv4(address) ? 'udp4' : 'udp6');
    // Connected: the kernel reports an unreachable collector (ICMP) as a send error, which is logged.
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.connect(port, address, () => {
        socket.off('error', reject);
        resolve();
      });
    }).catch((err: unknown) => {
      socket.close();
      throw err;
    });
    socket.unref(); // capture never keeps the process alive
    return new HepSender(socket, options);
  }

  readonly capture = (message: CapturedMessage): void => {
    if (this.closed || isKeepAlive(message.bytes)) return;
    try {
      if (this.socket.getSendQueueCount() >= MAX_SEND_QUEUE) {
        this.warn(this.backlog, {}, 'HEP capture: the collector socket is backed up; SIP messages not captured');
        return;
      }
      const local = this.concrete(message.local.address, message.remote.address);
      const out = message.direction === 'out';
      let micros = Math.floor(message.at * 1000);
      // (Within a millisecond only: after the wall clock was stepped back, the times follow it.)
      if (micros <= this.lastMicros && this.lastMicros - micros < 1000) micros = this.lastMicros + 1;
      this.lastMicros = micros;
      const packet = encodeHep3({
        transport: message.transport,
        source: out ? { address: local, port: message.local.port } : message.remote,
        destination: out ? message.remote : { address: local, port: message.local.port },
        seconds: Math.floor(micros / 1e6),
        microseconds: micros % 1e6,
        captureId: this.options.captureId,
        authKey: this.options.password,
        payload: message.bytes,
        correlationId: sipCallId(message.bytes),
      });
      if (!packet) {
        this.warn(
          this.oversized,
          { bytes: message.bytes.length, limit: MAX_HEP_DATAGRAM_BYTES },
          'HEP capture: SIP message too large for one HEP datagram; not captured',
        );
        return;
      }
      this.socket.send(packet, (err) => {
        if (err) this.sendFailed(err);
      });
    } catch (err) {
      this.sendFailed(err);
    }
  };

  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closed = true;
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }

  private sendFailed(err: unknown): void {
    const { collector } = this.options;
    this.warn(this.errors, { err, collector: `${collector.host}:${collector.port}` }, 'HEP capture: send failed');
  }

  private warn(throttle: OncePerMinute, fields: Record<string, unknown>, msg: string): void {
    const { log, suppressed } = throttle.hit();
    if (log) this.options.logger.warn({ ...fields, suppressedSinceLastLog: suppressed }, msg);
  }

  /**
   * A socket bound to a wildcard address does not say which of the host's addresses a datagram used:
   * loopback when the peer is on loopback, else the host's first external address of that family.
   */
  private concrete(local: string, remote: string): string {
    if (local !== '' && local !== '0.0.0.0' && local !== '::') return local;
    const v4 = isIPv4(remote);
    if (remote === '::1' || remote.startsWith('127.')) return v4 ? '127.0.0.1' : '::1';
    return v4 ? this.hostAddresses.v4 : this.hostAddresses.v6;
  }
}

/**
 * The media node's sender from its settings (config.ts checked them), or undefined when HEP_ADDRESS is unset;
 * rejects with a message naming HEP_ADDRESS when the collector's name does not resolve.
 */
export async function openHepSender(
  config: {
    HEP_ADDRESS?: { host: string; port: number } | undefined;
    HEP_CAPTURE_ID: number;
    HEP_PASSWORD?: string | undefined;
  },
  logger: Logger,
): Promise<HepSender | undefined> {
  const collector = config.HEP_ADDRESS;
  if (!collector) return undefined;
  try {
    return await HepSender.open({ collector, captureId: config.HEP_CAPTURE_ID, password: config.HEP_PASSWORD, logger });
  } catch (err) {
    throw new Error(`HEP_ADDRESS ${collector.host}:${collector.port} cannot be used: ${(err as Error).message}`, {
      cause: err,
    });
  }
}

/** A CRLF keepalive (RFC 5626 §4.4.1), not a SIP message: not captured. */
function isKeepAlive(bytes: Buffer): boolean {
  for (const b of bytes) if (b !== 0x0d && b !== 0x0a) return false;
  return true;
}

function externalAddresses(): { v4: string; v6: string } {
  const all = Object.values(networkInterfaces()).flatMap((list) => list ?? []);
  const first = (family: 'IPv4' | 'IPv6') =>
    all.find((a) => a.family === family && !a.internal && !a.address.startsWith('fe80:'))?.address;
  return { v4: first('IPv4') ?? '127.0.0.1', v6: first('IPv6') ?? '::1' };
}

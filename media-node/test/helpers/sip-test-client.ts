/** A raw-UDP SIP peer for tests: sends hand-written messages and waits for parsed replies. */

import { randomBytes } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import type { ParsedMessage, ParsedRequest, ParsedResponse } from '../../src/sip/builtin/message.js';
import { parseMessage } from '../../src/sip/builtin/parser.js';

export const TEST_SDP = [
  'v=0',
  'o=- 1 1 IN IP4 127.0.0.1',
  's=-',
  'c=IN IP4 127.0.0.1',
  't=0 0',
  'm=audio 40000 RTP/AVP 0 101',
  'a=rtpmap:101 telephone-event/8000',
  '',
].join('\r\n');

export function randomId(): string {
  return randomBytes(6).toString('hex');
}

type Predicate = (message: ParsedMessage) => boolean;

export const isResponse =
  (status: number, method?: string, callId?: string): Predicate =>
  (m) =>
    m.type === 'response' &&
    m.status === status &&
    (method === undefined || m.cseq.method === method) &&
    (callId === undefined || m.callId === callId);

export const isRequest =
  (method: string, callId?: string): Predicate =>
  (m) =>
    m.type === 'request' && m.method === method && (callId === undefined || m.callId === callId);

export class SipTestClient {
  private readonly received: { message: ParsedMessage; consumed: boolean }[] = [];
  private waiters: (() => void)[] = [];
  readonly port: number;
  /** The address this client sends from (any 127.0.0.0/8 address works on Linux loopback). */
  readonly address: string;
  /** Every datagram received, raw (also those that do not parse, e.g. a 400 to a request without Call-ID). */
  readonly raw: Buffer[] = [];

  private constructor(
    private readonly socket: Socket,
    readonly serverPort: number,
  ) {
    this.port = socket.address().port;
    this.address = socket.address().address;
    socket.on('message', (data) => {
      this.raw.push(data);
      try {
        this.received.push({ message: parseMessage(data), consumed: false });
      } catch {
        return; // the tests only look at well-formed replies
      }
      for (const wake of this.waiters) wake();
    });
  }

  static async open(serverPort: number, bindAddress = '127.0.0.1'): Promise<SipTestClient> {
    const socket = createSocket('udp4');
    await new Promise<void>((resolve) => socket.bind(0, bindAddress, resolve));
    return new SipTestClient(socket, serverPort);
  }

  send(data: string | Buffer): void {
    this.socket.send(typeof data === 'string' ? Buffer.from(data) : data, this.serverPort, '127.0.0.1');
  }

  /** Waits for the next unconsumed message matching `predicate` and consumes it. */
  async waitFor<T extends ParsedMessage = ParsedMessage>(predicate: Predicate, timeoutMs = 2000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const hit = this.received.find((r) => !r.consumed && predicate(r.message));
      if (hit) {
        hit.consumed = true;
        return hit.message as T;
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for a SIP message (${this.summary()})`);
      let wake: () => void = () => {};
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
        this.waiters.push(wake);
      });
      this.waiters = this.waiters.filter((w) => w !== wake);
    }
  }

  /** Waits for a response; pass the Call-ID so retransmissions from earlier calls do not match. */
  waitForResponse(status: number, method: string, callId: string, timeoutMs?: number): Promise<ParsedResponse> {
    return this.waitFor<ParsedResponse>(isResponse(status, method, callId), timeoutMs);
  }

  waitForRequest(method: string, callId: string, timeoutMs?: number): Promise<ParsedRequest> {
    return this.waitFor<ParsedRequest>(isRequest(method, callId), timeoutMs);
  }

  /** How many messages matching `predicate` arrived so far (consumed or not). */
  count(predicate: Predicate): number {
    return this.received.filter((r) => predicate(r.message)).length;
  }

  summary(): string {
    return this.received
      .map((r) => (r.message.type === 'request' ? r.message.method : `${r.message.status} ${r.message.cseq.method}`))
      .join(', ');
  }

  close(): void {
    this.socket.close();
  }

  /** The Via/From/Call-ID skeleton for a new request from this client. */
  dialogParams(): CallParams {
    return { callId: `${randomId()}@127.0.0.1`, fromTag: randomId(), branch: `z9hG4bK${randomId()}`, cseq: 1 };
  }

  /** Builds a request. `extra` are raw header lines. */
  request(method: string, p: CallParams & { toTag?: string; uri?: string }, extra: string[] = [], body = ''): string {
    const uri = p.uri ?? `sip:service@127.0.0.1:${this.serverPort}`;
    const toTag = p.toTag === undefined ? '' : `;tag=${p.toTag}`;
    const lines = [
      `${method} ${uri} SIP/2.0`,
      `Via: SIP/2.0/UDP ${this.address}:${this.port};branch=${p.branch};rport`,
      'Max-Forwards: 70',
      `From: "Test Client" <sip:alice@${this.address}:${this.port}>;tag=${p.fromTag}`,
      `To: <sip:service@127.0.0.1:${this.serverPort}>${toTag}`,
      `Call-ID: ${p.callId}`,
      `CSeq: ${p.cseq} ${method === 'ACK' || method === 'CANCEL' ? (p.cseqMethod ?? method) : method}`,
      `Contact: <sip:alice@${this.address}:${this.port}>`,
      ...extra,
      `Content-Length: ${Buffer.byteLength(body)}`,
      '',
      body,
    ];
    return lines.join('\r\n');
  }

  /** A 200 OK (or other status) to a request we received. */
  respondTo(request: ParsedRequest, status = 200, reason = 'OK'): void {
    const lines = [
      `SIP/2.0 ${status} ${reason}`,
      ...request.headers.lines('via').map((v) => `Via: ${v}`),
      `From: ${request.headers.get('from')}`,
      `To: ${request.headers.get('to')}`,
      `Call-ID: ${request.callId}`,
      `CSeq: ${request.headers.get('cseq')}`,
      'Content-Length: 0',
      '',
      '',
    ];
    this.send(lines.join('\r\n'));
  }
}

export interface CallParams {
  callId: string;
  fromTag: string;
  branch: string;
  cseq: number;
  /** For ACK/CANCEL the CSeq method is the request's own; kept overridable for negative tests. */
  cseqMethod?: string;
}

/**
 * Malformed requests and what the stack answers them (RFC 3261 §8.2, §18.3, §21): 400 with a reason
 * phrase naming the fault, 505, or nothing when no Via can be read (or it is an ACK or a response).
 * Shared by the parser, UA and drachtio tests so that both adapters are held to the same table.
 */

/** The exact injection string a webhook reply once carried (issue "One tenant cannot hurt another"). */
export const INJECTION = 'Busy\r\nX-Injected: yes\r\n\r\nSIP/2.0 200 OK';

export interface MalformedCase {
  name: string;
  data: Buffer;
  /** The answer: status and reason phrase; undefined when the message is dropped. */
  answer?: { status: number; reason: string };
}

export interface CorpusOptions {
  /** The node's port (Request-URI). */
  port: number;
  /** The port put in the Via's sent-by: not the sender's, so that only rport routes the answer back. */
  viaPort?: number;
  method?: string;
}

const CRLF = '\r\n';

/** A well-formed request as header lines (no Content-Length, no empty line). */
function lines(o: CorpusOptions, n: number): string[] {
  const method = o.method ?? 'OPTIONS';
  return [
    `${method} sip:answer@127.0.0.1:${o.port} SIP/2.0`,
    `Via: SIP/2.0/UDP 127.0.0.1:${o.viaPort ?? 9};branch=z9hG4bKmalformed${n};rport`,
    'From: <sip:peer@127.0.0.1>;tag=malformed',
    'To: <sip:answer@127.0.0.1>',
    `Call-ID: malformed-${n}@127.0.0.1`,
    `CSeq: 1 ${method}`,
    'Max-Forwards: 70',
  ];
}

const message = (head: string[], contentLength = 'Content-Length: 0', body = ''): Buffer =>
  Buffer.from(`${[...head, contentLength].join(CRLF)}${CRLF}${CRLF}${body}`);

const without = (head: string[], name: string): string[] => head.filter((l) => !l.startsWith(`${name}:`));
const replace = (head: string[], name: string, value: string): string[] =>
  head.map((l) => (l.startsWith(`${name}:`) ? `${name}: ${value}` : l));

export function malformedCorpus(o: CorpusOptions): MalformedCase[] {
  let n = 0;
  const base = (): string[] => lines(o, ++n);
  const answer = (status: number, reason: string) => ({ status, reason });
  const cases: MalformedCase[] = [
    {
      name: 'bad SIP version',
      data: message(base().map((l, i) => (i === 0 ? l.replace('SIP/2.0', 'SIP/7.0') : l))),
      answer: answer(505, 'Version Not Supported'),
    },
    { name: 'missing Call-ID', data: message(without(base(), 'Call-ID')), answer: answer(400, 'Missing Call-ID') },
    {
      name: 'duplicate Call-ID',
      data: message([...base(), 'Call-ID: second@127.0.0.1']),
      answer: answer(400, 'Duplicate Call-ID'),
    },
    {
      name: 'non-numeric CSeq',
      data: message(replace(base(), 'CSeq', `x ${o.method ?? 'OPTIONS'}`)),
      answer: answer(400, 'Bad CSeq'),
    },
    {
      name: 'CSeq method mismatch',
      data: message(replace(base(), 'CSeq', '1 REGISTER')),
      answer: answer(400, 'CSeq Method Mismatch'),
    },
    {
      name: 'Content-Length longer than the body',
      data: message(base(), 'Content-Length: 9999', 'short'),
      answer: answer(400, 'Content-Length Mismatch'),
    },
    {
      name: 'negative Content-Length',
      data: message(base(), 'Content-Length: -5'),
      answer: answer(400, 'Bad Content-Length'),
    },
    { name: 'missing From', data: message(without(base(), 'From')), answer: answer(400, 'Missing From') },
    { name: 'missing To', data: message(without(base(), 'To')), answer: answer(400, 'Missing To') },
    {
      name: 'Via without branch',
      data: message(base().map((l) => (l.startsWith('Via:') ? l.replace(/;branch=[^;]+/, '') : l))),
      answer: answer(400, 'Missing Via Branch'),
    },
    {
      name: 'no empty line after the headers',
      data: Buffer.from(`${base().join(CRLF)}${CRLF}Content-Length: 0`),
      answer: answer(400, 'Missing Empty Line'),
    },
    {
      name: 'bad Request-URI',
      data: message(base().map((l, i) => (i === 0 ? l.replace(/ sip:\S+ /, ' sip:@@ ') : l))),
      answer: answer(400, 'Bad Request-URI'),
    },
    {
      name: 'header bomb',
      data: message([...base(), ...Array.from({ length: 3000 }, (_, i) => `X-H${i}: v`)]),
      answer: answer(400, 'Too Many Headers'),
    },
    { name: 'NUL in a header', data: message([...base(), 'X-Nul: a\0b']), answer: answer(400, 'Invalid Character') },
    {
      name: 'Max-Forwards not 0-255',
      data: message(replace(base(), 'Max-Forwards', '300')),
      answer: answer(400, 'Bad Max-Forwards'),
    },
    { name: 'missing Via', data: message(without(base(), 'Via')) },
    { name: 'unreadable Via', data: message(replace(base(), 'Via', 'SIP/2.0/UDP @@@;branch=z9hG4bKx')) },
    {
      name: 'malformed ACK',
      data: message(
        without(
          base().map((l, i) => (i === 0 ? l.replace(/^\S+/, 'ACK') : l.startsWith('CSeq:') ? 'CSeq: 1 ACK' : l)),
          'Call-ID',
        ),
      ),
    },
    {
      name: 'malformed response',
      data: message(without(base(), 'Call-ID').map((l, i) => (i === 0 ? 'SIP/2.0 200 OK' : l))),
    },
    { name: 'binary garbage', data: Buffer.from([0x00, 0xff, 0x13, 0x37, 0x0d, 0x0a, 0x42]) },
  ];
  return cases;
}

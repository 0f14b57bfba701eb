/**
 * Content-Length framing of SIP messages on a byte stream (RFC 3261 §18.3). Leading CRLFs are
 * keep-alives (RFC 5626 §3.5.1). A stream whose framing cannot be trusted any more (no or bad
 * Content-Length, oversized head or body) is reported as broken: the caller answers if it can and
 * closes the connection, since nothing after that point can be delimited.
 */

export interface FramerLimits {
  /** Largest head + body accepted. */
  maxMessageBytes: number;
}

export type FrameResult =
  | { kind: 'message'; data: Buffer }
  | { kind: 'keepalive' }
  | { kind: 'broken'; reason: string; data: Buffer };

export class StreamFramer {
  private buffer: Buffer = Buffer.alloc(0);

  constructor(private readonly limits: FramerLimits) {}

  /** Appends bytes and returns every complete frame; stops at the first broken one. */
  push(chunk: Buffer): FrameResult[] {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    const out: FrameResult[] = [];
    for (;;) {
      const frame = this.next();
      if (frame === undefined) break;
      out.push(frame);
      if (frame.kind === 'broken') break;
    }
    return out;
  }

  private next(): FrameResult | undefined {
    let start = 0;
    while (start < this.buffer.length && (this.buffer[start] === 0x0d || this.buffer[start] === 0x0a)) start++;
    if (start > 0) {
      const sawDoubleCrlf = this.buffer.subarray(0, start).includes('\r\n\r\n');
      this.buffer = this.buffer.subarray(start);
      if (sawDoubleCrlf) return { kind: 'keepalive' };
    }
    if (this.buffer.length === 0) return undefined;
    const headEnd = this.buffer.indexOf('\r\n\r\n');
    if (headEnd < 0) {
      if (this.buffer.length > this.limits.maxMessageBytes) return this.broken('Message Too Large');
      return undefined;
    }
    const head = this.buffer.subarray(0, headEnd).toString('latin1');
    const match = /\r\n(?:content-length|l)[ \t]*:[ \t]*([^\r\n]*)/i.exec(`\r\n${head}`);
    if (!match) return this.broken('Missing Content-Length', headEnd + 4);
    const text = match[1]!.trim();
    if (!/^\d{1,10}$/.test(text)) return this.broken('Bad Content-Length', headEnd + 4);
    const total = headEnd + 4 + Number(text);
    if (total > this.limits.maxMessageBytes) return this.broken('Message Too Large', headEnd + 4);
    if (this.buffer.length < total) return undefined;
    const data = Buffer.from(this.buffer.subarray(0, total));
    this.buffer = this.buffer.subarray(total);
    return { kind: 'message', data };
  }

  /** `headBytes` of the broken message are handed out so that it may still be answered with 400. */
  private broken(reason: string, headBytes = 0): FrameResult {
    const data = Buffer.from(this.buffer.subarray(0, headBytes));
    this.buffer = Buffer.alloc(0);
    return { kind: 'broken', reason, data };
  }
}

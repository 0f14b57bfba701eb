import { createSocket, type Socket } from 'node:dgram';
import type { Logger } from '@sipms/shared/util/logger';

/** One digit as rtpengine reports it on `--dtmf-log-dest` (JSON over UDP, one datagram per digit). */
export interface RtpEngineDtmfEvent {
  callId: string;
  sourceTag: string;
  digit: string;
  durationMs: number;
}

const EVENT_TO_DIGIT = '0123456789*#ABCD';

export function parseDtmfLog(datagram: Buffer): RtpEngineDtmfEvent | undefined {
  let raw: { callid?: unknown; source_tag?: unknown; event?: unknown; duration?: unknown; type?: unknown };
  try {
    raw = JSON.parse(datagram.toString('utf8'));
  } catch (err) {
    if (err instanceof SyntaxError) return undefined; // not one of rtpengine's JSON DTMF events
    throw err;
  }
  if (typeof raw.callid !== 'string' || typeof raw.source_tag !== 'string' || typeof raw.event !== 'number')
    return undefined;
  if (raw.type !== undefined && raw.type !== 'DTMF') return undefined;
  const digit = EVENT_TO_DIGIT[raw.event];
  if (!digit) return undefined;
  return { callId: raw.callid, sourceTag: raw.source_tag, digit, durationMs: Number(raw.duration ?? 0) };
}

/** Receives rtpengine's DTMF log and routes each digit to the subscriber for its call and source tag. */
export class DtmfLogListener {
  private socket: Socket | undefined;
  private readonly subscribers = new Map<string, (e: RtpEngineDtmfEvent) => void>();

  constructor(private readonly logger: Logger) {}

  async start(host: string, port: number): Promise<{ host: string; port: number }> {
    const socket = createSocket('udp4');
    this.socket = socket;
    socket.on('message', (msg) => {
      const event = parseDtmfLog(msg);
      if (!event) {
        this.logger.warn({ bytes: msg.length }, 'unparseable DTMF log datagram ignored');
        return;
      }
      // Filtering on source_tag drops digits the node itself injected towards the caller.
      this.subscribers.get(key(event.callId, event.sourceTag))?.(event);
    });
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(port, host, () => {
        socket.off('error', reject);
        socket.on('error', (err) => this.logger.error({ err }, 'DTMF log socket error'));
        resolve();
      });
    });
    const addr = socket.address();
    return { host: addr.address, port: addr.port };
  }

  subscribe(callId: string, sourceTag: string, listener: (e: RtpEngineDtmfEvent) => void): () => void {
    const k = key(callId, sourceTag);
    this.subscribers.set(k, listener);
    return () => {
      if (this.subscribers.get(k) === listener) this.subscribers.delete(k);
    };
  }

  close(): void {
    this.socket?.close();
    this.socket = undefined;
  }
}

function key(callId: string, tag: string): string {
  return `${callId}\u0000${tag}`;
}

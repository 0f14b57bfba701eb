/**
 * Metrics measured at the ports, wired by the composition root around the real adapters: the callback round
 * trip (publish → reply) around the CallbackPort, and the final SIP responses to INVITEs around the
 * SignalingPort (one place for every response the call flows send, whichever SIP stack carries them).
 */
import type { CallbackPort, CallbackRequest, CallbackResult } from '../ports/callbacks.js';
import type { CallMetrics } from '../ports/metrics.js';
import {
  type InboundCall,
  type OutboundCallRequest,
  type OutboundDialog,
  SignalingError,
  type SignalingPort,
} from '../ports/signaling.js';

type Clock = () => number;
const monotonicMs: Clock = () => performance.now();

/**
 * Times each callback from publish to its reply (reply-bearing callbacks: outcome `reply` or `fallback`) or to its
 * delivery record (notifications: outcome `notified`). A request its caller gave up on (the caller hung up) is
 * not a round trip and is not observed.
 */
export class TimedCallbacks implements CallbackPort {
  constructor(
    private readonly inner: CallbackPort,
    private readonly metrics: CallMetrics,
    private readonly now: Clock = monotonicMs,
  ) {}

  async request(req: CallbackRequest, deadlineMs: number, signal?: AbortSignal): Promise<CallbackResult> {
    const started = this.now();
    const result = await this.inner.request(req, deadlineMs, signal);
    if (!signal?.aborted) {
      this.metrics.callbackRoundTrip(req.type, (this.now() - started) / 1000, result.fallback ? 'fallback' : 'reply');
    }
    return result;
  }

  async notify(req: CallbackRequest, deadlineMs: number): Promise<void> {
    const started = this.now();
    await this.inner.notify(req, deadlineMs);
    this.metrics.callbackRoundTrip(req.type, (this.now() - started) / 1000, 'notified');
  }
}

/**
 * An inbound call whose final responses are counted (direction `inbound`): 200 when answered, the status of a
 * reject, 302 for a redirect, and 487 when the caller CANCELs (the stack answers it). A response that throws
 * (nothing was sent) is not counted.
 */
export function countedInboundCall(call: InboundCall, metrics: CallMetrics): InboundCall {
  call.cancelled.addEventListener('abort', () => metrics.sipResponse(487, 'inbound'), { once: true });
  const overrides: Pick<InboundCall, 'answer' | 'reject' | 'redirect'> = {
    answer(sdp) {
      // Cancelled first: no 200 goes out (answer rejects), the 487 is counted already.
      if (!call.cancelled.aborted) metrics.sipResponse(200, 'inbound');
      return call.answer(sdp);
    },
    reject(status, reason, headers) {
      call.reject(status, reason, headers);
      metrics.sipResponse(status, 'inbound');
    },
    redirect(contacts) {
      call.redirect(contacts);
      metrics.sipResponse(302, 'inbound');
    },
  };
  return new Proxy(call, {
    get(target, prop) {
      if (prop === 'answer' || prop === 'reject' || prop === 'redirect') return overrides[prop];
      const value = Reflect.get(target, prop, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

/**
 * The signaling port with final responses counted: those the node sends to INVITEs it receives (see
 * countedInboundCall) and those it receives for calls it places (direction `outbound`: 200 on answer, the
 * status of a rejection; a timeout or CANCEL without a final response is not counted).
 */
export class CountedSignaling implements SignalingPort {
  constructor(
    private readonly inner: SignalingPort,
    private readonly metrics: CallMetrics,
  ) {}

  get advertised(): { host: string; port: number } {
    return this.inner.advertised;
  }

  start(onInvite: (call: InboundCall) => void): Promise<void> {
    return this.inner.start((call) => onInvite(countedInboundCall(call, this.metrics)));
  }

  stop(): Promise<void> {
    return this.inner.stop();
  }

  async placeCall(request: OutboundCallRequest): Promise<OutboundDialog> {
    try {
      const dialog = await this.inner.placeCall(request);
      this.metrics.sipResponse(200, 'outbound');
      return dialog;
    } catch (err) {
      if (err instanceof SignalingError && err.code === 'rejected' && err.status) {
        this.metrics.sipResponse(err.status, 'outbound');
      }
      throw err;
    }
  }
}

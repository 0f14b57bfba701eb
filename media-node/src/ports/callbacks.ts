import type { AnyCallbackBody, CallbackName } from '@sipms/shared/contracts/callbacks';
import type { SensitivePath } from '@sipms/shared/events/sensitive-fields';

/** One callback as the call flow hands it over: the envelope fields and the body the tenant receives. */
export interface CallbackRequest {
  eventId: string;
  tenantId: string;
  sessionId: string;
  seq: number;
  type: CallbackName;
  /** The body of the callback `type` (docs/contract.md), as the contract's schema types it. */
  payload: AnyCallbackBody;
  /**
   * Fields of `payload` the tenant marked sensitive (`dtmf.sensitive`): they reach the tenant, but the
   * port keeps them out of the clear everywhere else (the bus carries them sealed, journals show "***").
   */
  sensitive?: readonly SensitivePath[];
  /** W3C `traceparent` of this callback: the call's trace, a span of its own. */
  traceparent?: string;
  /**
   * Notifications of the session queued before this callback and not sent yet: delivered first, in order,
   * by this callback's delivery (each its own callback to the tenant). `deadlineMs` covers them all.
   */
  carried?: readonly CallbackRequest[];
}

export interface CallbackResult {
  /** The validated reply, or the defined fallback. */
  reply: unknown;
  fallback: boolean;
  reason?: string;
}

/** The callback path: publish to the bus, and for reply-bearing callbacks wait for the stored reply. */
export interface CallbackPort {
  /** Resolves with the reply, or the fallback once `deadlineMs` has passed without one. Never rejects. */
  request(req: CallbackRequest, deadlineMs: number, signal?: AbortSignal): Promise<CallbackResult>;
  /**
   * A callback whose reply is ignored. Resolves once it has been delivered (or failed, or `deadlineMs`
   * passed), so that a session's callbacks go out in `seq` order. Never rejects.
   */
  notify(req: CallbackRequest, deadlineMs: number): Promise<void>;
}

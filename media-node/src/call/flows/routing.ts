import type { SecretBox } from '@sipms/shared/crypto/secret-box';
import type { TenantRecord } from '@sipms/shared/domain/tenant';
import { type OutboundCallRequest, SignalingError } from '../../ports/signaling.js';

export type UnreachedEvent = 'calledPartyBusy' | 'calledPartyNoAnswer' | 'calledPartyFailed';

/** SIP final responses as the callEvent the tenant gets: busy, no answer, or failed (docs/contract.md). */
export function failureEvent(err: unknown): { event: UnreachedEvent; reason: string } {
  if (err instanceof SignalingError) {
    if (err.code === 'no-answer') return { event: 'calledPartyNoAnswer', reason: 'no answer before the timeout' };
    if (err.code === 'rejected' && err.status !== undefined) {
      if ([486, 600].includes(err.status)) return { event: 'calledPartyBusy', reason: `SIP ${err.status}` };
      if ([408, 480].includes(err.status)) return { event: 'calledPartyNoAnswer', reason: `SIP ${err.status}` };
      return { event: 'calledPartyFailed', reason: `SIP ${err.status}` };
    }
    return { event: 'calledPartyFailed', reason: err.message };
  }
  return { event: 'calledPartyFailed', reason: err instanceof Error ? err.message : String(err) };
}

/**
 * The session's end reason when the caller could not be answered: it cancelled first, or our 200 OK was
 * never ACKed (RFC 3261 §13.3.1.4: the stack has sent BYE), or the stack refused for another reason.
 */
export function answerFailureReason(
  err: unknown,
  cancelled: boolean,
): 'callingPartyCancel' | 'ackTimeout' | 'answerFailed' {
  if (cancelled || (err instanceof SignalingError && err.code === 'cancelled')) return 'callingPartyCancel';
  if (err instanceof SignalingError && err.code === 'ack-timeout') return 'ackTimeout';
  return 'answerFailed';
}

/** The SIP status a caller gets when its callee was not reached and the tenant said `{}`. */
const CALLER_STATUS: Record<UnreachedEvent, number> = {
  calledPartyBusy: 486,
  calledPartyNoAnswer: 480,
  calledPartyFailed: 502,
};
export function callerStatusFor(event: UnreachedEvent): number {
  return CALLER_STATUS[event];
}

/** Where a call to `destination` goes: a SIP URI as given; a number through the tenant's trunk. */
export async function routeFor(
  destination: string,
  tenant: TenantRecord,
  secrets: SecretBox | undefined,
): Promise<Pick<OutboundCallRequest, 'target' | 'outboundProxy' | 'transport' | 'credentials'>> {
  if (/^sips?:/i.test(destination)) return { target: destination };
  const trunk = tenant.outboundTrunk;
  if (!trunk)
    throw new SignalingError('rejected', 'numbers need an outbound trunk, and this tenant has none configured', 404);
  const host = trunk.host.includes(':') && !trunk.host.startsWith('[') ? `[${trunk.host}]` : trunk.host;
  let password: string | undefined;
  if (trunk.passwordSealed) {
    if (!secrets)
      throw new SignalingError('rejected', 'the trunk password cannot be opened: no secrets key on this node', 500);
    password = await secrets.open(trunk.passwordSealed);
  }
  return {
    target: `sip:${encodeURIComponent(destination)}@${host}:${trunk.port};transport=${trunk.transport}`,
    outboundProxy: `${host}:${trunk.port}`,
    transport: trunk.transport,
    ...(trunk.username && password ? { credentials: { username: trunk.username, password } } : {}),
  };
}

/**
 * The From of a call the node places: a caller id given as a SIP URI as is, a number or name as a user
 * of the tenant's domain, otherwise `fallback` (the caller being forwarded) or `ivr@<domain>`.
 */
export function fromFor(
  tenant: TenantRecord,
  callerId: string | undefined,
  fallback?: { uri: string; displayName?: string | undefined },
): OutboundCallRequest['from'] {
  if (callerId && /^sips?:/i.test(callerId)) return { uri: callerId };
  if (callerId) return { uri: `sip:${encodeURIComponent(callerId)}@${tenant.domain}` };
  if (fallback) return { uri: fallback.uri, ...(fallback.displayName ? { displayName: fallback.displayName } : {}) };
  return { uri: `sip:ivr@${tenant.domain}` };
}

/**
 * Why a caller id may not be presented, or undefined when it may: it must be one of the tenant's
 * claimed numbers, a user of the tenant's own domain, or the caller of the session being forwarded.
 * Anything else would let a tenant present another customer's number to a carrier.
 */
export async function callerIdRefusal(
  callerId: string,
  tenant: TenantRecord,
  numberOwner: (number: string) => Promise<string | undefined>,
  forwardedCaller?: { uri: string; user: string },
): Promise<string | undefined> {
  if (forwardedCaller && (callerId === forwardedCaller.uri || callerId === forwardedCaller.user)) return undefined;
  const sip = /^sips?:(?:([^@;?]*)@)?([^;?:>]+)/i.exec(callerId);
  if (sip) {
    const [, user = '', host = ''] = sip;
    if (host.toLowerCase() === tenant.domain.toLowerCase()) return undefined;
    if (user && (await numberOwner(decodeURIComponent(user))) === tenant.tenantId) return undefined;
    return `callerId ${callerId}: not the tenant's domain or one of its numbers`;
  }
  if (/^\+?[0-9*#]+$/.test(callerId)) {
    if ((await numberOwner(callerId)) === tenant.tenantId) return undefined;
    return `callerId ${callerId}: not one of the tenant's numbers`;
  }
  // A plain user name is presented as a user of the tenant's own domain.
  return undefined;
}

import {
  CALLBACK_REPLIES,
  type CallEventReply,
  FALLBACK_REPLIES,
  type NewCallReply,
} from '@sipms/shared/contracts/callbacks';
import { IvrCommand } from '@sipms/shared/contracts/ivr-command';
import { parseOrReason } from '@sipms/shared/contracts/validate';

/**
 * The replies the call core acts on, parsed once here. The dispatcher validated them already; a reply
 * that still fails (or a fallback) becomes the defined fallback (docs/callback-delivery.md), with the reason.
 */

export function newCallReply(reply: unknown): { value: NewCallReply; invalid?: string } {
  const parsed = parseOrReason(CALLBACK_REPLIES.newCall, reply);
  if (parsed.ok) return { value: parsed.value };
  return { value: { action: 'drop', sipStatus: 480, reason: 'invalid reply' }, invalid: parsed.reason };
}

/** Anything invalid is default handling (`{}`). */
export function callEventReply(reply: unknown): CallEventReply {
  const parsed = parseOrReason(CALLBACK_REPLIES.callEvent, reply);
  return parsed.ok ? parsed.value : {};
}

export function ivrCommandReply(reply: unknown): { value: IvrCommand; invalid?: string } {
  const parsed = parseOrReason(CALLBACK_REPLIES.getIvrCommand, reply);
  if (parsed.ok) return { value: parsed.value };
  return { value: IvrCommand.parse(FALLBACK_REPLIES.getIvrCommand), invalid: parsed.reason };
}

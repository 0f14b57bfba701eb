import { z } from 'zod';

/**
 * Reply and request fields that end up in SIP messages. Anything a tenant sends may be hostile, so each
 * such field is checked here, at the edge, before it can reach the SIP wire: no control characters
 * (CR/LF would let a reply add headers or whole messages), URIs of the expected shape, and only the
 * headers a tenant may set.
 */

// biome-ignore lint/suspicious/noControlCharactersInRegex: the point is to find them
const CONTROL = /[\u0000-\u001f\u007f]/;

/** Text with no control characters (reason phrases, display names, header values). */
export const sipText = (max: number) =>
  z
    .string()
    .max(max)
    .refine((v) => !CONTROL.test(v), 'must not contain control characters (CR, LF, NUL, …)');

/**
 * A SIP or SIPS URI as a tenant may give it: scheme, user@host or host, optional port and parameters;
 * no spaces, angle brackets, quotes, commas or control characters, which would end the URI inside a
 * header and start something else.
 */
const SIP_URI =
  /^sips?:(?:[A-Za-z0-9\-_.!~*'()&=+$,;?/%]+@)?(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(?::\d{1,5})?(?:;[A-Za-z0-9\-_.!~*'()%[\]/:&+$=]*)*$/;
export const sipUri = z
  .string()
  .max(256)
  .refine((v) => SIP_URI.test(v), 'must be a SIP URI like sip:user@host (no spaces, <>, quotes or commas)');

/** A telephone number (E.164 with or without +) or a dialable user part of digits, * and #. */
export const phoneNumber = z
  .string()
  .regex(/^\+?[0-9*#]{1,32}$/, 'must be a number: digits, optionally a leading +, * and #');

/** Where a call goes: a SIP URI, or a number routed through the tenant's outbound trunk. */
export const callDestination = z.union([sipUri, phoneNumber], {
  error: 'must be a SIP URI (sip:user@host) or a number (+4930123456)',
});

/** A caller id: a SIP URI, a number, or a user name of the tenant's domain. */
export const callerIdField = z.union([
  sipUri,
  phoneNumber,
  z.string().regex(/^[A-Za-z0-9\-_.!~*'()]{1,64}$/, 'must be a SIP URI, a number or a plain user name'),
]);

/**
 * Headers a tenant may put on a call it asks the node to place, besides `X-` headers. Routing,
 * identity and dialog headers (Via, Route, Contact, From, To, Call-ID, CSeq, P-Asserted-Identity, …)
 * are the platform's and never taken from a tenant.
 */
export const TENANT_HEADER_ALLOW_LIST = ['User-to-User', 'Subject', 'Priority', 'Call-Info', 'Alert-Info'] as const;
const ALLOWED = new Set(TENANT_HEADER_ALLOW_LIST.map((h) => h.toLowerCase()));

export const tenantHeaderName = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9-]{0,63}$/, 'must be a header name (letters, digits and -)')
  .refine(
    (name) => /^x-/i.test(name) || ALLOWED.has(name.toLowerCase()),
    `must be an X- header or one of ${TENANT_HEADER_ALLOW_LIST.join(', ')}`,
  );

export const tenantHeaders = z
  .record(tenantHeaderName, sipText(512))
  .refine((h) => Object.keys(h).length <= 16, 'at most 16 headers');

/**
 * SIP message → wire bytes. Content-Length is always written from the actual body (§20.14), so the
 * body is framed exactly (§18.3) whatever a Content-Length header in `message.headers` says; the
 * result is one Buffer that the transports write whole. Text that could end a line early (see
 * wire-safety.ts) throws a SipWireError and nothing is returned: no header or second message can be
 * smuggled through a value.
 */

import { canonicalHeaderName, normalizeHeaderName, type SipMessage } from './message.js';
import { assertWireHeader, assertWireReason, assertWireRequestLine, assertWireStatus } from './wire-safety.js';

export function serializeMessage(message: SipMessage): Buffer {
  let startLine: string;
  if (message.type === 'request') {
    assertWireRequestLine(message.method, message.uri);
    startLine = `${message.method} ${message.uri} SIP/2.0`;
  } else {
    assertWireStatus(message.status);
    assertWireReason(message.reason);
    startLine = `SIP/2.0 ${message.status} ${message.reason}`;
  }
  const lines = [startLine];
  for (const { name, value } of message.headers.all()) {
    if (normalizeHeaderName(name) === 'content-length') continue;
    const wireName = canonicalHeaderName(name);
    assertWireHeader(wireName, value);
    lines.push(`${wireName}: ${value}`);
  }
  lines.push(`Content-Length: ${message.body.length}`);
  const head = Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'utf8');
  return message.body.length === 0 ? head : Buffer.concat([head, message.body]);
}

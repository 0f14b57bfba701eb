/** SIP message → wire bytes. Content-Length is always written from the actual body (§20.14). */

import { canonicalHeaderName, normalizeHeaderName, type SipMessage } from './message.js';

export function serializeMessage(message: SipMessage): Buffer {
  const startLine =
    message.type === 'request'
      ? `${message.method} ${message.uri} SIP/2.0`
      : `SIP/2.0 ${message.status} ${message.reason}`;
  const lines = [startLine];
  for (const { name, value } of message.headers.all()) {
    if (normalizeHeaderName(name) === 'content-length') continue;
    lines.push(`${canonicalHeaderName(name)}: ${value}`);
  }
  lines.push(`Content-Length: ${message.body.length}`);
  const head = Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'utf8');
  return message.body.length === 0 ? head : Buffer.concat([head, message.body]);
}

/** Just enough SDP (RFC 4566) to answer rtpengine's offer from the node's IVR sink. */

export interface AudioOffer {
  payloadTypes: number[];
  rtpmap: Map<number, string>;
}

export function parseAudioOffer(sdp: string): AudioOffer | undefined {
  const lines = sdp.split(/\r?\n/);
  const m = lines.find((l) => l.startsWith('m=audio '));
  if (!m) return undefined;
  const payloadTypes = m
    .split(' ')
    .slice(3)
    .map(Number)
    .filter((n) => Number.isInteger(n) && n >= 0 && n <= 127);
  const rtpmap = new Map<number, string>();
  for (const l of lines) {
    const r = /^a=rtpmap:(\d+) (.+)$/.exec(l.trim());
    if (r) rtpmap.set(Number(r[1]), r[2]!);
  }
  return { payloadTypes, rtpmap };
}

function codecName(offer: AudioOffer, pt: number): string {
  const known: Record<number, string> = { 0: 'PCMU/8000', 8: 'PCMA/8000', 9: 'G722/8000', 18: 'G729/8000' };
  return offer.rtpmap.get(pt) ?? known[pt] ?? '';
}

/**
 * An answer that accepts the offer's first audio codec and telephone-event, pointing at `host:port`.
 * Returns undefined when the offer has no usable audio.
 */
export function sinkAnswer(
  offerSdp: string,
  host: string,
  port: number,
  sessionVersion = Date.now(),
): string | undefined {
  const offer = parseAudioOffer(offerSdp);
  if (!offer) return undefined;
  // G.711 first when offered (WebRTC offers Opus first): the node's audio taps, streams and mixer speak G.711.
  const audio =
    offer.payloadTypes.find((pt) => /^(PCMU|PCMA)\/8000/i.test(codecName(offer, pt))) ??
    offer.payloadTypes.find((pt) => !/^telephone-event\//i.test(codecName(offer, pt)));
  if (audio === undefined) return undefined;
  const events = offer.payloadTypes.find((pt) => /^telephone-event\/8000/i.test(codecName(offer, pt)));
  const pts = events === undefined ? [audio] : [audio, events];
  const lines = [
    'v=0',
    `o=- ${sessionVersion} ${sessionVersion} IN IP4 ${host}`,
    's=sip-mediaserver',
    `c=IN IP4 ${host}`,
    't=0 0',
    `m=audio ${port} RTP/AVP ${pts.join(' ')}`,
  ];
  for (const pt of pts) {
    const name = codecName(offer, pt);
    if (name) lines.push(`a=rtpmap:${pt} ${name}`);
  }
  if (events !== undefined) lines.push(`a=fmtp:${events} 0-15`);
  lines.push('a=ptime:20', 'a=sendrecv');
  return `${lines.join('\r\n')}\r\n`;
}

/** The port of the first audio stream (`m=audio <port> …`), if any. */
export function audioPort(sdp: string): number | undefined {
  const m = /^m=audio (\d+) /m.exec(sdp);
  return m ? Number(m[1]) : undefined;
}

/** The connection address of the first audio stream (its own `c=`, else the session's), if any. */
export function connectionAddress(sdp: string): string | undefined {
  const lines = sdp.split(/\r?\n/).map((l) => l.trim());
  const m = lines.findIndex((l) => l.startsWith('m=audio '));
  const find = (from: number, to: number) => {
    for (let i = from; i < to; i++) {
      const c = /^c=IN IP[46] (\S+)/.exec(lines[i]!);
      if (c) return c[1];
    }
    return undefined;
  };
  if (m >= 0) {
    const next = lines.findIndex((l, i) => i > m && l.startsWith('m='));
    const own = find(m + 1, next < 0 ? lines.length : next);
    if (own) return own;
  }
  return find(0, m < 0 ? lines.length : m);
}

/** The payload type of telephone-event/8000 in the first audio stream, if offered. */
export function telephoneEventPt(sdp: string): number | undefined {
  const offer = parseAudioOffer(sdp);
  return offer?.payloadTypes.find((pt) => /^telephone-event\//i.test(offer.rtpmap.get(pt) ?? ''));
}

/** The IVR side's offer for an outbound call: G.711 (µ-law, A-law) and telephone-event, at `host:port`. */
export function sinkOffer(host: string, port: number, sessionVersion = Date.now()): string {
  return `${[
    'v=0',
    `o=- ${sessionVersion} ${sessionVersion} IN IP4 ${host}`,
    's=sip-mediaserver',
    `c=IN IP4 ${host}`,
    't=0 0',
    `m=audio ${port} RTP/AVP 0 8 101`,
    'a=rtpmap:0 PCMU/8000',
    'a=rtpmap:8 PCMA/8000',
    'a=rtpmap:101 telephone-event/8000',
    'a=fmtp:101 0-15',
    'a=ptime:20',
    'a=sendrecv',
  ].join('\r\n')}\r\n`;
}

/**
 * The party of this SDP sends no media on purpose: its first audio stream (or, without a direction of its
 * own, the session) is `sendonly` or `inactive` (RFC 4566 §6; RFC 3264 §8.4 hold), or its connection
 * address is 0.0.0.0 (the RFC 2543 form of hold).
 */
export function onHold(sdp: string): boolean {
  const lines = sdp.split(/\r?\n/).map((l) => l.trim());
  const m = lines.findIndex((l) => l.startsWith('m=audio '));
  if (m < 0) return false;
  const next = lines.findIndex((l, i) => i > m && l.startsWith('m='));
  const media = lines.slice(m + 1, next < 0 ? undefined : next);
  const session = lines.slice(0, m);
  const direction = (part: string[]) => part.find((l) => /^a=(sendrecv|sendonly|recvonly|inactive)$/.test(l))?.slice(2);
  const dir = direction(media) ?? direction(session) ?? 'sendrecv';
  const conn = media.find((l) => l.startsWith('c=')) ?? session.find((l) => l.startsWith('c='));
  return dir === 'sendonly' || dir === 'inactive' || /^c=IN IP4 0\.0\.0\.0$/.test(conn ?? '');
}

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
  const audio = offer.payloadTypes.find((pt) => !/^telephone-event\//i.test(codecName(offer, pt)));
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

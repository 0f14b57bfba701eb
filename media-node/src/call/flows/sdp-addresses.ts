/** The connection addresses (`c=` lines, session and media level) of an SDP body. */
export function sdpConnectionAddresses(sdp: string): string[] {
  const out: string[] = [];
  for (const line of sdp.split(/\r?\n/)) {
    const m = /^c=IN IP[46] ([^\s/]+)/.exec(line.trim());
    if (m?.[1]) out.push(m[1]);
  }
  return out;
}

/**
 * Why the media of a called party's SDP may not be sent where it points, or undefined when it may:
 * every connection address must pass the deployment's outbound address policy, or a callee could aim
 * the node's RTP at the metadata service or a private network.
 */
export function sdpRefusal(
  sdp: string,
  policy: ((address: string) => string | undefined) | undefined,
): string | undefined {
  if (!policy) return undefined;
  for (const address of sdpConnectionAddresses(sdp)) {
    if (address === '0.0.0.0' || address === '::') continue; // hold (RFC 3264 §8.4), not a destination
    const refusal = policy(address);
    if (refusal) return `media address not allowed: ${refusal}`;
  }
  return undefined;
}

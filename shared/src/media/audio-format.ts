/** Recognises the audio containers we accept for prompts by their magic bytes, not by name or header. */
export type AudioFormat = { container: 'wav' | 'mp3'; contentType: 'audio/wav' | 'audio/mpeg' };

export function sniffAudio(bytes: Buffer): AudioFormat | undefined {
  if (bytes.length >= 12 && bytes.toString('ascii', 0, 4) === 'RIFF' && bytes.toString('ascii', 8, 12) === 'WAVE') {
    return { container: 'wav', contentType: 'audio/wav' };
  }
  if (bytes.length >= 3 && bytes.toString('ascii', 0, 3) === 'ID3')
    return { container: 'mp3', contentType: 'audio/mpeg' };
  // An MPEG audio frame sync: 11 set bits, layer not reserved.
  if (bytes.length >= 2 && bytes[0] === 0xff && (bytes[1]! & 0xe0) === 0xe0 && (bytes[1]! & 0x06) !== 0) {
    return { container: 'mp3', contentType: 'audio/mpeg' };
  }
  return undefined;
}

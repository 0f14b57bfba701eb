/** A 8 kHz 16-bit mono WAV with a sine tone: a prompt whose length and loudness are known. */
export function toneWav(durationMs: number, hz = 440, amplitude = 0.5): Buffer {
  const samples = Math.round((8000 * durationMs) / 1000);
  const b = Buffer.alloc(44 + samples * 2);
  b.write('RIFF', 0, 'ascii');
  b.writeUInt32LE(36 + samples * 2, 4);
  b.write('WAVEfmt ', 8, 'ascii');
  b.writeUInt32LE(16, 16);
  b.writeUInt16LE(1, 20);
  b.writeUInt16LE(1, 22);
  b.writeUInt32LE(8000, 24);
  b.writeUInt32LE(16000, 28);
  b.writeUInt16LE(2, 32);
  b.writeUInt16LE(16, 34);
  b.write('data', 36, 'ascii');
  b.writeUInt32LE(samples * 2, 40);
  for (let i = 0; i < samples; i++) {
    b.writeInt16LE(Math.round(Math.sin((2 * Math.PI * hz * i) / 8000) * amplitude * 32767), 44 + i * 2);
  }
  return b;
}

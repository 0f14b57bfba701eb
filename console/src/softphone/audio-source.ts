/** What the softphone sends: the microphone, or an audio file looped through WebAudio into a MediaStream. */

export interface AudioSource {
  stream: MediaStream;
  /** For the call state line: "microphone" or the file's name. */
  label: string;
  stop(): void;
}

/** Decoding happens in memory: a bound keeps a mistaken pick (a video, an archive) from exhausting the tab. */
const MAX_FILE_BYTES = 50_000_000;

/** `deviceId` picks one input (`''`: the browser's default microphone). */
export async function microphoneSource(deviceId = ''): Promise<AudioSource> {
  let stream: MediaStream;
  try {
    const audio = deviceId ? { deviceId: { exact: deviceId } } : true;
    stream = await navigator.mediaDevices.getUserMedia({ audio, video: false });
  } catch (err) {
    const name = (err as DOMException).name;
    if (name === 'NotAllowedError') throw new Error('the browser refused access to the microphone');
    if (name === 'NotFoundError') throw new Error('this browser has no microphone');
    if (name === 'OverconstrainedError') throw new Error('the chosen microphone is gone: pick another');
    throw new Error(`the microphone could not be opened (${(err as Error).message})`);
  }
  return { stream, label: 'microphone', stop: () => stopTracks(stream) };
}

/** The browser's audio inputs. Their names are empty until the page was allowed to use a microphone once. */
export async function microphones(): Promise<{ deviceId: string; label: string }[]> {
  const devices = await navigator.mediaDevices.enumerateDevices();
  return devices
    .filter((d) => d.kind === 'audioinput' && d.deviceId !== '' && d.deviceId !== 'default')
    .map((d, i) => ({ deviceId: d.deviceId, label: d.label || `Microphone ${i + 1}` }));
}

/** Decodes the file (any format the browser decodes) and loops it for as long as the call lasts. */
export async function fileSource(ctx: AudioContext, file: File): Promise<AudioSource> {
  if (file.size > MAX_FILE_BYTES) throw new Error(`${file.name} is larger than ${MAX_FILE_BYTES / 1e6} MB`);
  let buffer: AudioBuffer;
  try {
    buffer = await ctx.decodeAudioData(await file.arrayBuffer());
  } catch (err) {
    throw new Error(`${file.name} could not be decoded as audio (${(err as Error).message})`);
  }
  const player = ctx.createBufferSource();
  player.buffer = buffer;
  player.loop = true;
  const out = ctx.createMediaStreamDestination();
  player.connect(out);
  player.start();
  return {
    stream: out.stream,
    label: file.name,
    stop: () => {
      player.stop();
      player.disconnect();
      stopTracks(out.stream);
    },
  };
}

function stopTracks(stream: MediaStream): void {
  for (const t of stream.getTracks()) t.stop();
}

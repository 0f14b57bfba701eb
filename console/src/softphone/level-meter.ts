import { formatLevel, rmsDbfs, SILENCE_DBFS } from './level.js';

/** How often the level is read: often enough to follow a prompt, rarely enough not to flood the page. */
const INTERVAL_MS = 100;

/**
 * Shows the remote audio's level: an AnalyserNode's RMS in dBFS as text, in a `data-level-dbfs`
 * attribute (what the browser test reads) and on a <meter>.
 */
export class LevelMeter {
  private source: MediaStreamAudioSourceNode | undefined;
  private analyser: AnalyserNode | undefined;
  private timer: ReturnType<typeof setInterval> | undefined;

  constructor(
    private readonly text: HTMLElement,
    private readonly bar: HTMLMeterElement,
  ) {
    this.reset('no call');
  }

  /** Before any remote audio: the floor, said in words. */
  reset(words: string): void {
    this.stop();
    this.text.dataset.levelDbfs = String(SILENCE_DBFS);
    this.text.textContent = words;
    this.bar.value = SILENCE_DBFS;
  }

  attach(ctx: AudioContext, stream: MediaStream): void {
    this.stop();
    this.source = ctx.createMediaStreamSource(stream);
    this.analyser = ctx.createAnalyser();
    this.analyser.fftSize = 2048;
    // Measured, not played through WebAudio: the <audio> element plays it (no double playback).
    this.source.connect(this.analyser);
    const frame = new Float32Array(this.analyser.fftSize);
    const read = (): void => {
      this.analyser?.getFloatTimeDomainData(frame);
      this.show(rmsDbfs(frame));
    };
    read();
    this.timer = setInterval(read, INTERVAL_MS);
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    this.source?.disconnect();
    this.source = undefined;
    this.analyser = undefined;
  }

  private show(dbfs: number): void {
    this.text.dataset.levelDbfs = dbfs.toFixed(1);
    this.text.textContent = formatLevel(dbfs);
    this.bar.value = dbfs;
  }
}

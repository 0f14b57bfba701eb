/**
 * CPU cost of the audio-frame engine (media-node/src/audio), in process, no network: what one bot stream and
 * one conference participant cost, so capacity can be planned before the streams and conference features
 * exist on top of it.
 *   1. The stream path, per 20 ms frame in each direction: caller → bot (μ-law 8 kHz RTP payload into the
 *      jitter buffer, pop, resample to 16 kHz, L16 little-endian, base64) and bot → caller (base64, L16, resample
 *      to 8 kHz, μ-law, pacer enqueue and tick), and each stage alone.
 *   2. The conference mix of 10 and of 100 participants per 20 ms frame, and a 100-party conference with each
 *      participant's jitter buffer and μ-law encode (where the time of a conference goes).
 * CPU time is process.cpuUsage() (user + system) over FRAMES frames after a warm-up, so the other load on a
 * shared machine inflates it less than wall time would. The pacer runs on a hand-driven clock: its own work is
 * measured, not the event loop's timers (one timer per stream per 20 ms, not included).
 * Run: npm run bench:audio
 *
 * Environment:
 *   FRAMES=20000     frames per measurement (each is 20 ms of audio); 500 is a smoke run
 * Figures: audio-engine.stream.us-per-frame (both directions, with 16 kHz L16 on the bot's side),
 * audio-engine.stream.core-pct-200-streams, audio-engine.stream-mulaw.us-per-frame (μ-law both sides),
 * audio-engine.mix10.us-per-frame, audio-engine.mix100.us-per-frame, audio-engine.mix100.core-pct,
 * audio-engine.conference100.core-pct. Fails when a path it measures is broken (frames lost, concealed, or
 * silent where a tone went in).
 */

import {
  decodePayload,
  decodeUlaw,
  encodePayload,
  encodeUlaw,
  FramePacer,
  int16ToLe,
  JitterBuffer,
  leToInt16,
  Mixer,
  type PacerClock,
  Resampler,
} from '../media-node/src/audio/index.js';
import { BenchRun, envInt } from './common.js';

const frames = envInt('FRAMES', 20_000);
const warmup = Math.min(2000, Math.max(50, Math.floor(frames / 5)));
const run = new BenchRun('audio-engine');

/** CPU µs per call of `step(i)`, after `warmup` calls. */
function measure(step: (i: number) => void, count = frames): number {
  for (let i = 0; i < warmup; i++) step(i);
  const before = process.cpuUsage();
  for (let i = 0; i < count; i++) step(warmup + i);
  const used = process.cpuUsage(before);
  return (used.user + used.system) / count;
}

/** A clock the bench advances by hand: the pacer's one pending timer fires when its time comes. */
class ManualClock implements PacerClock {
  time = 0;
  private timer: { at: number; fn: () => void } | undefined;
  now(): number {
    return this.time;
  }
  setTimer(fn: () => void, delayMs: number): unknown {
    this.timer = { at: this.time + delayMs, fn };
    return this.timer;
  }
  clearTimer(): void {
    this.timer = undefined;
  }
  advance(ms: number): void {
    this.time += ms;
    const t = this.timer;
    if (t && t.at <= this.time) {
      this.timer = undefined;
      t.fn();
    }
  }
}

function sine(rate: number, hz: number, samples: number): Int16Array {
  const out = new Int16Array(samples);
  for (let i = 0; i < samples; i++) out[i] = Math.round(8000 * Math.sin((2 * Math.PI * hz * i) / rate));
  return out;
}

// One second of a 1 kHz tone as 50 μ-law RTP payloads, replayed with running sequence numbers and timestamps.
const ulawFrames = Array.from({ length: 50 }, (_, k) =>
  encodeUlaw(sine(8000, 1000, 8000).subarray(k * 160, (k + 1) * 160)),
);
// The bot's side: 20 ms of 16 kHz L16 little-endian, base64.
const botPayload = encodePayload(int16ToLe(sine(16000, 1000, 320)));

interface Row {
  name: string;
  us: number;
  /** What one frame of this row stands for, to scale to the core share. */
  share: string;
  corePct: number;
}
const rows: Row[] = [];
const perStreamPct = (us: number) => (200 * 50 * us) / 1e4; // 200 streams × 50 frames/s × µs → % of a core
const perMixPct = (us: number) => (50 * us) / 1e4;

// --- Stages alone ---------------------------------------------------------------------------------------
{
  const pcm = new Int16Array(160);
  const bytes = new Uint8Array(160);
  const us = measure((i) => {
    decodeUlaw(ulawFrames[i % 50]!, pcm);
    encodeUlaw(pcm, bytes);
  });
  rows.push({ name: 'G.711 μ-law decode + encode (160 samples)', us, share: '200 streams', corePct: perStreamPct(us) });
}
{
  const up = new Resampler(8000, 16000);
  const down = new Resampler(16000, 8000);
  const src = sine(8000, 1000, 160);
  const wide = new Int16Array(320);
  const narrow = new Int16Array(160);
  const us = measure(() => {
    up.process(src, wide);
    down.process(wide, narrow);
  });
  rows.push({ name: 'resample 8 → 16 kHz and 16 → 8 kHz', us, share: '200 streams', corePct: perStreamPct(us) });
}
{
  const jb = new JitterBuffer({ codec: 'pcmu' });
  const us = measure((i) => {
    jb.insert(i & 0xffff, (i * 160) % 2 ** 32, ulawFrames[i % 50]!, i * 20);
    jb.pop();
  });
  const s = jb.stats();
  run.check(s.lost === 0 && s.concealed === 0 && s.late === 0, `jitter buffer alone: ${JSON.stringify(s)}`);
  rows.push({ name: 'jitter buffer insert + pop (μ-law decode)', us, share: '200 streams', corePct: perStreamPct(us) });
}
{
  const clock = new ManualClock();
  let sent = 0;
  const pacer = new FramePacer({ frameBytes: 160, silenceByte: 0xff, clock, onFrame: () => sent++ });
  const us = measure((i) => {
    pacer.enqueue(ulawFrames[i % 50]!);
    clock.advance(20);
  });
  run.check(sent === warmup + frames, `pacer: ${sent} frames sent of ${warmup + frames}`);
  rows.push({ name: 'pacer enqueue + tick', us, share: '200 streams', corePct: perStreamPct(us) });
}
{
  const pcm = sine(16000, 1000, 320);
  const le = new Uint8Array(640);
  const back = new Int16Array(320);
  const us = measure(() => {
    encodePayload(int16ToLe(pcm, le));
    leToInt16(decodePayload(botPayload), back);
  });
  rows.push({ name: 'L16 LE + base64, both ways (640 bytes)', us, share: '200 streams', corePct: perStreamPct(us) });
}

// --- The whole stream path -------------------------------------------------------------------------------
let streamUs = Number.NaN;
{
  const jb = new JitterBuffer({ codec: 'pcmu' });
  const up = new Resampler(8000, 16000);
  const down = new Resampler(16000, 8000);
  const wide = new Int16Array(320);
  const le = new Uint8Array(640);
  const fromBot = new Int16Array(320);
  const narrow = new Int16Array(160);
  const ulaw = new Uint8Array(160);
  const clock = new ManualClock();
  let sent = 0;
  let peak = 0;
  const pacer = new FramePacer({ frameBytes: 160, silenceByte: 0xff, clock, onFrame: () => sent++ });
  streamUs = measure((i) => {
    // Caller → bot.
    jb.insert(i & 0xffff, (i * 160) % 2 ** 32, ulawFrames[i % 50]!, i * 20);
    const f = jb.pop();
    if (f) {
      up.process(f.samples, wide);
      encodePayload(int16ToLe(wide, le));
      if (i % 500 === 0) peak = Math.max(peak, ...wide);
    }
    // Bot → caller.
    leToInt16(decodePayload(botPayload), fromBot);
    down.process(fromBot, narrow);
    pacer.enqueue(encodeUlaw(narrow, ulaw));
    clock.advance(20);
  });
  const s = jb.stats();
  run.check(s.lost === 0 && s.concealed === 0, `stream path jitter buffer: ${JSON.stringify(s)}`);
  run.check(sent === warmup + frames, `stream path pacer: ${sent} frames of ${warmup + frames}`);
  run.check(peak > 7000, `stream path: the resampled tone peaks at ${peak}, expected ≈ 8000`);
  rows.push({
    name: 'stream path, both directions (all of the above)',
    us: streamUs,
    share: '200 streams',
    corePct: perStreamPct(streamUs),
  });
}

// The default stream (μ-law 8 kHz both ways, Twilio's format): no resampling, the bot's bytes go out as they are.
let ulawStreamUs = Number.NaN;
{
  const jb = new JitterBuffer({ codec: 'pcmu' });
  const ulaw = new Uint8Array(160);
  const botUlaw = encodePayload(ulawFrames[7]!);
  const clock = new ManualClock();
  let sent = 0;
  const pacer = new FramePacer({ frameBytes: 160, silenceByte: 0xff, clock, onFrame: () => sent++ });
  ulawStreamUs = measure((i) => {
    jb.insert(i & 0xffff, (i * 160) % 2 ** 32, ulawFrames[i % 50]!, i * 20);
    const f = jb.pop();
    if (f) encodePayload(encodeUlaw(f.samples, ulaw));
    pacer.enqueue(decodePayload(botUlaw));
    clock.advance(20);
  });
  run.check(jb.stats().lost === 0 && sent === warmup + frames, 'μ-law stream path lost frames');
  rows.push({
    name: 'stream path, μ-law 8 kHz both directions (no resampling)',
    us: ulawStreamUs,
    share: '200 streams',
    corePct: perStreamPct(ulawStreamUs),
  });
}

// --- Conference mix --------------------------------------------------------------------------------------
const mixUs = new Map<number, number>();
for (const n of [10, 100]) {
  const m = new Mixer(160);
  const inputs = Array.from({ length: n }, (_, k) => sine(8000, 300 + 10 * k, 160));
  const parts = inputs.map((_, k) => m.add(`p${k}`));
  const count = Math.max(50, Math.floor(frames / (n / 10)));
  const us = measure(() => {
    for (let k = 0; k < n; k++) parts[k]!.put(inputs[k]!);
    m.mix();
  }, count);
  run.check(
    parts[0]!.output.some((v) => v !== 0),
    `mix of ${n}: participant 0 hears silence`,
  );
  mixUs.set(n, us);
  rows.push({ name: `mix of ${n} (put all frames + mix)`, us, share: `1 conference`, corePct: perMixPct(us) });
}
let conferenceUs = Number.NaN;
{
  const n = 100;
  const m = new Mixer(160);
  const parts = Array.from({ length: n }, (_, k) => m.add(`p${k}`));
  const jbs = parts.map(() => new JitterBuffer({ codec: 'pcmu' }));
  const out = new Uint8Array(160);
  const count = Math.max(50, Math.floor(frames / 10));
  conferenceUs = measure((i) => {
    for (let k = 0; k < n; k++) {
      jbs[k]!.insert(i & 0xffff, (i * 160) % 2 ** 32, ulawFrames[(i + k) % 50]!, i * 20);
      const f = jbs[k]!.pop();
      if (f) parts[k]!.put(f.samples);
    }
    m.mix();
    for (let k = 0; k < n; k++) encodeUlaw(parts[k]!.output, out);
  }, count);
  run.check(
    jbs.every((jb) => jb.stats().lost === 0),
    'conference: a jitter buffer lost frames',
  );
  rows.push({
    name: 'conference of 100: jitter buffers + mix + μ-law encode',
    us: conferenceUs,
    share: '1 conference',
    corePct: perMixPct(conferenceUs),
  });
}

console.log(`audio-engine benchmark: ${frames} frames per row (20 ms each), CPU time after ${warmup} warm-up frames`);
console.log('path | frames/s of one core | µs per frame | % of one core for');
for (const r of rows) {
  console.log(
    `${r.name.padEnd(58)} | ${Math.round(1e6 / r.us)
      .toLocaleString('en-US')
      .padStart(10)} | ${r.us.toFixed(2).padStart(8)} | ${r.corePct.toFixed(2).padStart(6)} % (${r.share})`,
  );
}
const mix100 = mixUs.get(100)!;
console.log(
  `per participant in the 100-party mix: ${(mix100 / 100).toFixed(3)} µs per frame; with its jitter buffer and encode: ${(conferenceUs / 100).toFixed(3)} µs`,
);

run.figure('stream.us-per-frame', streamUs, 'us', 2);
run.figure('stream.core-pct-200-streams', perStreamPct(streamUs), '%', 2);
run.figure('stream-mulaw.us-per-frame', ulawStreamUs, 'us', 2);
run.figure('mix10.us-per-frame', mixUs.get(10), 'us', 2);
run.figure('mix100.us-per-frame', mix100, 'us', 2);
run.figure('mix100.core-pct', perMixPct(mix100), '%', 3);
run.figure('conference100.core-pct', perMixPct(conferenceUs), '%', 3);
run.finish();

import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createLogger } from '@sipms/shared/util/logger';
import { toneWav } from '../src/media/audio-sources.js';
import type { DtmfLogListener } from '../src/media/dtmf-log-listener.js';
import { parseRtp } from '../src/media/pcap.js';
import { PcapRecordings } from '../src/media/pcap-recordings.js';
import { type RtpEngineController, RtpEngineError } from '../src/media/rtpengine-controller.js';
import { RtpEngineMedia } from '../src/media/rtpengine-media.js';
import type { RtpEngineProcess } from '../src/media/rtpengine-process.js';
import { MediaCapacityError } from '../src/ports/media.js';
import { haveRtpengine, startRealRtpengine } from './kit/programs.js';

// A real userspace rtpengine (the RTP range 34000-34999; this file uses 34900-34979).
const PORT_MIN = 34900;
const PORT_MAX = 34979;
const logger = createLogger({ test: 'rtpengine' }, 'silent');

async function udp(): Promise<Socket> {
  const s = createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  return s;
}

function callerSdp(port: number): string {
  return [
    'v=0',
    'o=caller 1 1 IN IP4 127.0.0.1',
    's=-',
    'c=IN IP4 127.0.0.1',
    't=0 0',
    `m=audio ${port} RTP/AVP 0 101`,
    'a=rtpmap:0 PCMU/8000',
    'a=rtpmap:101 telephone-event/8000',
    'a=fmtp:101 0-15',
    'a=sendrecv',
    '',
  ].join('\r\n');
}

function portOf(sdp: string): number {
  return Number(/m=audio (\d+)/.exec(sdp)![1]);
}

/** µ-law encode (for sending a loud or silent stream). */
function ulaw(sample: number): number {
  const sign = sample < 0 ? 0x80 : 0;
  let s = Math.min(32635, Math.abs(sample)) + 0x84;
  let exp = 7;
  for (let mask = 0x4000; (s & mask) === 0 && exp > 0; mask >>= 1) exp--;
  const mant = (s >> (exp + 3)) & 0x0f;
  s = ~(sign | (exp << 4) | mant) & 0xff;
  return s;
}

/** Sends `packets` 20 ms PCMU packets (a 440 Hz tone, or digital silence) from `from` to `port`. */
async function sendAudio(from: Socket, port: number, packets: number, loud = true, ssrc = 0x1234): Promise<void> {
  for (let i = 0; i < packets; i++) {
    const p = Buffer.alloc(12 + 160);
    p[0] = 0x80;
    p[1] = 0;
    p.writeUInt16BE(i & 0xffff, 2);
    p.writeUInt32BE(i * 160, 4);
    p.writeUInt32BE(ssrc, 8);
    for (let j = 0; j < 160; j++) {
      const v = loud ? Math.round(Math.sin((2 * Math.PI * 440 * (i * 160 + j)) / 8000) * 12000) : 0;
      p[12 + j] = ulaw(v);
    }
    from.send(p, port, '127.0.0.1');
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** One RFC 4733 key press (event, 3 end packets) as a phone sends it. */
async function sendDigit(from: Socket, port: number, event: number, seq0 = 5000): Promise<void> {
  const ts = 900_000;
  for (let i = 0; i < 8; i++) {
    const end = i >= 5;
    const p = Buffer.alloc(16);
    p[0] = 0x80;
    p[1] = (i === 0 ? 0x80 : 0) | 101;
    p.writeUInt16BE(seq0 + i, 2);
    p.writeUInt32BE(ts, 4);
    p.writeUInt32BE(0x1234, 8);
    p[12] = event;
    p[13] = (end ? 0x80 : 0) | 10;
    p.writeUInt16BE(Math.min(5, i + 1) * 160, 14);
    from.send(p, port, '127.0.0.1');
    await new Promise((r) => setTimeout(r, 20));
  }
}

function counter(s: Socket): { count: () => number; reset: () => void; pts: number[]; ssrcs: Set<number> } {
  let n = 0;
  const pts: number[] = [];
  const ssrcs = new Set<number>();
  s.on('message', (m) => {
    const rtp = parseRtp(m);
    if (!rtp) return;
    n++;
    pts.push(rtp.payloadType);
    ssrcs.add(rtp.ssrc);
  });
  return { count: () => n, reset: () => (n = 0), pts, ssrcs };
}

const skip = haveRtpengine() ? false : 'rtpengine is not installed (apt-get install rtpengine-daemon)';
if (skip) console.log(`# SKIP rtpengine tests: ${skip}`);

describe('rtpengine controller, media legs and supervision (real rtpengine)', { skip }, () => {
  let dir: string;
  let control: RtpEngineController;
  let dtmf: DtmfLogListener;
  let media: RtpEngineMedia;
  let proc: RtpEngineProcess;
  let prompt: string;
  let call = 0;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rtpe-test-'));
    // As a node on two cores runs it (RTPENGINE_THREADS): the real binary takes the flag.
    ({ control, dtmf, proc } = await startRealRtpengine(
      dir,
      { portMin: PORT_MIN, portMax: PORT_MAX, threads: 1 },
      logger,
    ));
    media = new RtpEngineMedia(control, dtmf, logger);
    proc.on('exit', () => media.failAll('rtpengine exited'));
    await media.start('127.0.0.1');
    prompt = join(dir, 'prompt.wav');
    await writeFile(prompt, toneWav(1000, 1000));
  });

  after(async () => {
    await proc?.stop();
    media?.close();
    dtmf?.close();
    control?.close();
    await rm(dir, { recursive: true, force: true });
  });

  async function openCall(sipCallId?: string) {
    const caller = await udp();
    const n = ++call;
    const leg = await media
      .openLeg({
        callId: sipCallId ?? `test-${n}@example`,
        callerTag: `caller-${n}`,
        ivrTag: `ivr-${n}`,
        offerSdp: callerSdp(caller.address().port),
      })
      .catch((err: unknown) => {
        caller.close(); // a refused call must not keep its socket (and the test process) alive
        throw err;
      });
    const answer = await leg.connectIvr();
    // rtpengine's call is the node's leg, not the SIP Call-ID.
    return { caller, leg, callId: `in-ivr-${n}`, rtpPort: portOf(answer), rx: counter(caller) };
  }

  test('two dialogs with one SIP Call-ID get media of their own; hanging one up leaves the other', async () => {
    const a = await openCall('same-call-id@attacker');
    const b = await openCall('same-call-id@attacker');
    assert.notEqual(a.rtpPort, b.rtpPort);
    await a.leg.close();
    const q = await control.query({ 'call-id': b.callId });
    assert.equal(q.result, 'ok', "the other dialog's media is still there");
    const { durationMs } = await b.leg.play(prompt);
    assert.ok(durationMs > 0);
    await b.leg.close();
    a.caller.close();
    b.caller.close();
  });

  test('every port taken: openLeg rejects with MediaCapacityError (the flow answers 503, not 488)', async () => {
    const open: Awaited<ReturnType<typeof openCall>>[] = [];
    let refused: unknown;
    // Each call holds 4 ports; the range holds fewer than 60 calls.
    for (let i = 0; i < 60 && !refused; i++) {
      try {
        open.push(await openCall());
      } catch (err) {
        refused = err;
      }
    }
    assert.ok(refused instanceof MediaCapacityError, `refused with ${String(refused)}`);
    for (const c of open) {
      await c.leg.close();
      c.caller.close();
    }
    const again = await openCall();
    await again.leg.close();
    again.caller.close();
  });

  test('ping answers pong; an error reply is a typed rejection', async () => {
    assert.equal(await control.ping(), true);
    await assert.rejects(
      control.answer({ 'call-id': 'no-such-call', 'from-tag': 'a', 'to-tag': 'b', sdp: callerSdp(40000) }),
      (err: unknown) => err instanceof RtpEngineError && err.command === 'answer' && err.code === 'unavailable',
    );
    await assert.rejects(control.stopMedia({ 'call-id': 'no-such-call', 'from-tag': 'a' }), RtpEngineError);
  });

  test('query reports a call; delete removes it', async () => {
    const { caller, leg, callId } = await openCall();
    const q = await control.query({ 'call-id': callId });
    assert.equal(q.result, 'ok');
    assert.ok(q.tags && typeof q.tags === 'object');
    await leg.close();
    await assert.rejects(control.query({ 'call-id': callId }), RtpEngineError);
    caller.close();
  });

  test('play media reaches the caller for its length; stop media ends it at once', async () => {
    const { caller, leg, rx } = await openCall();
    const { durationMs } = await leg.play(prompt);
    assert.ok(Math.abs(durationMs - 1000) < 100, `duration ${durationMs}`);
    await new Promise((r) => setTimeout(r, 1300));
    assert.ok(rx.count() >= 45 && rx.count() <= 55, `1 s prompt = ~50 packets, got ${rx.count()}`);
    rx.reset();
    const playAt = performance.now();
    await leg.play(prompt);
    await new Promise((r) => setTimeout(r, 300));
    await leg.stopPlayback();
    const atStop = rx.count();
    // What the time between the two commands allows (timers and the ng round trips vary on a loaded machine).
    const allowed = Math.ceil((performance.now() - playAt) / 20) + 2;
    await new Promise((r) => setTimeout(r, 500));
    assert.ok(atStop >= 5 && atStop <= allowed, `packets before the stop: ${atStop} (at most ${allowed})`);
    assert.ok(rx.count() - atStop <= 2, `packets after stop media: ${rx.count() - atStop}`);
    await leg.close();
    caller.close();
  });

  test('RFC 4733 digits from the caller reach the leg; digits the IVR side injects do not', async () => {
    const caller = await udp();
    const callId = `dtmf-${++call}`;
    const flags = ['port latching', 'inject DTMF'];
    const offer = await control.offer({
      'call-id': callId,
      'from-tag': 'caller',
      sdp: callerSdp(caller.address().port),
      replace: ['origin', 'session-connection'],
      flags,
    });
    const ivr = await udp();
    const answer = await control.answer({
      'call-id': callId,
      'from-tag': 'caller',
      'to-tag': 'ivr',
      sdp: callerSdp(ivr.address().port),
      replace: ['origin', 'session-connection'],
      flags,
    });
    // rtpengine injects DTMF into a stream it knows: the IVR side sends some audio first.
    await sendAudio(ivr, portOf(offer.sdp), 3);
    const digits: string[] = [];
    const unsubscribe = dtmf.subscribe(callId, 'caller', (e) => digits.push(e.digit));
    const rx = counter(caller);
    await sendAudio(caller, portOf(answer.sdp), 5);
    await sendDigit(caller, portOf(answer.sdp), 11);
    // The IVR side plays "7" towards the caller: logged under the IVR's tag, so not the caller's digit.
    await control.playDtmf({ 'call-id': callId, 'from-tag': 'ivr', code: '7', duration: 100 });
    // Injected events ride on the IVR side's outgoing stream.
    await sendAudio(ivr, portOf(offer.sdp), 25);
    await new Promise((r) => setTimeout(r, 300));
    assert.deepEqual(digits, ['#']);
    assert.ok(
      rx.pts.includes(101),
      `the injected digit reached the caller as telephone-event (PTs ${[...new Set(rx.pts)]})`,
    );
    assert.ok(offer.sdp.includes('m=audio'));
    unsubscribe();
    await control.delete({ 'call-id': callId });
    caller.close();
    ivr.close();
  });

  test('record: the caller’s audio becomes a WAV of about the right length', async () => {
    const { caller, leg, rtpPort } = await openCall();
    await sendAudio(caller, rtpPort, 5);
    await leg.startRecording();
    await sendAudio(caller, rtpPort, 75); // 1.5 s
    const { file, durationMs } = await leg.stopRecording();
    assert.ok(Math.abs(durationMs - 1500) <= 100, `recorded ${durationMs} ms`);
    const wav = await readFile(file);
    assert.equal(wav.toString('ascii', 0, 4), 'RIFF');
    assert.equal(wav.length, 44 + (durationMs / 1000) * 16000);
    // A second recording in the same call is a new file.
    await leg.startRecording();
    await sendAudio(caller, rtpPort, 25);
    const second = await leg.stopRecording();
    assert.ok(Math.abs(second.durationMs - 500) <= 60, `second recording ${second.durationMs} ms`);
    await leg.close();
    caller.close();
  });

  test('a call that never records: rtpengine writes nothing for it, and closing it looks for nothing', async (t) => {
    const cleanup = t.mock.method(PcapRecordings.prototype, 'cleanup');
    const { caller, leg, callId, rtpPort } = await openCall();
    await sendAudio(caller, rtpPort, 10);
    await leg.play(prompt);
    const written = await readdir(join(dir, 'run', 'recordings'), { recursive: true }).catch(() => [] as string[]);
    assert.deepEqual(
      written.filter((f) => f.includes(callId)),
      [],
      'no pcap or metadata file names the call',
    );
    await leg.close();
    assert.equal(cleanup.mock.callCount(), 0);
    caller.close();
  });

  test('a call that recorded: its files are gone once it closes', async () => {
    const { caller, leg, callId, rtpPort } = await openCall();
    await leg.startRecording();
    await sendAudio(caller, rtpPort, 10);
    const { file } = await leg.stopRecording();
    await leg.close();
    const left = await readdir(join(dir, 'run', 'recordings'), { recursive: true });
    // The WAV is the caller's to keep (the IVR stores it, then removes it); rtpengine's pcap and metadata are not.
    assert.deepEqual(
      left.filter((f) => f.includes(callId) && !file.endsWith(f)),
      [],
    );
    caller.close();
  });

  test('record: RTP timestamps 0 and 28,790,000 make a recording as long as the wall clock, not an hour', async () => {
    const { caller, leg, rtpPort } = await openCall();
    await sendAudio(caller, rtpPort, 5);
    await leg.startRecording();
    for (const [i, ts] of [0, 28_790_000].entries()) {
      const p = Buffer.alloc(12 + 160, 0x10);
      p[0] = 0x80;
      p.writeUInt16BE(100 + i, 2);
      p.writeUInt32BE(ts, 4);
      p.writeUInt32BE(0x1234, 8);
      caller.send(p, rtpPort, '127.0.0.1');
      await new Promise((r) => setTimeout(r, 20));
    }
    await new Promise((r) => setTimeout(r, 200));
    const started = Date.now();
    const { file, durationMs } = await leg.stopRecording();
    assert.ok(durationMs <= 1000, `recorded ${durationMs} ms (billed as recording seconds)`);
    const wav = await readFile(file);
    assert.ok(wav.length <= 44 + 16_000, `a WAV of ${wav.length} bytes`);
    assert.ok(Date.now() - started < 2000);
    await leg.close();
    caller.close();
  });

  test('caller audio levels arrive through the IVR sink: tone is loud, silence is quiet', async () => {
    const { caller, leg, rtpPort } = await openCall();
    const levels: number[] = [];
    const stop = leg.onCallerAudio((l) => levels.push(l));
    await sendAudio(caller, rtpPort, 10, true);
    await new Promise((r) => setTimeout(r, 100));
    const loud = levels.length;
    await sendAudio(caller, rtpPort, 10, false);
    await new Promise((r) => setTimeout(r, 100));
    stop();
    assert.ok(loud >= 8, `levels while loud: ${loud}`);
    assert.ok(Math.max(...levels.slice(0, loud)) > 0.2);
    assert.ok(Math.max(...levels.slice(loud + 1)) < 0.01, `silence levels ${levels.slice(loud + 1)}`);
    await leg.close();
    caller.close();
  });

  test('echo loops the caller’s audio back until stopped', async () => {
    const { caller, leg, rtpPort, rx } = await openCall();
    await leg.startEcho();
    await sendAudio(caller, rtpPort, 25, true, 0xabcd);
    await new Promise((r) => setTimeout(r, 200));
    assert.ok(rx.count() >= 22, `echoed packets: ${rx.count()}`);
    await leg.stopEcho();
    rx.reset();
    await sendAudio(caller, rtpPort, 25);
    await new Promise((r) => setTimeout(r, 200));
    assert.ok(rx.count() <= 1, `packets after echo stopped: ${rx.count()}`);
    await leg.close();
    caller.close();
  });

  test('supervision: rtpengine killed → calls fail, it is restarted and answers ping again', async () => {
    const { caller, leg } = await openCall();
    const failed = new Promise<string>((r) => leg.onFailure(r));
    const ready = new Promise<void>((r) => proc.once('ready', () => r()));
    process.kill(proc.pid!, 'SIGKILL');
    assert.equal(await failed, 'rtpengine exited');
    await ready;
    assert.equal(await control.ping(), true);
    assert.equal(media.openLegs, 0);
    caller.close();
  });
});

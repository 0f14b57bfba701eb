import assert from 'node:assert/strict';
import { test } from 'node:test';
import { IvrCommand } from '@sipms/shared/contracts/ivr-command';
import { createLogger } from '@sipms/shared/util/logger';
import { type IvrContext, runIvrCommand } from '../src/call/ivr/ivr-executor.js';
import { recordCaller } from '../src/call/ivr/ivr-recording.js';
import type { AudioSources } from '../src/ports/call-data.js';
import type { MediaLeg } from '../src/ports/media.js';

/** A media leg that logs what the executor asks of it; every file "plays" for 300 ms. */
function fakeLeg() {
  const log: string[] = [];
  const audio = new Set<(l: number) => void>();
  const leg = {
    offerTowardsPeer: '',
    connectIvr: async () => '',
    connectPeer: async () => '',
    sinkSide: '',
    connectTo: async () => {},
    play: async (file: string) => {
      log.push(`play ${file}`);
      return { durationMs: 300 };
    },
    stopPlayback: async () => void log.push('stop'),
    onDtmf: () => () => {},
    reoffer: async () => '',
    startRecording: async () => void log.push('record start'),
    stopRecording: async () => {
      log.push('record stop');
      return { file: '/tmp/rec.wav', durationMs: 1234 };
    },
    onCallerAudio: (l: (level: number) => void) => {
      audio.add(l);
      return () => audio.delete(l);
    },
    openAudioTap: () => {
      throw new Error('no audio tap in these tests');
    },
    startEcho: async () => void log.push('echo start'),
    stopEcho: async () => void log.push('echo stop'),
    onFailure: () => () => {},
    close: async () => {},
  } satisfies MediaLeg;
  return {
    leg,
    log,
    level: (l: number) => {
      for (const f of audio) f(l);
    },
  };
}

function context(leg: MediaLeg, overrides: Partial<AudioSources> = {}) {
  const failed: string[] = [];
  const notified: { event: string; details: unknown }[] = [];
  const saved: string[] = [];
  const digits = new Set<(d: string) => void>();
  const audio: AudioSources = {
    prompt: async (_t, name) => (name === 'missing' ? undefined : `/prompts/${name}`),
    speech: async (_t, { text }) => `/tts/${text}`,
    silence: async (ms) => `/silence/${ms}`,
    tone: async () => '/tone',
    url: async () => {
      throw new Error('HTTP 404');
    },
    saveRecording: async (_t, name) => void saved.push(name),
    saveMixedRecording: async (_t, name) => void saved.push(name),
  };
  Object.assign(audio, overrides);
  const ctx: IvrContext = {
    tenantId: 't1',
    leg,
    audio,
    onDigit: (l) => {
      digits.add(l);
      return () => digits.delete(l);
    },
    ivrFailed: (reason) => failed.push(reason),
    notify: (event, details) => notified.push({ event, details }),
    signal: new AbortController().signal,
    logger: createLogger({}, 'silent'),
  };
  return {
    ctx,
    failed,
    notified,
    saved,
    press: (d: string) => {
      for (const l of digits) l(d);
    },
  };
}

const cmd = (c: unknown) => IvrCommand.parse(c);

test('phrases play in order; a failing phrase is skipped with ivrFailed and the rest still plays', async () => {
  const { leg, log } = fakeLeg();
  const { ctx, failed } = context(leg);
  const out = await runIvrCommand(
    cmd({
      phrases: [
        { format: 'file', fileName: 'missing' },
        { format: 'url', url: 'https://example.com/dead.wav' },
        { format: 'tts', text: 'hi' },
        { format: 'silence', durationMs: 200 },
      ],
      hangup: true,
    }),
    ctx,
  );
  assert.deepEqual(log, ['play /tts/hi', 'play /silence/200']);
  assert.equal(failed.length, 2);
  assert.match(failed[0]!, /file phrase skipped: prompt file "missing" does not exist/);
  assert.match(failed[1]!, /url phrase skipped: HTTP 404/);
  assert.equal(out.hangup, true);
});

test('barge-in: the first key stops playback at once and skips the remaining phrases; the key is collected', async () => {
  const { leg, log } = fakeLeg();
  const { ctx, press } = context(leg);
  const run = runIvrCommand(
    cmd({
      phrases: [
        { format: 'file', fileName: 'a' },
        { format: 'file', fileName: 'b' },
      ],
      bargeIn: 'all',
      dtmf: { maxDigits: 2, interDigitTimeoutMs: 200 },
    }),
    ctx,
  );
  await new Promise((r) => setTimeout(r, 100));
  const t0 = performance.now();
  press('5');
  await new Promise((r) => setImmediate(r));
  assert.equal(log.at(-1), 'stop', 'stop media right at the key press');
  press('6');
  const out = await run;
  assert.ok(performance.now() - t0 < 150);
  assert.deepEqual(out.dtmfParams, { digits: '56', terminationKey: '', reason: 'maxDigits' });
  assert.ok(!log.includes('play /prompts/b'));
});

test('without barge-in the phrases play out; typed-ahead digits are kept', async () => {
  const { leg, log } = fakeLeg();
  const { ctx, press } = context(leg);
  const run = runIvrCommand(cmd({ phrases: [{ format: 'file', fileName: 'a' }], dtmf: { maxDigits: 1 } }), ctx);
  await new Promise((r) => setTimeout(r, 50));
  press('9');
  const out = await run;
  assert.deepEqual(log, ['play /prompts/a']);
  assert.equal(out.dtmfParams?.digits, '9');
});

test('record: beep, then the termination key ends it; stored, reported, recordingReady sent', async () => {
  const { leg, log, level } = fakeLeg();
  const { ctx, press, saved, notified } = context(leg);
  const run = runIvrCommand(cmd({ record: { fileName: 'msg-1', terminationKey: '#', beep: true } }), ctx);
  await new Promise((r) => setTimeout(r, 400));
  level(0.3);
  press('#');
  const out = await run;
  assert.deepEqual(log, ['play /tone', 'record start', 'record stop']);
  assert.deepEqual(out.recording, { fileName: 'msg-1', durationMs: 1234 });
  assert.deepEqual(saved, ['msg-1']);
  assert.equal(notified[0]!.event, 'recordingReady');
  assert.deepEqual(notified[0]!.details, {
    reason: 'terminationKey',
    recording: { fileName: 'msg-1', durationMs: 1234 },
  });
});

test('record: silence ends it (no packets count as silence); maxDurationSec ends it while the caller talks', async () => {
  const { leg } = fakeLeg();
  const { ctx, notified } = context(leg);
  const spec = IvrCommand.parse({ record: { fileName: 'x', maxDurationSec: 1 } }).record!;
  const t0 = performance.now();
  await recordCaller(spec, ctx, () => {}, { silenceMs: 200, silenceLevel: 0.01 });
  assert.ok(performance.now() - t0 < 600);
  assert.equal((notified[0]!.details as { reason: string }).reason, 'silence');

  const talking = fakeLeg();
  const c2 = context(talking.leg);
  const timer = setInterval(() => talking.level(0.2), 20);
  await recordCaller(spec, c2.ctx, () => {}, { silenceMs: 200, silenceLevel: 0.01 });
  clearInterval(timer);
  assert.equal((c2.notified[0]!.details as { reason: string }).reason, 'maxDuration');
});

test('echo runs for durationSec, then stops', async () => {
  const { leg, log } = fakeLeg();
  const { ctx } = context(leg);
  const t0 = performance.now();
  await runIvrCommand(cmd({ echo: { durationSec: 1 } }), ctx);
  assert.ok(performance.now() - t0 >= 990);
  assert.deepEqual(log, ['echo start', 'echo stop']);
});

test('a recording that cannot start is ivrFailed, and the command goes on', async () => {
  const { leg } = fakeLeg();
  leg.startRecording = async () => {
    throw new Error('no recording directory');
  };
  const { ctx, failed } = context(leg);
  const out = await runIvrCommand(cmd({ record: { fileName: 'x' }, hangup: true }), ctx);
  assert.match(failed[0]!, /record failed: no recording directory/);
  assert.equal(out.hangup, true);
});

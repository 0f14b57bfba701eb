import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { decodeUlaw, encodeUlaw } from '../../src/audio/index.js';
import { ConferenceService, type ConferenceServiceOptions } from '../../src/conference/conference-service.js';
import { startMixRecording } from '../../src/conference/mix-recorder.js';
import { tone, toneAmplitude } from '../audio/signal.js';
import { RecordingLogger } from '../kit/logger.js';
import { Caller, MemoryDirectory } from './fakes.js';
import { ManualClock } from './manual-clock.js';

// The conference service (hosting model, join/leave, REST commands, recording) with fakes for the table
// (MemoryDirectory), the callers' audio taps and IVR sides (Caller) and the clock (ManualClock); the mix,
// jitter buffers and the WAV recording are the real ones.

const NODE = 'node-a';
let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'conference-service-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

function setup(o: Partial<ConferenceServiceOptions> = {}) {
  const directory = new MemoryDirectory();
  directory.liveNodes.add(NODE);
  const clock = new ManualClock();
  const saved: { tenantId: string; fileName: string; wav: Buffer }[] = [];
  const announced: { sessionId: string; participantId: string; event: string; reason: string }[] = [];
  const logger = new RecordingLogger();
  const service = new ConferenceService({
    nodeId: NODE,
    directory,
    maxParticipants: 100,
    logger,
    clock,
    recordings: {
      start: () => startMixRecording(dir, 1_000_000),
      save: async (tenantId, fileName, file) => {
        saved.push({ tenantId, fileName, wav: await readFile(file) });
        await rm(file);
      },
    },
    announce: (target, event, fields) => announced.push({ ...target, event, reason: fields.reason }),
    ...o,
  });
  return { service, directory, clock, saved, announced, logger };
}

/** Lets the service's promise chains (table writes, joins) run. */
const settle = () => new Promise((r) => setImmediate(r));

/** The callers speak one 20 ms frame of their tone each and the clock ticks once; `ticks` times. */
function talk(clock: ManualClock, callers: [Caller, number][], ticks: number): void {
  for (let t = 0; t < ticks; t++) {
    for (const [c, hz] of callers) {
      const phase = (2 * Math.PI * hz * c.tap.sent.length * 160) / 8000;
      c.tap.speak(encodeUlaw(tone(8000, hz, 6000, 160, phase)));
    }
    clock.advance(20);
  }
}

/** Amplitude of `hz` in the last `frames` frames a caller was sent. */
function heard(c: Caller, hz: number, frames = 20): number {
  const pcm = decodeUlaw(Buffer.concat(c.tap.sent.slice(-frames)));
  return toneAmplitude(pcm, 8000, hz);
}

describe('ConferenceService', () => {
  test('the first join creates the conference on this node; each participant hears the others; leaving ends it', async () => {
    const { service, directory, clock } = setup();
    const [a, b, c] = [new Caller('pa'), new Caller('pb'), new Caller('pc')];
    void a.join(service, { name: 'room-1' });
    await settle();
    const item = directory.items.get('t1/room-1')!;
    assert.equal(item.hostNodeId, NODE);
    assert.equal(item.maxParticipants, 50, 'the default');
    void b.join(service, { name: 'room-1' });
    void c.join(service, { name: 'room-1' });
    await settle();
    assert.equal(directory.creates, 1, 'later joins find the conference here');
    assert.deepEqual(Object.keys(directory.items.get('t1/room-1')!.participants).sort(), ['pa', 'pb', 'pc']);
    assert.deepEqual(
      c.notified.map((n) => [n.event, n.count]),
      [['conferenceJoined', 3]],
    );
    talk(
      clock,
      [
        [a, 500],
        [b, 1100],
        [c, 1700],
      ],
      40,
    );
    assert.ok(heard(a, 1100) > 4000 && heard(a, 1700) > 4000, 'a hears b and c');
    assert.ok(heard(a, 500) < 200, `a does not hear itself (${heard(a, 500).toFixed(0)})`);
    assert.ok(heard(c, 500) > 4000 && heard(c, 1100) > 4000 && heard(c, 1700) < 200);

    a.hangup.abort();
    b.interrupt.abort();
    assert.deepEqual(await b.result, { reason: 'interrupted', durationMs: (await b.result)!.durationMs });
    assert.equal(a.events('conferenceLeft')[0]!.reason, 'hangup', 'a hang-up is journaled as one');
    assert.equal(b.events('conferenceLeft')[0]!.reason, 'interrupted');
    assert.ok(a.tap.closed && b.tap.closed);
    await settle();
    assert.deepEqual(Object.keys(directory.items.get('t1/room-1')!.participants), ['pc']);
    assert.equal(c.notified.at(-1)!.count, 3, 'c is told only of its own join');
    c.interrupt.abort();
    await c.result;
    await settle();
    assert.equal(directory.items.size, 0, 'the last one left: the conference item is removed');
    assert.equal(clock.pendingTimers, 0, 'and its clock stopped');
    assert.equal(service.active, 0);
  });

  test('two first joins at once on this node open one conference', async () => {
    const { service, directory } = setup();
    const [a, b] = [new Caller('pa'), new Caller('pb')];
    void a.join(service, { name: 'r' });
    void b.join(service, { name: 'r' });
    await settle();
    assert.equal(directory.creates, 1);
    assert.equal(service.room('t1', 'r')!.count, 2);
    await service.room('t1', 'r')!.end('ended');
    assert.equal((await a.result)!.reason, 'ended');
    assert.equal((await b.result)!.reason, 'ended');
  });

  test('a conference hosted by another live node: refused with hostElsewhere, journaled, no tap opened', async () => {
    const { service, directory } = setup();
    directory.liveNodes.add('node-b');
    // node-b's first join lands between our create attempt and its condition check.
    directory.beforeCreate = () => {
      directory.items.set('t1/r', {
        tenantId: 't1',
        name: 'r',
        conferenceId: 'cf-b',
        hostNodeId: 'node-b',
        createdAt: new Date().toISOString(),
        maxParticipants: 50,
        participants: {},
      });
    };
    const a = new Caller('pa');
    const result = await a.join(service, { name: 'r' });
    assert.equal(result.reason, 'hostElsewhere');
    assert.equal(result.durationMs, 0);
    assert.match(result.error!, /hosted on media node node-b/);
    assert.equal(a.events('conferenceRefused')[0]!.reason, 'hostElsewhere');
    assert.equal(a.tapOpened, false);
    assert.equal(directory.items.get('t1/r')!.hostNodeId, 'node-b', "node-b's conference is left alone");
  });

  test("a dead host's leftover item is taken over", async () => {
    const { service, directory, logger } = setup();
    directory.items.set('t1/r', {
      tenantId: 't1',
      name: 'r',
      conferenceId: 'cf-old',
      hostNodeId: 'node-gone',
      createdAt: new Date().toISOString(),
      maxParticipants: 50,
      participants: { ghost: { sessionId: 's', nodeId: 'node-gone', muted: false, deaf: false, joinedAt: '' } },
    });
    const a = new Caller('pa');
    void a.join(service, { name: 'r' });
    await settle();
    const item = directory.items.get('t1/r')!;
    assert.equal(item.hostNodeId, NODE);
    assert.notEqual(item.conferenceId, 'cf-old');
    assert.deepEqual(Object.keys(item.participants), ['pa']);
    assert.equal(logger.find('conference item taken over').length, 1);
    a.interrupt.abort();
    await a.result;
  });

  test('maxParticipants: the creator sets it (capped at the ceiling); one more is refused with full', async () => {
    const { service, directory } = setup({ maxParticipants: 3 });
    const callers = ['p1', 'p2', 'p3', 'p4'].map((id) => new Caller(id));
    void callers[0]!.join(service, { name: 'r', maxParticipants: 500 });
    await settle();
    assert.equal(directory.items.get('t1/r')!.maxParticipants, 3, 'capped at CONFERENCE_MAX_PARTICIPANTS');
    void callers[1]!.join(service, { name: 'r', maxParticipants: 2 }); // ignored: not the creator
    void callers[2]!.join(service, { name: 'r' });
    await settle();
    const full = await callers[3]!.join(service, { name: 'r' });
    assert.deepEqual(full, { reason: 'full', durationMs: 0, error: 'the conference has its most participants (3)' });
    assert.equal(callers[3]!.tapOpened, false);
    assert.equal(callers[3]!.events('conferenceRefused')[0]!.reason, 'full');
    await service.endAll();
  });

  test('REST: kick, mute and deafen reach the mix and the item; stale commands are ignored', async () => {
    const { service, directory, clock, logger } = setup();
    const [a, b, c] = [new Caller('pa'), new Caller('pb'), new Caller('pc')];
    for (const x of [a, b, c]) void x.join(service, { name: 'r' });
    await settle();
    const { conferenceId } = directory.items.get('t1/r')!;
    const command = (kind: string, payload: Record<string, unknown>) =>
      service.execute({
        kind,
        tenantId: 't1',
        commandId: `c-${kind}`,
        createdAt: '',
        payload: { name: 'r', conferenceId, ...payload },
      } as Parameters<ConferenceService['execute']>[0]);

    await command('conferenceUpdate', { participantId: 'pa', muted: true });
    await command('conferenceUpdate', { participantId: 'pc', deaf: true });
    await settle();
    assert.deepEqual(
      [directory.items.get('t1/r')!.participants.pa!.muted, directory.items.get('t1/r')!.participants.pc!.deaf],
      [true, true],
    );
    talk(
      clock,
      [
        [a, 500],
        [b, 1100],
        [c, 1700],
      ],
      30,
    );
    assert.ok(heard(b, 500) < 200, 'muted a is not heard');
    assert.ok(heard(b, 1700) > 4000, 'deaf c is heard');
    assert.ok(heard(a, 1100) > 4000, 'muted a hears');
    assert.ok(heard(c, 500) < 50 && heard(c, 1100) < 50, 'deaf c hears nothing');
    assert.deepEqual(
      a.events('conferenceUpdated').map((e) => e.muted),
      [true],
    );

    await command('conferenceKick', { participantId: 'pb' });
    const kicked = await b.result!;
    assert.equal(kicked.reason, 'kicked');
    assert.ok(kicked.durationMs >= 0);
    assert.equal(b.notified.at(-1)!.event, 'conferenceLeft');
    assert.equal(b.notified.at(-1)!.reason, 'kicked');
    await settle();
    assert.deepEqual(Object.keys(directory.items.get('t1/r')!.participants).sort(), ['pa', 'pc']);

    await command('conferenceKick', { participantId: 'pb' });
    assert.equal(logger.find(/participant has left/).length, 1, 'a second kick is a logged no-op');
    await service.execute({
      kind: 'conferenceEnd',
      tenantId: 't1',
      commandId: 'old',
      createdAt: '',
      payload: { name: 'r', conferenceId: 'cf-earlier-instance' },
    });
    assert.equal(service.room('t1', 'r')!.count, 2, 'an end for another instance of the name does nothing');

    await command('conferenceEnd', {});
    assert.equal((await a.result!).reason, 'ended');
    assert.equal((await c.result!).reason, 'ended');
    assert.equal(a.events('conferenceEnded').length, 1);
    assert.equal(directory.items.size, 0);
  });

  test('endOnExit: when that participant leaves the others leave with endOnExit; the name then opens a new conference', async () => {
    const { service, directory } = setup();
    const [host, guest] = [new Caller('host'), new Caller('guest')];
    void host.join(service, { name: 'r', endOnExit: true });
    void guest.join(service, { name: 'r' });
    await settle();
    const first = directory.items.get('t1/r')!.conferenceId;
    host.interrupt.abort();
    assert.equal((await host.result!).reason, 'interrupted');
    assert.equal((await guest.result!).reason, 'endOnExit');
    await settle();
    assert.equal(directory.items.size, 0);
    const next = new Caller('next');
    void next.join(service, { name: 'r' });
    await settle();
    assert.notEqual(directory.items.get('t1/r')!.conferenceId, first);
    next.interrupt.abort();
    await next.result;
  });

  test('a join whose tap cannot open fails with its reason and leaves no conference behind', async () => {
    const { service, directory } = setup();
    const a = new Caller('pa');
    const run = a.run();
    const result = await service.join(
      { name: 'r', muted: false, deaf: false, beep: false, endOnExit: false },
      {
        ...run,
        openTap: () => {
          throw new Error("the caller's codec at the IVR is not G.711");
        },
      },
    );
    assert.equal(result.reason, 'failed');
    assert.match(result.error!, /not G\.711/);
    await settle();
    assert.equal(directory.items.size, 0);
  });

  test("beeps follow each participant's beep: on its join and leave, heard by everyone not deaf", async () => {
    const { service, clock } = setup();
    const [a, b, c] = [new Caller('pa'), new Caller('pb'), new Caller('pc')];
    const tonePart = (x: Caller, from: number) => decodeUlaw(Buffer.concat(x.tap.sent.slice(from, from + 6)));
    void a.join(service, { name: 'r' }); // beep: false
    void c.join(service, { name: 'r', deaf: true });
    await settle();
    clock.advance(300);
    assert.ok(toneAmplitude(tonePart(a, 0), 8000, 660) < 50, 'joins without beep are silent');
    const bJoined = a.tap.sent.length;
    void b.join(service, { name: 'r', beep: true });
    await settle();
    clock.advance(300);
    assert.ok(toneAmplitude(tonePart(a, bJoined), 8000, 660) > 3000, 'a hears the join tone');
    assert.ok(toneAmplitude(tonePart(b, 0), 8000, 660) > 3000, 'b hears its own join tone');
    assert.ok(toneAmplitude(tonePart(c, bJoined), 8000, 660) < 50, 'deaf c does not');
    const bLeft = a.tap.sent.length;
    b.interrupt.abort();
    await b.result;
    clock.advance(300);
    assert.ok(toneAmplitude(tonePart(a, bLeft), 8000, 990) > 3000, 'a hears the leave tone (it starts high)');
    await service.endAll();
  });

  test('recording the mix: stored as a prompt file, recordingReady to the session that asked', async () => {
    const { service, directory, clock, saved, announced } = setup();
    const [a, b] = [new Caller('pa'), new Caller('pb')];
    void a.join(service, { name: 'r' });
    void b.join(service, { name: 'r' });
    await settle();
    const ref = { name: 'r', conferenceId: directory.items.get('t1/r')!.conferenceId };
    await service.execute({
      kind: 'conferenceStartRecording',
      tenantId: 't1',
      commandId: 'rec',
      createdAt: '',
      payload: { ...ref, fileName: 'conf-r-1', notify: { sessionId: 's-pa', participantId: 'pa' } },
    });
    await settle();
    assert.equal(directory.items.get('t1/r')!.recording?.fileName, 'conf-r-1');
    talk(
      clock,
      [
        [a, 500],
        [b, 1100],
      ],
      100,
    );
    await service.execute({
      kind: 'conferenceStopRecording',
      tenantId: 't1',
      commandId: 'stop',
      createdAt: '',
      payload: ref,
    });
    await settle();
    assert.equal(directory.items.get('t1/r')!.recording, undefined);
    assert.equal(saved.length, 1);
    const wav = saved[0]!.wav;
    assert.equal(wav.toString('ascii', 0, 4), 'RIFF');
    assert.equal(wav.readUInt32LE(40), wav.length - 44, 'the data size is patched in');
    assert.equal(wav.readUInt32LE(24), 8000);
    const samples = new Int16Array(wav.buffer.slice(wav.byteOffset + 44, wav.byteOffset + wav.length));
    assert.ok(Math.abs(samples.length - 100 * 160) <= 160, `${samples.length} samples, 2 s`);
    const middle = samples.subarray(4000, 14000);
    assert.ok(toneAmplitude(middle, 8000, 500) > 4000 && toneAmplitude(middle, 8000, 1100) > 4000, 'both tones');
    assert.deepEqual(announced, [
      { sessionId: 's-pa', participantId: 'pa', event: 'recordingReady', reason: 'conf-r-1' },
    ]);
    await service.endAll();
  });
});

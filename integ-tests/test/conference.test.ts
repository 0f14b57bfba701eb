import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import { ApiClient } from '../src/api-client.js';
import { toneWav } from '../src/audio.js';
import { Baresip, requireBaresip } from '../src/baresip.js';
import { type LocalStack, startLocalStack } from '../src/local-stack.js';
import { childrenOf } from '../src/processes.js';
import { type CapturedPacket, RtpCapture } from '../src/rtp-capture.js';
import { audioBetween, rmsDbfs, toneDbfs, wavSamples } from '../src/tones.js';
import { type ReceivedCallback, WebhookServer } from '../src/webhook-server.js';

// Conferences end to end (docs/conferences.md): real callers (baresip, each sending a tone of its own
// frequency) call the real local deployment, the IVR puts them into a conference, and what each caller is sent
// is captured on the wire (tcpdump) and measured with Goertzel: each hears the others' tones and not its own;
// mute, deaf, kick and end through REST; interruptivrcommand, endOnExit and maxParticipants; a recorded mix;
// callers on two media nodes (two nodes share the control plane) in one conference through the node-to-node leg,
// the remote one muted and kicked by REST, and the host node killed: hostFailed for the remote one.
// RTP: rtpengine 33200-33599, the phones 33600-33899 (50 ports each).
const RTP_MIN = 33200;
const RTP_MAX = 33599;
const NUMBER = 'conference-line';

requireBaresip();

/** Heard at about the level sent (−10.5 dBFS), allowing for G.711. */
const HEARD_DBFS = -16;
/** Not heard: far below (G.711's quantization noise at one frequency is about −60 dBFS here). */
const SILENT_DBFS = -40;

type Plan = (cb: ReceivedCallback) => unknown;

interface Phone {
  name: string;
  hz: number;
  phone: Baresip;
  ports: [number, number];
  sessionId: string;
  participantId: string;
}

describe('conferences', () => {
  let stack: LocalStack;
  let hook: WebhookServer;
  let api: ApiClient;
  let domain: string;
  const plans = new Map<string, Plan>();
  const waitingPlans: Plan[] = [];
  const phones: Phone[] = [];

  before(async () => {
    stack = await startLocalStack({ rtpPortMin: RTP_MIN, rtpPortMax: RTP_MAX, mediaNodes: 2 });
    assert.equal(stack.sipPorts.length, 2);
    hook = new WebhookServer((cb) => {
      const sessionId = String(cb.body.sessionId);
      if (cb.name === 'newCall') {
        const plan = waitingPlans.shift();
        if (plan) plans.set(sessionId, plan);
        return { body: { action: 'ivr' } };
      }
      if (cb.name !== 'getIvrCommand') return undefined;
      return { body: plans.get(sessionId)?.(cb) ?? { hangup: true } };
    });
    await hook.start();
    api = new ApiClient(stack.apiUrl);
    ({ domain } = await api.signup('Conference Calls'));
    assert.equal((await api.call('PATCH', '/v1/tenant', { callbackUrl: hook.url })).status, 200);
    assert.equal((await api.call('PUT', `/v1/numbers/${NUMBER}`)).status, 201);
  });

  /** Each test's phones are stopped after it, so the next test can use their RTP ports. */
  afterEach(async () => {
    for (const p of phones.splice(0)) await p.phone.stop();
  });

  after(async () => {
    await hook?.close();
    await stack?.stop();
    hook?.assertContract();
  });

  /** The plan of a conference participant: join with `spec`, hang up once it has left (any result). */
  const joinPlan =
    (spec: Record<string, unknown>): Plan =>
    (cb) =>
      cb.body.conferenceResult ? { hangup: true } : { conference: { beep: false, ...spec } };

  /** A phone sending `hz` calls in; the IVR runs `plan`. Resolves once the call is answered and known. */
  async function dialIn(name: string, hz: number, ports: [number, number], plan: Plan, node = 0): Promise<Phone> {
    const phone = new Baresip();
    await phone.start({ sourceWav: toneWav(60_000, hz, 0.3), rtpPorts: ports });
    waitingPlans.push(plan);
    const seen = hook.received.length;
    phone.dial(`sip:${NUMBER}@${stack.sipHost}:${stack.sipPorts[node]}`);
    await phone.waitFor('CALL_ESTABLISHED');
    const newCall = await hook.waitFor('newCall', (cb) => hook.received.indexOf(cb) >= seen);
    const p: Phone = {
      name,
      hz,
      phone,
      ports,
      sessionId: String(newCall.body.sessionId),
      participantId: String(newCall.body.participantId),
    };
    phones.push(p);
    return p;
  }

  const joined = (p: Phone) =>
    hook.waitFor('callNotify', (cb) => cb.body.sessionId === p.sessionId && cb.body.event === 'conferenceJoined');
  /** The getIvrCommand after the participant left: it carries conferenceResult. */
  const resultOf = async (p: Phone) =>
    (
      await hook.waitFor(
        'getIvrCommand',
        (cb) => cb.body.sessionId === p.sessionId && cb.body.conferenceResult !== undefined,
      )
    ).body.conferenceResult as { reason: string; durationMs: number; error?: string };
  const journal = async (p: Phone) =>
    (await api.call('GET', `/v1/sessions/${p.sessionId}`)).json.journal as Record<string, unknown>[];
  const conference = (name: string) => api.call('GET', `/mediaservice/${domain}/conference/${name}`);
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  /**
   * REST commands reach the hosting node through its inbox, and the host writes the state it applied: the
   * conference's GET shows a command once it is in effect. Polled (a loaded machine takes longer than an idle
   * one), up to 10 s.
   */
  async function inEffect(
    name: string,
    what: string,
    check: (byId: Map<string, { muted: boolean; deaf: boolean }>) => boolean,
  ) {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const view = await conference(name);
      const byId = new Map<string, { muted: boolean; deaf: boolean }>(
        (view.json.participants ?? []).map((p: { participantId: string; muted: boolean; deaf: boolean }) => [
          p.participantId,
          p,
        ]),
      );
      if (view.status === 200 && check(byId)) return;
      assert.ok(Date.now() < deadline, `${what} not in effect after 10 s: ${JSON.stringify(view.json)}`);
      await sleep(100);
    }
  }

  /** The tones a phone heard between two wall-clock times (seconds), in dBFS by name. */
  function levels(packets: CapturedPacket[], p: Phone, from: number, to: number, all: Phone[]) {
    const mine = packets.filter((k) => k.dstPort >= p.ports[0] && k.dstPort <= p.ports[1]);
    const audio = audioBetween(mine, from, to);
    assert.ok(audio.length >= 8000, `${p.name}: ${audio.length / 8000} s of audio between ${from} and ${to}`);
    // The stream's shape, for the diagnostics: a second stream to the phone (another source port or SSRC), a
    // frame that is not 20 ms or a long gap would each spread the tones into others' bins.
    const inWindow = mine.filter((k) => k.rtp && k.t >= from && k.t <= to);
    let gap = 0;
    for (let i = 1; i < inWindow.length; i++) gap = Math.max(gap, inWindow[i]!.t - inWindow[i - 1]!.t);
    return {
      rms: rmsDbfs(audio),
      ...Object.fromEntries(all.map((o) => [o.name, toneDbfs(audio, o.hz)])),
      packets: inWindow.length,
      sources: new Set(inWindow.map((k) => `${k.srcPort}/${k.rtp!.ssrc}`)).size,
      odd: inWindow.filter((k) => k.rtp!.payload.length !== 160).length,
      gapMs: gap * 1000,
    } as Record<string, number>;
  }

  function assertHears(heard: Record<string, number>, who: string, names: string[], phase: string) {
    for (const n of names)
      assert.ok(heard[n]! > HEARD_DBFS, `${phase}: ${who} hears ${n} at ${heard[n]!.toFixed(1)} dBFS`);
  }
  function assertNotHears(heard: Record<string, number>, who: string, names: string[], phase: string) {
    for (const n of names)
      assert.ok(heard[n]! < SILENT_DBFS, `${phase}: ${who} does not hear ${n}: ${heard[n]!.toFixed(1)} dBFS`);
  }

  test('three callers hear each other and not themselves; mute, deaf, kick, a recorded mix, GET and end by REST', async (t) => {
    const capture = new RtpCapture(`udp and src portrange ${RTP_MIN}-${RTP_MAX} and dst portrange 33600-33749`);
    await capture.ready();
    const name = 'room-1';
    const a = await dialIn('a', 500, [33600, 33649], joinPlan({ name }));
    await joined(a);
    const b = await dialIn('b', 1100, [33650, 33699], joinPlan({ name }));
    await joined(b);
    const c = await dialIn('c', 1700, [33700, 33749], joinPlan({ name }));
    const cJoined = await joined(c);
    assert.equal(cJoined.body.name, name);
    assert.equal(cJoined.body.count, 3);
    const all = [a, b, c];

    const listed = await conference(name);
    assert.equal(listed.status, 200, JSON.stringify(listed.json));
    assert.equal(listed.json.count, 3);
    assert.deepEqual(
      listed.json.participants.map((p: { participantId: string }) => p.participantId),
      [a.participantId, b.participantId, c.participantId],
    );
    assert.ok(listed.json.participants.every((p: { muted: boolean; deaf: boolean }) => !p.muted && !p.deaf));

    // Phase 1: everyone talks; the mix is recorded, announced to a's session.
    const started = await api.call('POST', `/mediaservice/${domain}/startrecording`, {
      conferenceName: name,
      sessionId: a.sessionId,
      participantId: a.participantId,
    });
    assert.equal(started.status, 200, JSON.stringify(started.json));
    const fileName = String(started.json.fileName);
    const p1 = Date.now() / 1000;
    await sleep(3000);
    const p1end = Date.now() / 1000;
    assert.equal(
      (await api.call('POST', `/mediaservice/${domain}/stoprecording`, { conferenceName: name })).status,
      200,
    );
    const ready = await hook.waitFor(
      'callNotify',
      (cb) => cb.body.sessionId === a.sessionId && cb.body.event === 'recordingReady',
    );
    assert.equal(ready.body.reason, fileName);
    t.diagnostic(
      `recording: started ${p1.toFixed(3)}, stop sent ${p1end.toFixed(3)}, recordingReady ${(ready.at / 1000).toFixed(3)}, ${JSON.stringify(ready.body.recording)}`,
    );

    // Phase 2: a is muted.
    const participant = (p: Phone) => `/mediaservice/${domain}/conference/${name}/participants/${p.participantId}`;
    assert.equal((await api.call('POST', participant(a), { muted: true })).status, 200);
    await inEffect(name, 'a muted', (byId) => byId.get(a.participantId)?.muted === true);
    const p2 = Date.now() / 1000;
    await sleep(2500);
    const p2end = Date.now() / 1000;

    // Phase 3: a unmuted, c deaf.
    assert.equal((await api.call('POST', participant(a), { muted: false })).status, 200);
    assert.equal((await api.call('POST', participant(c), { deaf: true })).status, 200);
    await inEffect(
      name,
      'a unmuted, c deaf',
      (byId) => byId.get(a.participantId)?.muted === false && byId.get(c.participantId)?.deaf === true,
    );
    const p3 = Date.now() / 1000;
    await sleep(2500);
    const p3end = Date.now() / 1000;

    // b is kicked: it stays on the call, and its next getIvrCommand says why.
    assert.equal((await api.call('DELETE', participant(b))).status, 200);
    const kicked = await resultOf(b);
    assert.equal(kicked.reason, 'kicked');
    assert.ok(kicked.durationMs > 8000, `in the conference for ${kicked.durationMs} ms`);
    const left = await hook.waitFor(
      'callNotify',
      (cb) => cb.body.sessionId === b.sessionId && cb.body.event === 'conferenceLeft',
    );
    assert.deepEqual([left.body.name, left.body.count, left.body.reason], [name, 2, 'kicked']);
    const afterKick = await conference(name);
    assert.deepEqual(
      afterKick.json.participants.map((p: { participantId: string }) => p.participantId),
      [a.participantId, c.participantId],
    );
    assert.equal((await api.call('DELETE', participant(b))).status, 404, 'a participant no longer in it');

    // The conference is ended by REST: everyone left gets `ended`.
    assert.equal((await api.call('DELETE', `/mediaservice/${domain}/conference/${name}`)).status, 200);
    assert.equal((await resultOf(a)).reason, 'ended');
    assert.equal((await resultOf(c)).reason, 'ended');
    for (const p of all) await p.phone.waitFor('CALL_CLOSED', 15_000);
    assert.equal((await conference(name)).status, 404, 'an ended conference is not found');
    await capture.stop();
    const packets = capture.packets();

    // What each heard, per phase (a second into each, the jitter buffers and inbox latency settled).
    const phase1 = Object.fromEntries(all.map((p) => [p.name, levels(packets, p, p1 + 0.8, p1end - 0.2, all)]));
    const phase2 = Object.fromEntries(all.map((p) => [p.name, levels(packets, p, p2 + 0.5, p2end - 0.2, all)]));
    const phase3 = Object.fromEntries(all.map((p) => [p.name, levels(packets, p, p3 + 0.5, p3end - 0.2, all)]));
    const fmt = (x: Record<string, number>) =>
      Object.entries(x)
        .map(([k, v]) => `${k} ${v.toFixed(1)}`)
        .join(', ');
    for (const [phase, heard] of Object.entries({ phase1, phase2, phase3 }))
      for (const [who, l] of Object.entries(heard)) t.diagnostic(`${phase} ${who} hears (dBFS): ${fmt(l)}`);
    for (const p of all) {
      const others = all.filter((o) => o !== p).map((o) => o.name);
      assertHears(phase1[p.name]!, p.name, others, 'everyone talks');
      assertNotHears(phase1[p.name]!, p.name, [p.name], 'everyone talks');
    }
    assertNotHears(phase2.b!, 'b', ['a', 'b'], 'a muted');
    assertNotHears(phase2.c!, 'c', ['a', 'c'], 'a muted');
    assertHears(phase2.b!, 'b', ['c'], 'a muted');
    assertHears(phase2.a!, 'a', ['b', 'c'], 'a muted');
    assert.ok(phase3.c!.rms! < -60, `c deaf: hears nothing at all (${phase3.c!.rms!.toFixed(1)} dBFS RMS)`);
    assertHears(phase3.a!, 'a', ['b', 'c'], 'c deaf');
    assertHears(phase3.b!, 'b', ['a', 'c'], 'c deaf');

    // The recorded mix: a prompt file of the tenant with every tone of phase 1.
    const file = await api.call('GET', `/mediaservice/${domain}/promptfile/${fileName}`);
    assert.equal(file.status, 200);
    const { rate, samples } = wavSamples(file.bytes);
    assert.equal(rate, 8000);
    // From the start command's arrival at the host to the stop's: 3 s, give or take the inbox's latency.
    assert.ok(samples.length >= 2.5 * 8000 && samples.length <= 8 * 8000, `${samples.length / 8000} s recorded`);
    const middle = samples.subarray(8000, samples.length - 4000);
    for (const p of all) {
      const l = toneDbfs(middle, p.hz);
      assert.ok(l > HEARD_DBFS, `the recording holds ${p.name}'s tone: ${l.toFixed(1)} dBFS`);
    }

    // The journal tells the story of each participant.
    const events = (j: Record<string, unknown>[]) => j.filter((e) => String(e.event).startsWith('conference'));
    const bJournal = events(await journal(b));
    assert.deepEqual(
      bJournal.map((e) => [e.event, e.reason]),
      [
        ['conferenceJoined', undefined],
        ['conferenceLeft', 'kicked'],
      ],
    );
    const aJournal = events(await journal(a)).map((e) => `${e.event} ${e.muted ?? e.reason}`);
    assert.deepEqual(aJournal.slice(0, 3), [
      'conferenceJoined false',
      'conferenceUpdated true',
      'conferenceUpdated false',
    ]);
    // Written in the same millisecond: the journal's order between these two is not defined.
    assert.deepEqual(aJournal.slice(3).sort(), ['conferenceEnded ended', 'conferenceLeft ended']);
    assert.ok((await journal(a)).some((e) => e.event === 'recordingReady' && e.reason === fileName));
  });

  test('interruptivrcommand takes a participant out; endOnExit ends the conference; maxParticipants refuses one more', async () => {
    const name = 'room-2';
    const host = await dialIn('host', 700, [33750, 33799], joinPlan({ name, endOnExit: true, maxParticipants: 2 }));
    await joined(host);
    const guest = await dialIn('guest', 1300, [33800, 33849], joinPlan({ name }));
    await joined(guest);
    const extra = await dialIn('extra', 1900, [33850, 33899], joinPlan({ name }));
    const refused = await resultOf(extra);
    assert.equal(refused.reason, 'full');
    assert.equal(refused.durationMs, 0);
    assert.equal((await conference(name)).json.maxParticipants, 2);

    // Bad names are refused naming the field; unknown ones are not found.
    const bad = await api.call('GET', `/mediaservice/${domain}/conference/${encodeURIComponent('no spaces!')}`);
    assert.equal(bad.status, 400);
    assert.equal(bad.json.error.field, 'name');
    assert.equal((await conference('nobody-here')).status, 404);
    const update = await api.call('POST', `/mediaservice/${domain}/conference/${name}/participants/p-unknown`, {
      muted: true,
    });
    assert.equal(update.status, 404);
    const empty = await api.call(
      'POST',
      `/mediaservice/${domain}/conference/${name}/participants/${guest.participantId}`,
      {},
    );
    assert.equal(empty.status, 400);
    assert.equal(empty.json.error.field, 'muted');

    const interrupted = await api.call('POST', `/mediaservice/${domain}/interruptivrcommand`, {
      sessionId: host.sessionId,
      participantId: host.participantId,
    });
    assert.equal(interrupted.status, 200);
    assert.equal((await resultOf(host)).reason, 'interrupted');
    assert.equal((await resultOf(guest)).reason, 'endOnExit');
    for (const p of [host, guest, extra]) await p.phone.waitFor('CALL_CLOSED', 15_000);
    assert.equal((await conference(name)).status, 404);
    const refusedEntry = await api.journalEntry(extra.sessionId, (e) => e.event === 'conferenceRefused');
    assert.equal(refusedEntry?.reason, 'full');
  });

  test('callers on two media nodes hear each other through the node-to-node leg; the remote one muted and kicked by REST', async (t) => {
    const capture = new RtpCapture(`udp and src portrange ${RTP_MIN}-${RTP_MAX} and dst portrange 33600-33699`);
    await capture.ready();
    const name = 'room-3';
    const here = await dialIn('here', 600, [33600, 33649], joinPlan({ name }), 0);
    await joined(here);
    const there = await dialIn('there', 1200, [33650, 33699], joinPlan({ name }), 1);
    const thereJoined = await joined(there);
    assert.deepEqual([thereJoined.body.name, thereJoined.body.count], [name, 2], 'to its own session, on node 2');
    const all = [here, there];
    const view = await conference(name);
    assert.deepEqual(
      view.json.participants.map((p: { participantId: string }) => p.participantId),
      [here.participantId, there.participantId],
    );
    const joinedEntry = await api.journalEntry(there.sessionId, (e) => e.event === 'conferenceJoined');
    assert.equal(joinedEntry?.count, 2, "the host's journal entry, in the remote participant's session");

    // Phase 1: both talk across the nodes.
    const p1 = Date.now() / 1000;
    await sleep(3000);
    const p1end = Date.now() / 1000;

    // Phase 2: the remote participant is muted (the command goes to the host, which owns the state).
    const participant = (p: Phone) => `/mediaservice/${domain}/conference/${name}/participants/${p.participantId}`;
    assert.equal((await api.call('POST', participant(there), { muted: true })).status, 200);
    await inEffect(name, 'the remote participant muted', (byId) => byId.get(there.participantId)?.muted === true);
    const p2 = Date.now() / 1000;
    await sleep(2500);
    const p2end = Date.now() / 1000;

    // The remote participant is kicked: its next getIvrCommand (from its own node) says why.
    assert.equal((await api.call('DELETE', participant(there))).status, 200);
    const kicked = await resultOf(there);
    assert.equal(kicked.reason, 'kicked');
    assert.ok(kicked.durationMs > 5000, `in the conference for ${kicked.durationMs} ms`);
    const left = await hook.waitFor(
      'callNotify',
      (cb) => cb.body.sessionId === there.sessionId && cb.body.event === 'conferenceLeft',
    );
    assert.deepEqual([left.body.name, left.body.count, left.body.reason], [name, 1, 'kicked']);
    const afterKick = await conference(name);
    assert.deepEqual(
      afterKick.json.participants.map((p: { participantId: string }) => p.participantId),
      [here.participantId],
    );
    await api.call('POST', `/mediaservice/${domain}/interruptivrcommand`, {
      sessionId: here.sessionId,
      participantId: here.participantId,
    });
    assert.equal((await resultOf(here)).reason, 'interrupted');
    for (const p of all) await p.phone.waitFor('CALL_CLOSED', 15_000);
    assert.equal((await conference(name)).status, 404, 'the last one left: the conference is gone');
    await capture.stop();
    const packets = capture.packets();

    const phase1 = Object.fromEntries(all.map((p) => [p.name, levels(packets, p, p1 + 0.8, p1end - 0.2, all)]));
    const phase2 = Object.fromEntries(all.map((p) => [p.name, levels(packets, p, p2 + 0.5, p2end - 0.2, all)]));
    for (const [phase, heard] of Object.entries({ phase1, phase2 })) {
      for (const [who, h] of Object.entries(heard)) {
        const line = Object.entries(h)
          .map(([k, v]) => `${k} ${v.toFixed(1)}`)
          .join(', ');
        t.diagnostic(`${phase} ${who} hears (dBFS): ${line}`);
      }
    }
    assertHears(phase1.here!, 'here', ['there'], 'phase 1');
    assertNotHears(phase1.here!, 'here', ['here'], 'phase 1');
    assertHears(phase1.there!, 'there', ['here'], 'phase 1');
    assertNotHears(phase1.there!, 'there', ['there'], 'phase 1');
    assertNotHears(phase2.here!, 'here', ['there', 'here'], 'phase 2 (there muted)');
    assertHears(phase2.there!, 'there', ['here'], 'phase 2 (there muted)');
  });

  // Last: it kills a media node of the shared stack.
  test('the host node killed (kill -9): the participant on the other node gets hostFailed', async (t) => {
    const name = 'room-4';
    const here = await dialIn('here', 600, [33600, 33649], joinPlan({ name }), 0);
    await joined(here);
    const there = await dialIn('there', 1200, [33650, 33699], joinPlan({ name }), 1);
    await joined(there);
    await sleep(1000);
    const host = mediaNodePid('node-1');
    process.kill(host, 'SIGKILL');
    const killedAt = Date.now();
    const failed = await resultOf(there);
    assert.equal(failed.reason, 'hostFailed');
    assert.match(failed.error ?? '', /media node \S+/);
    assert.ok(failed.durationMs > 1000);
    const detectedMs = Date.now() - killedAt;
    t.diagnostic(`hostFailed reached the webhook ${detectedMs} ms after the kill`);
    assert.ok(detectedMs < 10_000, `hostFailed within 10 s of the kill (${detectedMs} ms)`);
    const entry = await api.journalEntry(there.sessionId, (e) => e.event === 'conferenceLeft');
    assert.equal(entry?.reason, 'hostFailed');
    await there.phone.waitFor('CALL_CLOSED', 15_000);
  });

  /** The process of the media node whose run directory is `run/<node>` (the stack runs one per node). */
  function mediaNodePid(node: string): number {
    const runDir = `RUN_DIR=${join(stack.dataDir, 'run', node)}`;
    const found = childrenOf(stack.process.pid!).find(
      (c) =>
        c.cmdline.includes('media-node/main.mjs') &&
        readFileSync(`/proc/${c.pid}/environ`, 'utf8').split('\0').includes(runDir),
    );
    assert.ok(found, `the process of media node ${node}`);
    return found.pid;
  }
});

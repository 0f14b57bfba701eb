import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { after, describe, test } from 'node:test';
import type { ConferenceAdmitPayload, ConferenceNodeCommand } from '@sipms/shared/contracts/node-commands';
import { decodeUlaw, encodeUlaw } from '../../src/audio/index.js';
import { ConferenceRelay, type RelayAddress, RelayLegs } from '../../src/conference/conference-relay.js';
import { ConferenceService } from '../../src/conference/conference-service.js';
import {
  decodeRelayPacket,
  encodeAudio,
  encodeControl,
  newLegToken,
  RELAY_HEADER_BYTES,
  type RelayPacket,
} from '../../src/conference/relay-packet.js';
import type { ConferenceHosts } from '../../src/ports/conferences.js';
import { tone, toneAmplitude } from '../audio/signal.js';
import { RecordingLogger } from '../kit/logger.js';
import { Caller, MemoryDirectory } from './fakes.js';
import { ManualClock } from './manual-clock.js';

// Node-to-node conference legs (docs/conferences.md, "Across nodes"). The packet codec and the relay's admission
// checks alone; then two conference services, each with its real relay socket on 127.0.0.1, the real room, mix
// and jitter buffers, with fakes for the table (MemoryDirectory), the registry and inboxes (FakeHosts: an admit
// command is handed straight to the host's service), the callers (Caller) and the host's clock (ManualClock).

describe('relay packets', () => {
  const token = newLegToken();

  test('audio and control round-trip', () => {
    const frame = Uint8Array.from({ length: 160 }, (_, i) => i);
    const audio = decodeRelayPacket(encodeAudio(token, 65535, 0xfffffff0, 'pcma', frame));
    assert.ok(typeof audio !== 'string' && audio.kind === 'audio');
    assert.deepEqual(
      { token: audio.token, seq: audio.seq, timestamp: audio.timestamp, codec: audio.codec },
      { token, seq: 65535, timestamp: 0xfffffff0, codec: 'pcma' },
    );
    assert.deepEqual([...audio.payload], [...frame]);
    const control = decodeRelayPacket(encodeControl(token, 7, { leave: 'hangup' }));
    assert.ok(typeof control !== 'string' && control.kind === 'control');
    assert.deepEqual(control.message, { leave: 'hangup' });
    assert.equal(control.seq, 7);
  });

  test('anything else is not a relay packet (and never throws)', () => {
    const good = encodeAudio(token, 1, 160, 'pcmu', new Uint8Array(160));
    const withVersion = Buffer.from(good);
    withVersion[0] = 2;
    const withType = Buffer.from(good);
    withType[1] = 9;
    const control = (body: string) => {
      const b = Buffer.from(encodeControl(token, 1, { x: 1 }).subarray(0, RELAY_HEADER_BYTES));
      return Buffer.concat([b, Buffer.from(body)]);
    };
    const bad: [string, Buffer][] = [
      ['empty', Buffer.alloc(0)],
      ['a header only, audio', good.subarray(0, RELAY_HEADER_BYTES)],
      ['short header', good.subarray(0, 10)],
      ['another version', withVersion],
      ['another type', withType],
      ['audio beyond 60 ms', Buffer.concat([good, Buffer.alloc(400)])],
      ['control not JSON', control('{nope')],
      ['control an array', control('[1,2]')],
      ['control null', control('null')],
      ['control too big', control(JSON.stringify({ x: 'y'.repeat(1300) }))],
    ];
    for (const [what, data] of bad) assert.equal(typeof decodeRelayPacket(data), 'string', what);
    assert.throws(() => encodeAudio('not-a-token', 1, 1, 'pcmu', new Uint8Array(160)), RangeError);
    assert.throws(() => encodeAudio(token, 1, 1, 'pcmu', new Uint8Array(0)), RangeError);
    assert.throws(() => encodeControl(token, 1, { x: 'y'.repeat(1300) }), RangeError);
  });
});

describe('relay admission', () => {
  const peer = { host: '10.0.0.2', port: 40000 };
  const frame = (t: string) => encodeAudio(t, 1, 160, 'pcmu', new Uint8Array(160));

  test('a frame for an admitted leg from its address is delivered; a wrong token or address is dropped and counted', () => {
    const legs = new RelayLegs();
    const token = newLegToken();
    const got: unknown[] = [];
    legs.add(token, { peer, onPacket: (p) => got.push(p) });
    assert.equal(legs.deliver(frame(token), peer), true);
    assert.equal(legs.deliver(frame(newLegToken()), peer), false, 'a token never admitted');
    assert.equal(legs.deliver(frame(token), { host: '10.0.0.3', port: 40000 }), false, 'another host');
    assert.equal(legs.deliver(frame(token), { host: '10.0.0.2', port: 40001 }), false, 'another port');
    assert.equal(legs.deliver(Buffer.from('hello'), peer), false, 'not a relay packet');
    assert.equal(legs.deliver(frame(token), { host: '::ffff:10.0.0.2', port: 40000 }), true, 'IPv4-mapped');
    assert.equal(got.length, 2);
    assert.deepEqual(legs.drops, { malformed: 1, unknownLeg: 1, wrongAddress: 2 });
    assert.equal(legs.add(token, { peer, onPacket: () => undefined }), false, 'a token in use is refused');
    legs.remove(token);
    assert.equal(legs.deliver(frame(token), peer), false, 'a removed leg');
    assert.equal(legs.drops.unknownLeg, 2);
  });
});

/** The registry and the inboxes of two nodes, as a Map (a fake). */
class FakeHosts implements ConferenceHosts {
  readonly relays = new Map<string, RelayAddress>();
  readonly live = new Set<string>();
  readonly services = new Map<string, ConferenceService>();
  readonly admits: ConferenceAdmitPayload[] = [];
  /** Rewrites an admission before delivery (a test forges one). */
  tamper: ((p: ConferenceAdmitPayload) => ConferenceAdmitPayload) | undefined;

  async relayOf(nodeId: string) {
    return this.live.has(nodeId) ? this.relays.get(nodeId) : undefined;
  }

  async alive(nodeId: string) {
    return this.live.has(nodeId);
  }

  async admit(hostNodeId: string, tenantId: string, payload: ConferenceAdmitPayload) {
    this.admits.push(payload);
    const command: ConferenceNodeCommand = {
      kind: 'conferenceAdmit',
      commandId: `c${this.admits.length}`,
      tenantId,
      createdAt: new Date().toISOString(),
      payload: this.tamper ? this.tamper(payload) : payload,
    };
    const host = this.services.get(hostNodeId);
    if (host && this.live.has(hostNodeId)) void host.execute(command);
  }
}

const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(what: string, check: () => boolean, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await wait(5);
  }
}

describe('a conference across two nodes (real relay sockets)', () => {
  const open: ConferenceRelay[] = [];
  after(async () => {
    for (const r of open) await r.close();
  });

  async function twoNodes(
    timings = { admitMs: 2000, hostSilenceMs: 400, hostCheckMs: 200, leaveMs: 500, keepaliveMs: 100 },
    legSilenceMs?: number,
  ) {
    const directory = new MemoryDirectory();
    const hosts = new FakeHosts();
    const clock = new ManualClock();
    const logger = new RecordingLogger();
    const make = async (nodeId: string, withClock: boolean) => {
      const relay = await ConferenceRelay.open('127.0.0.1', 0, logger);
      open.push(relay);
      directory.liveNodes.add(nodeId);
      hosts.live.add(nodeId);
      hosts.relays.set(nodeId, relay.address);
      const service = new ConferenceService({
        nodeId,
        directory,
        maxParticipants: 100,
        logger,
        ...(withClock ? { clock } : {}),
        recordings: {
          start: () => Promise.reject(new Error('no recordings here')),
          save: async () => undefined,
        },
        announce: () => undefined,
        remote: { relay, hosts, timings, ...(legSilenceMs ? { legSilenceMs } : {}) },
      });
      hosts.services.set(nodeId, service);
      return { relay, service };
    };
    const a = await make('node-a', true);
    const b = await make('node-b', false);
    return { directory, hosts, clock, logger, a, b };
  }

  /** Every caller speaks a frame of its tone; the UDP frames arrive; the host ticks. */
  async function talk(clock: ManualClock, callers: [Caller, number][], ticks: number): Promise<void> {
    for (let t = 0; t < ticks; t++) {
      for (const [c, hz] of callers) {
        const phase = (2 * Math.PI * hz * t * 160) / 8000;
        c.tap.speak(encodeUlaw(tone(8000, hz, 6000, 160, phase)));
      }
      await wait(3);
      clock.advance(20);
    }
    await wait(20);
  }

  const heard = (c: Caller, hz: number, frames = 20) =>
    toneAmplitude(decodeUlaw(Buffer.concat(c.tap.sent.slice(-frames))), 8000, hz);

  test('a caller on the other node joins through the relay: each hears the other, not itself; mute and kick by the host', async () => {
    const { directory, hosts, clock, a, b } = await twoNodes();
    const local = new Caller('pa');
    const remote = new Caller('pb');
    void local.join(a.service, { name: 'room' });
    await until('the host conference', () => a.service.room('t1', 'room')?.count === 1);
    void remote.join(b.service, { name: 'room' });
    await until('the remote join', () => remote.notified.length === 1);
    assert.deepEqual(remote.notified[0], { event: 'conferenceJoined', name: 'room', count: 2 });
    assert.equal(remote.events('conferenceJoined')[0]!.count, 2, "the host's journal entry, in the remote session");
    assert.equal(a.service.room('t1', 'room')!.count, 2);
    await until('the member written', () => directory.items.get('t1/room')?.participants.pb !== undefined);
    assert.equal(directory.items.get('t1/room')!.participants.pb!.nodeId, 'node-b');
    assert.equal(b.service.active, 0, 'node-b hosts nothing');

    await talk(
      clock,
      [
        [local, 500],
        [remote, 1100],
      ],
      40,
    );
    assert.ok(heard(local, 1100) > 4000, `the local caller hears the remote one (${heard(local, 1100).toFixed(0)})`);
    assert.ok(heard(local, 500) < 200, 'and not itself');
    assert.ok(heard(remote, 500) > 4000, `the remote caller hears the local one (${heard(remote, 500).toFixed(0)})`);
    assert.ok(heard(remote, 1100) < 200, `and not itself (${heard(remote, 1100).toFixed(0)})`);

    // A frame with the remote leg's token from another socket is dropped at the host.
    const token = hosts.admits[0]!.token;
    const forger = createSocket('udp4');
    const before = a.relay.legs.drops.wrongAddress;
    await new Promise<void>((r) =>
      forger.send(encodeAudio(token, 9, 9, 'pcmu', new Uint8Array(160)), a.relay.address.port, '127.0.0.1', () => r()),
    );
    await until('the forged frame dropped', () => a.relay.legs.drops.wrongAddress === before + 1);
    forger.close();

    // Mute of the remote participant by a REST command at the host.
    await a.service.execute({
      kind: 'conferenceUpdate',
      commandId: 'u1',
      tenantId: 't1',
      createdAt: '',
      payload: {
        name: 'room',
        conferenceId: directory.items.get('t1/room')!.conferenceId,
        participantId: 'pb',
        muted: true,
      },
    });
    await talk(
      clock,
      [
        [local, 500],
        [remote, 1100],
      ],
      30,
    );
    assert.ok(heard(local, 1100) < 200, 'muted: the local caller no longer hears it');
    await until('the update journaled', () => remote.events('conferenceUpdated').length === 1);
    assert.equal(remote.events('conferenceUpdated')[0]!.muted, true);

    await a.service.execute({
      kind: 'conferenceKick',
      commandId: 'k1',
      tenantId: 't1',
      createdAt: '',
      payload: { name: 'room', conferenceId: directory.items.get('t1/room')!.conferenceId, participantId: 'pb' },
    });
    const result = await remote.result!;
    assert.equal(result.reason, 'kicked');
    assert.ok(result.durationMs > 0);
    assert.deepEqual(remote.notified.at(-1), { event: 'conferenceLeft', name: 'room', count: 1, reason: 'kicked' });
    assert.ok(remote.tap.closed);
    assert.equal(b.relay.legs.size, 0);
    assert.equal(a.relay.legs.size, 0);
    assert.equal(a.service.room('t1', 'room')!.count, 1);
    local.interrupt.abort();
    await local.result;
  });

  test('a remote caller that hangs up leaves the host conference', async () => {
    const { clock, a, b } = await twoNodes();
    const local = new Caller('pa');
    const remote = new Caller('pb');
    void local.join(a.service, { name: 'r2' });
    await until('the host conference', () => a.service.room('t1', 'r2')?.count === 1);
    void remote.join(b.service, { name: 'r2' });
    await until('the remote join', () => remote.notified.length === 1);
    await talk(clock, [[remote, 1100]], 5);
    remote.hangup.abort();
    await remote.result;
    assert.equal(remote.events('conferenceLeft')[0]!.reason, 'hangup', "the host's entry, in the remote session");
    assert.equal(a.service.room('t1', 'r2')!.count, 1);
    local.interrupt.abort();
    await local.result;
  });

  test('the host stops sending the mix: the remote caller gets hostFailed', async () => {
    const { clock, a, b } = await twoNodes({
      admitMs: 2000,
      hostSilenceMs: 400,
      hostCheckMs: 60_000,
      leaveMs: 500,
      keepaliveMs: 100,
    });
    const local = new Caller('pa');
    const remote = new Caller('pb');
    void local.join(a.service, { name: 'r3' });
    await until('the host conference', () => a.service.room('t1', 'r3')?.count === 1);
    void remote.join(b.service, { name: 'r3' });
    await until('the remote join', () => remote.notified.length === 1);
    await talk(clock, [[remote, 1100]], 5);
    // The host's clock stops (as when its process is killed): no more mix; its heartbeat is still fresh.
    const result = await remote.result!;
    assert.equal(result.reason, 'hostFailed');
    assert.match(result.error!, /nothing from media node node-a for 400 ms/);
    assert.equal(remote.notified.at(-1)!.reason, 'hostFailed');
    assert.equal(remote.events('conferenceLeft').at(-1)!.reason, 'hostFailed');
    assert.equal(b.relay.legs.size, 0);
    local.interrupt.abort();
    await local.result;
  });

  test("the host's heartbeat goes stale: the remote caller gets hostFailed", async () => {
    const { hosts, clock, a, b } = await twoNodes({
      admitMs: 2000,
      hostSilenceMs: 60_000,
      hostCheckMs: 100,
      leaveMs: 500,
      keepaliveMs: 100,
    });
    const local = new Caller('pa');
    const remote = new Caller('pb');
    void local.join(a.service, { name: 'r5' });
    await until('the host conference', () => a.service.room('t1', 'r5')?.count === 1);
    void remote.join(b.service, { name: 'r5' });
    await until('the remote join', () => remote.notified.length === 1);
    await talk(clock, [[remote, 1100]], 3);
    hosts.live.delete('node-a');
    const result = await remote.result!;
    assert.equal(result.reason, 'hostFailed');
    assert.match(result.error!, /media node node-a's heartbeat is stale/);
    assert.ok(result.durationMs > 0);
    local.interrupt.abort();
    await local.result;
  });

  test('an admission naming another relay address than the node advertises is ignored', async () => {
    const { hosts, a, b } = await twoNodes({
      admitMs: 300,
      hostSilenceMs: 400,
      hostCheckMs: 5000,
      leaveMs: 500,
      keepaliveMs: 100,
    });
    hosts.tamper = (p) => ({ ...p, relay: { host: '127.0.0.1', port: 9 } });
    const local = new Caller('pa');
    void local.join(a.service, { name: 'r4' });
    await until('the host conference', () => a.service.room('t1', 'r4')?.count === 1);
    const remote = new Caller('pb');
    const result = await remote.join(b.service, { name: 'r4' });
    assert.equal(result.reason, 'hostFailed', 'never admitted');
    assert.equal(remote.tapOpened, false);
    assert.equal(a.service.room('t1', 'r4')!.count, 1);
    assert.equal(a.relay.legs.size, 0);
    local.interrupt.abort();
    await local.result;
  });

  test('the host answers an admission only at the admitted address, and removes a leg that goes silent', async () => {
    const { directory, hosts, clock, a } = await twoNodes(undefined, 300);
    const local = new Caller('pa');
    void local.join(a.service, { name: 'r6' });
    await until('the host conference', () => a.service.room('t1', 'r6')?.count === 1);
    // The participant's node is played by a bare UDP socket speaking the relay protocol.
    const raw = createSocket('udp4');
    await new Promise<void>((r) => raw.bind(0, '127.0.0.1', () => r()));
    const rawAddress = { host: '127.0.0.1', port: raw.address().port };
    hosts.live.add('node-raw');
    hosts.relays.set('node-raw', rawAddress);
    const got: RelayPacket[] = [];
    raw.on('message', (d) => {
      const p = decodeRelayPacket(d);
      if (typeof p !== 'string') got.push(p);
    });
    const token = newLegToken();
    const admit = (name: string, conferenceId: string, t = token) =>
      a.service.execute({
        kind: 'conferenceAdmit',
        commandId: `a-${name}`,
        tenantId: 't1',
        createdAt: '',
        payload: {
          name,
          conferenceId,
          participantId: 'pr',
          sessionId: 's-pr',
          nodeId: 'node-raw',
          token: t,
          relay: rawAddress,
          codec: 'pcmu',
          muted: false,
          deaf: false,
          beep: false,
          endOnExit: false,
        },
      });
    const controls = () => got.flatMap((p) => (p.kind === 'control' ? [p.message] : []));

    // A conference not hosted here: `gone`, under the leg's token.
    const other = newLegToken();
    await admit('nowhere', 'cf-x', other);
    await until('gone', () => controls().some((m) => m.refused === 'gone'));
    assert.equal(got.at(-1)!.token, other);

    await admit('r6', directory.items.get('t1/r6')!.conferenceId);
    await until('the remote participant in', () => a.service.room('t1', 'r6')?.count === 2);
    await until('conferenceJoined', () => controls().some((m) => m.notify === 'conferenceJoined'));
    await until('the member written', () => directory.items.get('t1/r6')?.participants.pr !== undefined);
    assert.equal(directory.items.get('t1/r6')!.participants.pr!.nodeId, 'node-raw', "the item names the call's node");
    await new Promise<void>((r) =>
      raw.send(
        encodeAudio(token, 1, 160, 'pcmu', new Uint8Array(160).fill(0xff)),
        a.relay.address.port,
        '127.0.0.1',
        () => r(),
      ),
    );
    for (let i = 0; i < 5; i++) clock.advance(20);
    await until('mix frames', () => got.filter((p) => p.kind === 'audio' && p.token === token).length >= 5);
    // Then nothing more from it: removed as a hang-up once silent for 300 ms.
    await until('the silent leg removed', () => a.service.room('t1', 'r6')?.count === 1, 3000);
    await until('the result', () => controls().some((m) => m.result !== undefined));
    assert.equal((controls().find((m) => m.result) as { result: { reason: string } }).result.reason, 'interrupted');
    const leftEntry = controls().find((m) => (m.journal as { event?: string } | undefined)?.event === 'conferenceLeft');
    assert.equal((leftEntry!.journal as { reason: string }).reason, 'hangup');
    assert.equal(a.relay.legs.size, 0);
    raw.close();
    local.interrupt.abort();
    await local.result;
  });
});

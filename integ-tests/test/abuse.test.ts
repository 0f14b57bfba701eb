import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ApiClient } from '../src/api-client.js';
import { toneWav } from '../src/audio.js';
import { type LocalStack, startLocalStack } from '../src/local-stack.js';
import { freeSippMediaPort } from '../src/ports.js';
import { RtpCapture } from '../src/rtp-capture.js';
import { renderScenario, runSipp, type SippResult, scenario } from '../src/sipp.js';
import { type ReceivedCallback, WebhookServer } from '../src/webhook-server.js';

// The abuse suite: tenant A attacks through the real surface (SIP, REST, webhook replies) while tenant B's
// bystander call plays a long prompt on the same deployment (two media nodes). Each attack must be refused
// with a clear error or journal entry, and B's caller must keep ≥ 99.5 % of its packets throughout.
// docs/security.md maps each threat to its defence and to the test here (or the unit test) that shows it.

const RTP = { min: 37600, max: 37999 };
const NUMBER_A = '+4940666001';
const NUMBER_B = '+4940666002';
const BYSTANDER_MS = 45_000;
const LIMIT = 5;

/** Unique Call-IDs of the INVITEs SIPp saw answered with `status`. */
function answeredWith(run: SippResult, status: number): Set<string> {
  const ids = new Set<string>();
  for (const block of run.messages.split(/\n(?=-{5,})/)) {
    if (!new RegExp(`^SIP/2\\.0 ${status} `, 'm').test(block) || !/^CSeq:\s*1 INVITE/im.test(block)) continue;
    const id = /^Call-ID:\s*(\S+)/im.exec(block)?.[1];
    if (id) ids.add(id);
  }
  return ids;
}

describe('abuse: one tenant cannot hurt another', () => {
  let stack: LocalStack;
  let hookA: WebhookServer;
  let hookB: WebhookServer;
  let a: ApiClient;
  let b: ApiClient;
  let bystander: { run: Promise<SippResult>; capture: RtpCapture; started: number };
  /** What tenant A's webhook answers to newCall (each attack sets it). */
  let newCallReply: (cb: ReceivedCallback) => unknown = () => ({ action: 'ivr' });
  /** What tenant A's webhook answers to getIvrCommand: by default, hold for a moment, then hang up. */
  const holdThenHangUp = { phrases: [{ format: 'silence', durationMs: 4000 }], hangup: true };
  let ivrReply: (cb: ReceivedCallback) => unknown = () => holdThenHangUp;

  before(async () => {
    stack = await startLocalStack({
      rtpPortMin: RTP.min,
      rtpPortMax: RTP.max,
      mediaNodes: 2,
      env: {
        TENANT_MAX_CONCURRENT_CALLS: String(LIMIT),
        TENANT_CALLS_PER_SECOND: '1000',
        // The operator allows German numbers and one SIP domain: anything else is toll fraud waiting to happen.
        OUTBOUND_DESTINATIONS: '+49,example.com',
      },
    });
    hookA = new WebhookServer((cb) => {
      if (cb.name === 'newCall') return { body: newCallReply(cb) };
      if (cb.name === 'getIvrCommand') return { body: ivrReply(cb) };
      return undefined;
    });
    hookB = new WebhookServer((cb) => {
      if (cb.name === 'newCall') return { body: { action: 'ivr' } };
      if (cb.name === 'getIvrCommand')
        return { body: { phrases: [{ format: 'file', fileName: 'long' }], hangup: true } };
      return undefined;
    });
    await hookA.start();
    await hookB.start();
    a = new ApiClient(stack.apiUrl);
    b = new ApiClient(stack.apiUrl);
    await a.signup('Attacker');
    const { domain: domainB } = await b.signup('Bystander');
    for (const [api, hook, number] of [
      [a, hookA, NUMBER_A],
      [b, hookB, NUMBER_B],
    ] as const) {
      assert.equal((await api.call('PATCH', '/v1/tenant', { callbackUrl: hook.url })).status, 200);
      assert.equal((await api.call('PUT', `/v1/numbers/${encodeURIComponent(number)}`)).status, 201);
    }
    const up = await b.call('PUT', `/mediaservice/${domainB}/promptfile/long`, toneWav(BYSTANDER_MS));
    assert.equal(up.status, 200);

    // The bystander: B's caller on node 1, hearing a long prompt while the attacks run.
    const mediaPort = await freeSippMediaPort();
    // The caller waits for the service's BYE at the prompt's end: longer than the scenario's usual 20 s.
    const xml = join(await mkdtemp(join(tmpdir(), 'abuse-')), 'uac-until-bye.xml');
    await writeFile(
      xml,
      (await readFile(scenario('uac-until-bye.xml'), 'utf8')).replace(
        'timeout="20000"',
        `timeout="${BYSTANDER_MS + 20_000}"`,
      ),
    );
    const capture = new RtpCapture(`udp and src portrange ${RTP.min}-${RTP.max} and dst port ${mediaPort}`);
    await capture.ready();
    const run = runSipp(
      [
        '-sf',
        xml,
        '-s',
        NUMBER_B,
        '-m',
        '1',
        '-mp',
        String(mediaPort),
        '-timeout',
        `${BYSTANDER_MS / 1000 + 30}s`,
        `${stack.sipHost}:${stack.sipPorts[0]}`,
      ],
      { timeoutMs: BYSTANDER_MS + 40_000 },
    );
    await hookB.waitFor('getIvrCommand');
    bystander = { run, capture, started: Date.now() };
  });

  after(async () => {
    await hookA?.close();
    await hookB?.close();
    await stack?.stop();
    hookA?.assertContract();
    hookB?.assertContract();
  });

  /** One INVITE from A's caller that must end in `status`. */
  async function inviteA(status: number, node = 0): Promise<SippResult> {
    const xml = await renderScenario('uac-expect-status.xml', { status });
    return runSipp([
      '-sf',
      xml,
      '-s',
      NUMBER_A,
      '-m',
      '1',
      '-timeout',
      '20s',
      `${stack.sipHost}:${stack.sipPorts[node]}`,
    ]);
  }

  /** One caller of A's number that is answered and waits for the service's BYE. */
  async function answeredCallerA(): Promise<SippResult> {
    const mediaPort = await freeSippMediaPort();
    return runSipp([
      '-sf',
      scenario('uac-until-bye.xml'),
      '-s',
      NUMBER_A,
      '-m',
      '1',
      '-mp',
      String(mediaPort),
      '-timeout',
      '20s',
      `${stack.sipHost}:${stack.sipPorts[0]}`,
    ]);
  }

  test('SIP injection through a newCall reply: no header or message reaches the caller; 480 and the journal names the field', async () => {
    const attacks = [
      { action: 'drop', sipStatus: 486, reason: 'Busy\r\nX-Injected: yes\r\nContent-Length: 0\r\n\r\nSIP/2.0 200 OK' },
      { action: 'redirect', contact: 'sip:x@example.com>\r\nX-Injected: yes' },
      { action: 'call', destination: 'sip:bob@example.com', headers: { Via: 'SIP/2.0/UDP evil.example.com' } },
      { action: 'call', destination: 'sip:bob@example.com', headers: { 'X-Ok': 'v\r\nX-Injected: yes' } },
    ];
    try {
      for (const reply of attacks) {
        hookA.received.length = 0;
        newCallReply = () => reply;
        const run = await inviteA(480);
        assert.equal(run.code, 0, `${JSON.stringify(reply)}: ${run.errors}`);
        assert.doesNotMatch(run.messages, /X-Injected/i);
        assert.doesNotMatch(run.messages, /^SIP\/2\.0 (200|486|302)/m);
        const { sessionId } = (await hookA.waitFor('newCall')).body as { sessionId: string };
        const entry = await a.journalEntry(sessionId, (e) => e.kind === 'callback' && e.callback === 'newCall');
        assert.match(String(entry?.reason), /(reason|contact|headers)/, JSON.stringify(entry));
      }
    } finally {
      newCallReply = () => ({ action: 'ivr' });
    }
  });

  test("caller-id spoofing: another customer's number as callerId is refused (480, journaled with the field)", async () => {
    hookA.received.length = 0;
    newCallReply = () => ({ action: 'call', destination: 'sip:bob@example.com', callerId: NUMBER_B });
    try {
      const run = await inviteA(480);
      assert.equal(run.code, 0, run.errors);
      const { sessionId } = (await hookA.waitFor('newCall')).body as { sessionId: string };
      const entry = await a.journalEntry(sessionId, (e) => e.field === 'callerId');
      assert.match(String(entry?.reason), /not one of the tenant's numbers/);
    } finally {
      newCallReply = () => ({ action: 'ivr' });
    }
  });

  test(`a burst of 50 INVITEs 1 ms apart against a limit of ${LIMIT}: exactly ${LIMIT} admitted, on one node and across two`, async () => {
    for (const nodes of [[0], [0, 1]]) {
      hookA.received.length = 0;
      const per = 50 / nodes.length;
      const runs = await Promise.all(
        nodes.map(async (node) =>
          runSipp(
            [
              '-sf',
              scenario('uac-until-bye.xml'),
              '-s',
              NUMBER_A,
              '-m',
              String(per),
              '-l',
              String(per),
              '-r',
              '1',
              '-rp',
              '1',
              '-mp',
              String(await freeSippMediaPort()),
              '-timeout',
              '30s',
              `${stack.sipHost}:${stack.sipPorts[node]}`,
            ],
            { timeoutMs: 40_000 },
          ),
        ),
      );
      const ok = runs.reduce((n, r) => n + answeredWith(r, 200).size, 0);
      const refused = runs.reduce((n, r) => n + answeredWith(r, 503).size, 0);
      assert.equal(ok, LIMIT, `answered on nodes ${nodes.join('+')}`);
      assert.equal(ok + refused, 50, 'every other INVITE got 503');
      assert.match(runs.map((r) => r.messages).join('\n'), /at most 5 simultaneous calls/);
      assert.equal(hookA.named('newCall').length, LIMIT, 'refused calls reach no webhook');
      // The admitted calls end; their slots come back.
      await hookA.waitFor('sessionCompleted', () => hookA.named('sessionCompleted').length >= LIMIT, 20_000);
    }
  });

  test('prototype keys as ids (constructor, __proto__, toString) are unknown participants and connections: 404', async () => {
    const { sessionId } = (hookA.named('newCall')[0] ?? (await hookA.waitFor('newCall'))).body as { sessionId: string };
    const domain = (await a.call('GET', '/v1/tenant')).json.domain as string;
    for (const id of ['constructor', '__proto__', 'toString', 'hasOwnProperty']) {
      const hang = await a.call('POST', `/mediaservice/${domain}/hangupparticipant`, { sessionId, participantId: id });
      assert.equal(hang.status, 404, `participant ${id}: ${JSON.stringify(hang.json)}`);
      const split = await a.call('POST', `/mediaservice/${domain}/splitconnection`, { sessionId, connectionId: id });
      assert.equal(split.status, 404, `connection ${id}: ${JSON.stringify(split.json)}`);
    }
  });

  test('toll fraud: a destination outside the operator allow-list is refused (REST 403, newCall reply 480 journaled)', async () => {
    const domain = (await a.call('GET', '/v1/tenant')).json.domain as string;
    const placed = await a.call('POST', `/mediaservice/${domain}/placeivrcall`, { destination: '+19005550100' });
    assert.equal(placed.status, 403);
    assert.equal(placed.json.error.code, 'destination_not_allowed');
    hookA.received.length = 0;
    newCallReply = () => ({ action: 'call', destination: 'sip:premium@carrier.example.net' });
    try {
      const run = await inviteA(480);
      assert.equal(run.code, 0, run.errors);
      const { sessionId } = (await hookA.waitFor('newCall')).body as { sessionId: string };
      const entry = await a.journalEntry(sessionId, (e) => e.field === 'destination');
      assert.match(String(entry?.reason), /not allowed/);
    } finally {
      // The later tests answer into the IVR, whatever happened here.
      newCallReply = () => ({ action: 'ivr' });
    }
  });

  test('SSRF through a url phrase: internal addresses are skipped, the reason names the policy only', async () => {
    hookA.received.length = 0;
    let asked = 0;
    ivrReply = () =>
      asked++ === 0
        ? {
            phrases: [
              { format: 'url', url: 'http://169.254.169.254/latest/meta-data/iam' },
              { format: 'url', url: 'http://[::ffff:a9fe:a9fe]/x.wav' },
            ],
          }
        : { phrases: [], hangup: true };
    // The caller is answered, both phrases are skipped, then the service hangs up.
    const run = await answeredCallerA();
    assert.equal(run.code, 0, run.errors);
    const { sessionId } = (await hookA.waitFor('newCall', (c) => c.body.to !== undefined)).body as {
      sessionId: string;
    };
    await hookA.waitFor('sessionCompleted', (c) => c.body.sessionId === sessionId);
    const failures = hookA
      .named('callNotify')
      .filter((c) => c.body.sessionId === sessionId && c.body.event === 'ivrFailed');
    assert.equal(failures.length, 2, JSON.stringify(hookA.named('callNotify').map((c) => c.body)));
    for (const f of failures) {
      assert.match(String(f.body.reason), /address not allowed by the outbound address policy/);
      assert.doesNotMatch(String(f.body.reason), /HTTP \d|status/i, 'no status of an internal service');
    }
    ivrReply = () => holdThenHangUp;
  });

  test('a webhook answering getIvrCommand with an empty body gets one callback, not a hot loop (no action until a live command)', async () => {
    hookA.received.length = 0;
    ivrReply = () => '';
    const caller = answeredCallerA();
    const first = await hookA.waitFor('getIvrCommand');
    const { sessionId, participantId } = first.body as { sessionId: string; participantId: string };
    await new Promise((r) => setTimeout(r, 3000));
    assert.equal(hookA.named('getIvrCommand').filter((c) => c.body.sessionId === sessionId).length, 1);
    const domain = (await a.call('GET', '/v1/tenant')).json.domain as string;
    const hang = await a.call('POST', `/mediaservice/${domain}/hangupparticipant`, { sessionId, participantId });
    assert.equal(hang.status, 200);
    assert.equal((await caller).code, 0);
    await hookA.waitFor('sessionCompleted', (c) => c.body.sessionId === sessionId);
    ivrReply = () => holdThenHangUp;
  });

  test('SSRF through the callback URL: private, metadata and IPv4-mapped forms are refused with 400', async () => {
    for (const url of [
      'http://[::ffff:a9fe:a9fe]/hook',
      'http://169.254.169.254/latest/meta-data',
      'http://10.0.0.5/hook',
      'http://[64:ff9b::a9fe:a9fe]/hook',
    ]) {
      const res = await a.call('PATCH', '/v1/tenant', { callbackUrl: url });
      assert.equal(res.status, 400, url);
      assert.match(res.json.error.message, /not a public address/, url);
    }
  });

  test('malformed SIP that can be answered gets 400 naming the fault or 505, never silence', async () => {
    const socket = createSocket('udp4');
    await new Promise<void>((r) => socket.bind(0, '127.0.0.1', () => r()));
    const { port } = socket.address();
    const replies: string[] = [];
    socket.on('message', (m) => replies.push(m.toString('utf8')));
    const request = (firstLine: string, drop: string) =>
      [
        firstLine,
        `Via: SIP/2.0/UDP 127.0.0.1:${port};branch=z9hG4bK-abuse-${Math.random().toString(36).slice(2)};rport`,
        'From: <sip:x@127.0.0.1>;tag=abuse',
        `To: <sip:${NUMBER_A}@127.0.0.1>`,
        'Call-ID: abuse-malformed@127.0.0.1',
        'CSeq: 1 OPTIONS',
        'Max-Forwards: 70',
        'Content-Length: 0',
        '',
        '',
      ]
        .filter((l) => !l.startsWith(drop) || drop === '')
        .join('\r\n');
    const cases = [
      { msg: request(`OPTIONS sip:${NUMBER_A}@127.0.0.1 SIP/3.0`, ''), expect: /^SIP\/2\.0 505 / },
      { msg: request(`OPTIONS sip:${NUMBER_A}@127.0.0.1 SIP/2.0`, 'Call-ID'), expect: /^SIP\/2\.0 400 .*Call-ID/i },
      { msg: request(`OPTIONS sip:${NUMBER_A}@127.0.0.1 SIP/2.0`, 'CSeq'), expect: /^SIP\/2\.0 400 .*CSeq/i },
    ];
    try {
      for (const c of cases) {
        replies.length = 0;
        socket.send(c.msg, stack.sipPorts[0]!, '127.0.0.1');
        const deadline = Date.now() + 3000;
        while (replies.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
        assert.match(replies[0] ?? '(no answer)', c.expect, c.msg.split('\r\n')[0]);
      }
    } finally {
      socket.close();
    }
  });

  test("the bystander's call kept ≥ 99.5 % of its packets through every attack", async () => {
    const run = await bystander.run;
    await new Promise((r) => setTimeout(r, 500));
    await bystander.capture.stop();
    assert.equal(run.code, 0, `bystander call: ${run.errors}`);
    const expected = BYSTANDER_MS / 20;
    const packets = bystander.capture.packets().filter((p) => p.rtp?.payloadType === 0);
    const share = Math.min(packets.length, expected) / expected;
    let maxGap = 0;
    for (let i = 1; i < packets.length; i++) maxGap = Math.max(maxGap, (packets[i]!.t - packets[i - 1]!.t) * 1000);
    console.log(
      `# bystander: ${packets.length} of ${expected} packets (${(share * 100).toFixed(2)} %), max gap ${maxGap.toFixed(1)} ms`,
    );
    assert.ok(share >= 0.995, `bystander received ${(share * 100).toFixed(2)} % of its packets`);
  });
});

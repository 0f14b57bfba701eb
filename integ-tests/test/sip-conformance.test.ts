/**
 * SIP conformance: SIPp scenarios (integ-tests/scenarios/conformance) against the SignalingPort,
 * driven through a small test application (src/sip-test-app.ts) with static SDP, no media.
 * Runs against the built-in stack always, and against the drachtio adapter when DRACHTIO_ADDRESS
 * points at a drachtio-server (otherwise those tests are registered as skipped, with the reason).
 */

import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { connect as netConnect, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import type { SignalingPort, SipTransport } from '@sipms/media-node/ports/signaling';
import { createSignaling, type SignalingOptions } from '@sipms/media-node/sip/create-signaling';
import { freeTcpPort, freeUdpPort } from '../src/ports.js';
import { SipTestApp, STATIC_SDP } from '../src/sip-test-app.js';
import { runSipp, type SippResult, scenario } from '../src/sipp.js';

const DRACHTIO_SKIP = 'drachtio-server is not installable here; set DRACHTIO_ADDRESS to run against one';

interface Target {
  name: string;
  options: () => Promise<SignalingOptions>;
  /** The hostile corpus exercises our parser; against drachtio it exercises drachtio-server's. */
  skip?: string;
}

/**
 * Per-source INVITE rate for both targets: well above every other test here (≤ 20 calls/s), well
 * below the flood test's 300/s. One second's burst.
 */
const INVITE_RATE = { perSecond: 50, burst: 50 };
/** TCP connections per address (built-in only: drachtio-server owns its connections). */
const CONNECTIONS_PER_ADDRESS = 16;

const targets: Target[] = [
  {
    name: 'builtin',
    options: async () => ({
      kind: 'builtin',
      bindHost: '127.0.0.1',
      port: await freeBothPort(),
      inviteRateLimit: INVITE_RATE,
      maxConnectionsPerAddress: CONNECTIONS_PER_ADDRESS,
    }),
  },
  {
    name: 'drachtio',
    options: async () => ({
      kind: 'drachtio',
      address: process.env['DRACHTIO_ADDRESS'] ?? '',
      secret: process.env['DRACHTIO_SECRET'] ?? 'cymru',
      inviteRateLimit: INVITE_RATE,
    }),
    ...(process.env['DRACHTIO_ADDRESS'] ? {} : { skip: DRACHTIO_SKIP }),
  },
];

/** A port free for both UDP and TCP (the built-in stack binds both). */
async function freeBothPort(): Promise<number> {
  for (let i = 0; i < 20; i++) {
    const port = await freeUdpPort();
    const probe = netConnect({ host: '127.0.0.1', port });
    const inUse = await new Promise<boolean>((resolve) => {
      probe.once('connect', () => resolve(true));
      probe.once('error', () => resolve(false));
    });
    probe.destroy();
    if (!inUse) return port;
  }
  return freeTcpPort();
}

for (const target of targets) {
  describe(`SIP conformance (${target.name})`, () => {
    let app: SipTestApp;
    let signaling: SignalingPort;
    let remote = '';

    before(async () => {
      if (target.skip) {
        console.log(`SKIP SIP conformance (${target.name}): ${target.skip}`);
        return;
      }
      signaling = createSignaling(await target.options());
      app = new SipTestApp(signaling, { hangupAfterMs: 300 });
      await app.start();
      const { host, port } = signaling.advertised;
      remote = `${host === '0.0.0.0' ? '127.0.0.1' : host}:${port}`;
    });

    after(async () => {
      if (!target.skip) await app.stop();
    });

    /** Registers a test, or a loudly skipped one when this target cannot run it (`builtinOnly`: with the reason). */
    const conformance = (name: string, fn: () => Promise<void>, builtinOnly?: string): void => {
      test(name, async (t) => {
        const skip = target.skip ?? (builtinOnly && target.name !== 'builtin' ? builtinOnly : undefined);
        if (skip) {
          console.log(`SKIP ${name} (${target.name}): ${skip}`);
          t.skip(skip);
          return;
        }
        await fn();
      });
    };

    const sipp = async (
      file: string,
      service: string,
      transport: SipTransport,
      extra: string[] = [],
      localAddress = '127.0.0.1',
    ): Promise<SippResult> => {
      const port = transport === 'udp' ? await freeUdpPort() : await freeTcpPort();
      return runSipp(
        [
          '-sf',
          scenario(`conformance/${file}`),
          '-s',
          service,
          '-i',
          localAddress,
          '-p',
          String(port),
          '-t',
          transport === 'udp' ? 'u1' : 't1',
          '-timeout',
          '20s',
          ...extra,
          remote,
        ],
        { timeoutMs: 30_000 },
      );
    };
    const assertOk = (run: SippResult): void => {
      assert.equal(
        run.code,
        0,
        `SIPp failed (exit ${run.code}):\n${run.stdout.slice(-1500)}\n${run.errors.slice(-1500)}`,
      );
    };

    for (const transport of ['udp', 'tcp'] as const) {
      conformance(`${transport}: basic call, the caller hangs up`, async () => {
        const before = app.callsFor('answer').length;
        assertOk(await sipp('uac-caller-bye.xml', 'answer', transport, ['-m', '3', '-r', '10']));
        const calls = app.callsFor('answer').slice(before);
        assert.equal(calls.length, 3);
        await until(() => calls.every((c) => c.ended === 'remote-bye'));
      });

      conformance(`${transport}: the server hangs up`, async () => {
        const before = app.callsFor('hangup').length;
        assertOk(await sipp('uac-server-bye.xml', 'hangup', transport, ['-m', '2', '-r', '10']));
        const calls = app.callsFor('hangup').slice(before);
        await until(() => calls.length === 2 && calls.every((c) => c.ended === 'local-bye'));
      });

      conformance(`${transport}: CANCEL before answer → 487`, async () => {
        const before = app.callsFor('ring').length;
        assertOk(await sipp('uac-cancel.xml', 'ring', transport, ['-m', '2', '-r', '10']));
        const calls = app.callsFor('ring').slice(before);
        assert.deepEqual(
          calls.map((c) => c.outcome),
          ['cancelled', 'cancelled'],
        );
      });

      conformance(`${transport}: re-INVITE hold and unhold`, async () => {
        const before = app.callsFor('answer').length;
        assertOk(await sipp('uac-reinvite-hold.xml', 'answer', transport, ['-m', '1']));
        const call = app.callsFor('answer')[before]!;
        assert.equal(call.reoffers.length, 2);
        assert.match(call.reoffers[0]!, /a=sendonly/);
        assert.match(call.reoffers[1]!, /a=sendrecv/);
      });

      conformance(`${transport}: INFO DTMF (dtmf-relay and dtmf)`, async () => {
        const before = app.callsFor('answer').length;
        assertOk(await sipp('uac-info-dtmf.xml', 'answer', transport, ['-m', '1']));
        assert.deepEqual(app.callsFor('answer')[before]!.digits, ['1', '#']);
      });

      conformance(`${transport}: OPTIONS → 200 with Allow and Accept`, async () => {
        assertOk(await sipp('uac-options.xml', 'answer', transport, ['-m', '1']));
      });

      conformance(`${transport}: unknown Request-URI → 404`, async () => {
        assertOk(await sipp('uac-unknown-user.xml', 'nobody', transport, ['-m', '2', '-r', '10']));
      });

      conformance(`${transport}: outbound call with digest authentication (MD5, SIPp UAS verifies)`, async () => {
        await outboundDigest('uas-digest.xml', transport);
      });
    }

    conformance('udp: outbound call with digest authentication (SHA-256 challenge)', async () => {
      await outboundDigest('uas-digest-sha256.xml', 'udp');
    });

    conformance('udp: ACK lost → the 200 is retransmitted until the ACK', async () => {
      const run = await sipp('uac-ack-lost.xml', 'answer', 'udp', ['-m', '1']);
      assertOk(run);
      const okInvites = run.messages
        .split(/-{20,}/)
        .filter((m) => /received/i.test(m) && /SIP\/2\.0 200 OK/.test(m) && /CSeq:\s*1 INVITE/i.test(m));
      assert.ok(okInvites.length >= 2, `expected the 200 at least twice, saw ${okInvites.length}`);
    });

    conformance('udp: random loss (-lost 10) → every call still completes', async () => {
      const before = app.callsFor('answer').length;
      assertOk(
        await sipp('uac-caller-bye.xml', 'answer', 'udp', ['-m', '20', '-r', '20', '-lost', '10', '-timeout', '40s']),
      );
      assert.ok(app.callsFor('answer').length - before >= 20);
    });

    conformance('hostile and malformed messages over UDP and TCP → 400 or dropped; calls keep working', async () => {
      const during = sipp('uac-caller-bye.xml', 'answer', 'udp', ['-m', '10', '-r', '10']);
      const [host, portText] = remote.split(':') as [string, string];
      const port = Number(portText);
      const answers = await sendCorpusUdp(host, port);
      for (const [name, statuses] of Object.entries(answers)) {
        for (const status of statuses)
          assert.ok([400, 413, 505, 513].includes(status), `${name}: unexpected ${status}`);
      }
      assert.ok(answers['bad Content-Length']?.includes(400), 'bad Content-Length should be answered 400');
      assert.ok(answers['CSeq method mismatch']?.includes(400), 'CSeq mismatch should be answered 400');
      // Against drachtio these three once reached our OPTIONS handler and got 200; the adapter now checks them.
      for (const name of ['truncated after headers', 'bad Request-URI', 'header bomb'])
        assert.deepEqual(answers[name], [400], `${name} should be answered 400`);
      if (target.name === 'builtin') {
        // Only what has no readable Via goes unanswered.
        const unanswerable = new Set(['truncated', 'missing Via', 'binary garbage']);
        for (const [name, statuses] of Object.entries(answers))
          if (!unanswerable.has(name)) assert.equal(statuses.length, 1, `${name}: answered once, got [${statuses}]`);
      }
      await sendCorpusTcp(host, port);
      assertOk(await during);
      assertOk(await sipp('uac-caller-bye.xml', 'answer', 'udp', ['-m', '2']));
      assertOk(await sipp('uac-caller-bye.xml', 'answer', 'tcp', ['-m', '2']));
    });

    conformance(
      'udp: each malformed request (readable Via) → the status naming its fault; no Via → dropped',
      async () => {
        const [host, portText] = remote.split(':') as [string, string];
        const port = Number(portText);
        const exact = target.name === 'builtin';
        for (const c of malformedTable(port)) {
          const answers = await sendUdp(host, port, c.data);
          if (exact) {
            assert.deepEqual(answers, c.expect ? [c.expect] : [], c.name);
          } else {
            // drachtio-server answers some faults itself (its own reason phrases) and drops others.
            for (const a of answers) assert.ok(Number(a.split(' ')[1]) >= 400, `${c.name}: unexpected ${a}`);
            if (c.passedByDrachtio) assert.deepEqual(answers, [c.expect], c.name);
          }
        }
      },
    );

    conformance(
      'tcp: a malformed request gets its answer on the same connection; broken framing closes it',
      async () => {
        const [host, portText] = remote.split(':') as [string, string];
        const port = Number(portText);
        const table = malformedTable(port, 'TCP');
        const missingCallId = table.find((c) => c.name === 'missing Call-ID')!;
        const kept = await sendTcp(host, port, missingCallId.data);
        assert.deepEqual(kept.answers, target.name === 'builtin' ? [missingCallId.expect] : kept.answers);
        if (target.name === 'builtin') assert.equal(kept.closed, false, 'framing intact: the connection stays open');
        const negative = table.find((c) => c.name === 'negative Content-Length')!;
        const broken = await sendTcp(host, port, negative.data);
        if (target.name === 'builtin') {
          assert.deepEqual(broken.answers, [negative.expect]);
          assert.equal(broken.closed, true, 'framing lost: the node closes the connection');
        }
      },
    );

    conformance(
      'udp: an INVITE flood from one source → 503 Retry-After (or dropped); another source is served',
      async () => {
        const flood = sipp('uac-flood.xml', 'answer', 'udp', [
          '-m',
          '300',
          '-r',
          '300',
          '-l',
          '300',
          '-timeout',
          '40s',
        ]);
        await new Promise((r) => setTimeout(r, 300)); // the flood is under way
        // From 127.0.0.2: answered (200 from the application, then BYE) while 127.0.0.1 is being refused.
        assertOk(await sipp('uac-caller-bye.xml', 'answer', 'udp', ['-m', '2', '-r', '10'], '127.0.0.2'));
        const run = await flood;
        assertOk(run); // every call ended: answered, or refused with 503 and ACKed
        const received = run.messages.split(/-{20,}/).filter((m) => /received/i.test(m));
        const refused = received.filter((m) => /SIP\/2\.0 503 /.test(m));
        assert.ok(refused.length > 0, 'some INVITEs were refused with 503');
        for (const m of refused) assert.match(m, /\r?\nRetry-After: *\d+/i);
        await new Promise((r) => setTimeout(r, 1500)); // the bucket refills before the next test
      },
    );

    conformance(
      `tcp: at most ${CONNECTIONS_PER_ADDRESS} connections from one address; another address is served`,
      async () => {
        const [host, portText] = remote.split(':') as [string, string];
        const port = Number(portText);
        const open: Socket[] = [];
        try {
          for (let i = 0; i < CONNECTIONS_PER_ADDRESS; i++) open.push(await tcpOpen(host, port, '127.0.0.1'));
          const answered = await sendTcp(host, port, optionsRequest(port), '127.0.0.1');
          assert.equal(answered.closed, true, 'one connection too many is closed');
          assert.deepEqual(answered.answers, []);
          const elsewhere = await sendTcp(host, port, optionsRequest(port), '127.0.0.2');
          assert.match(elsewhere.answers[0] ?? '', /^SIP\/2\.0 200 /);
        } finally {
          for (const s of open) s.destroy();
        }
        await new Promise((r) => setTimeout(r, 200)); // the node sees the connections close
      },
      "drachtio-server owns the TCP connections; the cap is the built-in transport's",
    );

    async function outboundDigest(file: string, transport: SipTransport): Promise<void> {
      const port = transport === 'udp' ? await freeUdpPort() : await freeTcpPort();
      const uas = runSipp(
        [
          '-sf',
          scenario(`conformance/${file}`),
          '-i',
          '127.0.0.1',
          '-p',
          String(port),
          '-t',
          transport === 'udp' ? 'u1' : 't1',
          '-m',
          '1',
          '-timeout',
          '20s',
        ],
        { timeoutMs: 30_000 },
      );
      await new Promise((r) => setTimeout(r, 300)); // SIPp binds its socket
      const dialog = await signaling.placeCall({
        target: `sip:bob@127.0.0.1:${port}`,
        from: { uri: 'sip:alice@sipms.test', displayName: 'Conformance' },
        sdp: STATIC_SDP,
        credentials: { username: 'alice', password: 'conformance-secret' },
        transport,
        ringTimeoutMs: 10_000,
      });
      assert.match(dialog.remoteSdp, /m=audio/);
      await dialog.hangup();
      assertOk(await uas);
    }
  });
}

/** Messages a hostile or broken peer might send. */
function corpus(port: number): Record<string, Buffer> {
  const valid = (extra: string[] = [], method = 'OPTIONS', cseqMethod = method): string =>
    [
      `${method} sip:answer@127.0.0.1:${port} SIP/2.0`,
      `Via: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK${Math.random().toString(36).slice(2)};rport`,
      'From: <sip:evil@127.0.0.1>;tag=1',
      'To: <sip:answer@127.0.0.1>',
      `Call-ID: ${Math.random().toString(36).slice(2)}`,
      `CSeq: 1 ${cseqMethod}`,
      'Max-Forwards: 70',
      ...extra,
    ].join('\r\n');
  let seed = 42;
  const garbage = Buffer.alloc(1500);
  for (let i = 0; i < garbage.length; i++) {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    garbage[i] = seed & 0xff;
  }
  return {
    truncated: Buffer.from(valid().slice(0, 80)),
    'truncated after headers': Buffer.from(`${valid()}\r\nContent-Length: 0`),
    oversized: Buffer.from(`${valid([`X-Big: ${'a'.repeat(65_000)}`])}\r\nContent-Length: 0\r\n\r\n`).subarray(
      0,
      65_400,
    ),
    'bad Content-Length': Buffer.from(`${valid(['Content-Length: 9999'])}\r\n\r\nshort`),
    'negative Content-Length': Buffer.from(`${valid(['Content-Length: -5'])}\r\n\r\n`),
    'missing Call-ID': Buffer.from(`${valid().replace(/Call-ID: .*\r\n/, '')}\r\nContent-Length: 0\r\n\r\n`),
    'missing From': Buffer.from(`${valid().replace(/From: .*\r\n/, '')}\r\nContent-Length: 0\r\n\r\n`),
    'missing Via': Buffer.from(`${valid().replace(/Via: .*\r\n/, '')}\r\nContent-Length: 0\r\n\r\n`),
    'CSeq method mismatch': Buffer.from(`${valid([], 'OPTIONS', 'INVITE')}\r\nContent-Length: 0\r\n\r\n`),
    'bad Request-URI': Buffer.from(`${valid().replace(/^OPTIONS \S+/, 'OPTIONS sip:@@')}\r\nContent-Length: 0\r\n\r\n`),
    'bad version': Buffer.from(`${valid().replace('SIP/2.0\r\n', 'SIP/7.0\r\n')}\r\nContent-Length: 0\r\n\r\n`),
    'NUL in header': Buffer.from(`${valid(['X-Nul: a\0b'])}\r\nContent-Length: 0\r\n\r\n`),
    'binary garbage': garbage,
    'header bomb': Buffer.from(
      `${valid(Array.from({ length: 3000 }, (_, i) => `X-H${i}: v`))}\r\nContent-Length: 0\r\n\r\n`,
    ).subarray(0, 65_000),
    'long line': Buffer.from(`${valid([`Subject: ${'s'.repeat(20_000)}`])}\r\nContent-Length: 0\r\n\r\n`),
    'INVITE with broken SDP headers': Buffer.from(
      `${valid(['Content-Type: application/sdp', 'Contact: <<<'], 'INVITE')}\r\nContent-Length: 3\r\n\r\nv=0`,
    ),
  };
}

interface MalformedRequest {
  name: string;
  data: Buffer;
  /** The status line the built-in stack answers with; undefined: dropped (no Via to route an answer). */
  expect?: string;
  /** drachtio-server passed this one to the application in the run against v0.9.10 (the adapter answers it). */
  passedByDrachtio?: boolean;
}

/**
 * Malformed requests, each with the answer RFC 3261 calls for (§8.2, §18.3, §21): with a readable
 * Via, 400 with a reason naming the fault, or 505; without one, nothing. The Via's sent-by port (9)
 * is not the sender's, so an answer can only arrive through rport (RFC 3581).
 */
function malformedTable(port: number, transport: 'UDP' | 'TCP' = 'UDP'): MalformedRequest[] {
  let n = 0;
  const head = (method = 'OPTIONS'): string[] => [
    `${method} sip:answer@127.0.0.1:${port} SIP/2.0`,
    `Via: SIP/2.0/${transport} 127.0.0.1:9;branch=z9hG4bKtable${++n}x${Math.random().toString(36).slice(2)};rport`,
    'From: <sip:peer@127.0.0.1>;tag=table',
    'To: <sip:answer@127.0.0.1>',
    `Call-ID: table-${n}-${Math.random().toString(36).slice(2)}`,
    `CSeq: 1 ${method}`,
    'Max-Forwards: 70',
  ];
  const msg = (lines: string[], length = 'Content-Length: 0', body = ''): Buffer =>
    Buffer.from(`${[...lines, length].join('\r\n')}\r\n\r\n${body}`);
  const drop = (lines: string[], name: string) => lines.filter((l) => !l.startsWith(`${name}:`));
  const set = (lines: string[], name: string, value: string) =>
    lines.map((l) => (l.startsWith(`${name}:`) ? `${name}: ${value}` : l));
  return [
    {
      name: 'bad SIP version',
      data: msg(head().map((l, i) => (i === 0 ? l.replace('SIP/2.0', 'SIP/7.0') : l))),
      expect: 'SIP/2.0 505 Version Not Supported',
    },
    { name: 'missing Call-ID', data: msg(drop(head(), 'Call-ID')), expect: 'SIP/2.0 400 Missing Call-ID' },
    { name: 'non-numeric CSeq', data: msg(set(head(), 'CSeq', 'one OPTIONS')), expect: 'SIP/2.0 400 Bad CSeq' },
    {
      name: 'CSeq method mismatch',
      data: msg(set(head(), 'CSeq', '1 INVITE')),
      expect: 'SIP/2.0 400 CSeq Method Mismatch',
    },
    {
      name: 'Content-Length longer than the body',
      data: msg(head(), 'Content-Length: 9999', 'short'),
      expect: 'SIP/2.0 400 Content-Length Mismatch',
    },
    {
      name: 'negative Content-Length',
      data: msg(head(), 'Content-Length: -5'),
      expect: 'SIP/2.0 400 Bad Content-Length',
    },
    { name: 'missing From', data: msg(drop(head(), 'From')), expect: 'SIP/2.0 400 Missing From' },
    { name: 'missing To', data: msg(drop(head(), 'To')), expect: 'SIP/2.0 400 Missing To' },
    {
      name: 'Via without branch',
      data: msg(head().map((l) => (l.startsWith('Via:') ? l.replace(/;branch=[^;]+/, '') : l))),
      expect: 'SIP/2.0 400 Missing Via Branch',
    },
    {
      name: 'no empty line after the headers (truncated after headers)',
      data: Buffer.from(`${head().join('\r\n')}\r\nContent-Length: 0`),
      expect: 'SIP/2.0 400 Missing Empty Line',
      passedByDrachtio: true,
    },
    {
      name: 'OPTIONS sip:@@',
      data: msg(head().map((l, i) => (i === 0 ? l.replace(/ sip:\S+ /, ' sip:@@ ') : l))),
      expect: 'SIP/2.0 400 Bad Request-URI',
      passedByDrachtio: true,
    },
    {
      name: 'header bomb',
      data: msg([...head(), ...Array.from({ length: 3000 }, (_, i) => `X-H${i}: v`)]),
      expect: 'SIP/2.0 400 Too Many Headers',
      passedByDrachtio: true,
    },
    { name: 'Max-Forwards 300', data: msg(set(head(), 'Max-Forwards', '300')), expect: 'SIP/2.0 400 Bad Max-Forwards' },
    {
      name: 'INVITE missing Call-ID',
      data: msg(drop(head('INVITE'), 'Call-ID')),
      expect: 'SIP/2.0 400 Missing Call-ID',
    },
    { name: 'missing Via', data: msg(drop(head(), 'Via')) },
    { name: 'unreadable Via', data: msg(set(head(), 'Via', `SIP/2.0/${transport} @@;branch=z9hG4bKx`)) },
  ];
}

/** Sends one datagram from a fresh socket; the status lines answered within 300 ms. */
async function sendUdp(host: string, port: number, data: Buffer): Promise<string[]> {
  const socket = createSocket('udp4');
  const lines: string[] = [];
  socket.on('message', (msg) => lines.push(msg.toString('latin1').split('\r\n')[0]!));
  await new Promise<void>((r) => socket.bind(0, '127.0.0.1', () => r()));
  await new Promise<void>((resolve) => socket.send(data, port, host, () => resolve()));
  await new Promise((r) => setTimeout(r, 300));
  socket.close();
  return lines;
}

function tcpOpen(host: string, port: number, localAddress: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = netConnect({ host, port, localAddress });
    socket.once('connect', () => resolve(socket));
    socket.once('error', reject);
  });
}

/** Sends `data` on a new TCP connection; the status lines read within 500 ms, and whether the node closed it. */
async function sendTcp(
  host: string,
  port: number,
  data: Buffer,
  localAddress = '127.0.0.1',
): Promise<{ answers: string[]; closed: boolean }> {
  const socket = await tcpOpen(host, port, localAddress);
  let text = '';
  let closed = false;
  socket.on('data', (d: Buffer) => {
    text += d.toString('latin1');
  });
  socket.on('error', () => {});
  socket.on('close', () => {
    closed = true;
  });
  socket.write(data);
  await new Promise((r) => setTimeout(r, 500));
  socket.destroy();
  const answers = [...text.matchAll(/(?:^|\r\n\r\n)(SIP\/2\.0 \d{3} [^\r]*)/g)].map((m) => m[1]!);
  return { answers, closed };
}

function optionsRequest(port: number): Buffer {
  return Buffer.from(
    [
      `OPTIONS sip:answer@127.0.0.1:${port} SIP/2.0`,
      `Via: SIP/2.0/TCP 127.0.0.1:9;branch=z9hG4bKcap${Math.random().toString(36).slice(2)};rport`,
      'From: <sip:peer@127.0.0.1>;tag=cap',
      'To: <sip:answer@127.0.0.1>',
      `Call-ID: cap-${Math.random().toString(36).slice(2)}`,
      'CSeq: 1 OPTIONS',
      'Max-Forwards: 70',
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n'),
  );
}

/** Sends each corpus message from its own socket and collects the statuses answered within 300 ms. */
async function sendCorpusUdp(host: string, port: number): Promise<Record<string, number[]>> {
  const out: Record<string, number[]> = {};
  for (const [name, data] of Object.entries(corpus(port))) {
    const socket = createSocket('udp4');
    const statuses: number[] = [];
    socket.on('message', (msg) => {
      const m = /^SIP\/2\.0 (\d{3})/.exec(msg.toString('latin1'));
      if (m) statuses.push(Number(m[1]));
    });
    await new Promise<void>((r) => socket.bind(9, '127.0.0.1', () => r())).catch(() => {});
    await new Promise<void>((resolve) => socket.send(data, port, host, () => resolve()));
    await new Promise((r) => setTimeout(r, 150));
    socket.close();
    out[name] = statuses;
  }
  return out;
}

/** Sends each corpus message on its own TCP connection; the node answers or closes, it never hangs. */
async function sendCorpusTcp(host: string, port: number): Promise<void> {
  for (const data of [...Object.values(corpus(port)), Buffer.alloc(200_000, 0x41)]) {
    const socket = netConnect({ host, port });
    await new Promise<void>((resolve) => {
      socket.once('connect', () => resolve());
      socket.once('error', () => resolve());
    });
    socket.on('error', () => {});
    socket.write(data);
    await new Promise((r) => setTimeout(r, 50));
    socket.destroy();
  }
}

async function until(probe: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

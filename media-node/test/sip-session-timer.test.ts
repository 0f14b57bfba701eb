/**
 * RFC 4028 session timers in the built-in stack, with intervals of a few seconds (the options allow
 * them; production keeps 1800 s / 90 s): 422 for a too-small Session-Expires, BYE to a refresher
 * that stops refreshing, refreshes by re-INVITE and UPDATE keeping a call up (SIPp), our own
 * refreshes at half the interval by UPDATE or re-INVITE and BYE when they fail, incoming UPDATE,
 * and the UAC side (Supported: timer, Session-Expires, 422 retry, the 2xx's refresher).
 */

import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { CallDialog, InboundCall } from '../src/ports/signaling.js';
import { BuiltinSignaling } from '../src/sip/builtin/builtin-signaling.js';
import type { SipDialog } from '../src/sip/builtin/dialog.js';
import type { ParsedRequest } from '../src/sip/builtin/message.js';
import { isRequest, randomId, SipTestClient, TEST_SDP } from './helpers/sip-test-client.js';

const ANSWER_SDP = TEST_SDP.replace('40000', '41000');
const TIMERS = { t1Ms: 50, t2Ms: 400, t4Ms: 200 };
/** Our settings in these tests: a 4 s interval wanted, 2 s accepted. */
const SESSION = { sessionExpiresSec: 4, sessionMinSeSec: 2 };
const SCENARIO_DIR = fileURLToPath(new URL('./scenarios/', import.meta.url));

/** A response from the raw peer, with extra header lines and a body. */
function reply(
  client: SipTestClient,
  request: ParsedRequest,
  status: number,
  reason: string,
  extra: string[] = [],
  body = '',
  toTag?: string,
): void {
  const to = request.headers.get('to')!;
  const lines = [
    `SIP/2.0 ${status} ${reason}`,
    ...request.headers.lines('via').map((v) => `Via: ${v}`),
    `From: ${request.headers.get('from')}`,
    `To: ${toTag !== undefined && !/;tag=/.test(to) ? `${to};tag=${toTag}` : to}`,
    `Call-ID: ${request.callId}`,
    `CSeq: ${request.headers.get('cseq')}`,
    ...extra,
    ...(body ? ['Content-Type: application/sdp'] : []),
    `Content-Length: ${Buffer.byteLength(body)}`,
    '',
    body,
  ];
  client.send(lines.join('\r\n'));
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('session timers as UAS (raw UDP peer)', () => {
  let signaling: BuiltinSignaling;
  let client: SipTestClient;
  const calls: InboundCall[] = [];
  const answered: Promise<CallDialog>[] = [];

  before(async () => {
    signaling = new BuiltinSignaling({ bindHost: '127.0.0.1', port: 0, timers: TIMERS, ...SESSION });
    await signaling.start((call) => {
      calls.push(call);
      const dialog = call.answer(ANSWER_SDP);
      dialog.catch(() => {});
      answered.push(dialog);
    });
    client = await SipTestClient.open(signaling.advertised.port);
  });

  after(async () => {
    client.close();
    await signaling.stop();
  });

  /** INVITE (with `extra` header lines) → 200 → ACK. */
  async function establish(extra: string[]) {
    const p = client.dialogParams();
    client.send(client.request('INVITE', p, ['Content-Type: application/sdp', ...extra], TEST_SDP));
    const ok = await client.waitForResponse(200, 'INVITE', p.callId);
    const toTag = ok.to.tag!;
    client.send(client.request('ACK', { ...p, branch: `z9hG4bK${randomId()}`, toTag }));
    const ackedAt = Date.now();
    const dialog = await answered.at(-1)!;
    return { p, toTag, ok, dialog, ackedAt };
  }

  test('Session-Expires below our minimum gets 422 with Min-SE; the application never sees the INVITE', async () => {
    const before = calls.length;
    const p = client.dialogParams();
    client.send(client.request('INVITE', p, ['Supported: timer', 'Session-Expires: 1'], ''));
    const refused = await client.waitForResponse(422, 'INVITE', p.callId);
    client.send(client.request('ACK', { ...p, toTag: refused.to.tag! }));
    assert.equal(refused.reason, 'Session Interval Too Small');
    assert.equal(refused.headers.get('min-se'), '2');
    assert.equal(calls.length, before);
    // The compact form (x) is read too; an unreadable value is a 400.
    const q = client.dialogParams();
    client.send(client.request('INVITE', q, ['x: 1;refresher=uas']));
    const compact = await client.waitForResponse(422, 'INVITE', q.callId);
    client.send(client.request('ACK', { ...q, toTag: compact.to.tag! }));
    const r = client.dialogParams();
    client.send(client.request('INVITE', r, ['Session-Expires: soon']));
    const bad = await client.waitForResponse(400, 'INVITE', r.callId);
    client.send(client.request('ACK', { ...r, toTag: bad.to.tag! }));
    assert.equal(bad.reason, 'Bad Session-Expires');
    assert.equal(calls.length, before);
  });

  test('a UAC without timer support still gets an interval with refresher=uas; we refresh by UPDATE at half of it, and a 481 ends the call with BYE', async () => {
    const { p, ok, dialog, ackedAt } = await establish(['Allow: INVITE, ACK, CANCEL, BYE, UPDATE']);
    assert.equal(ok.headers.get('session-expires'), '4;refresher=uas');
    assert.equal(ok.headers.has('require'), false, 'no Require: timer for a UAC that does not support it');
    assert.deepEqual(ok.headers.getAll('supported'), ['timer']);
    assert.ok(ok.headers.getAll('allow').includes('UPDATE'));

    const first = await client.waitForRequest('UPDATE', p.callId, 4000);
    const firstAfter = Date.now() - ackedAt;
    assert.ok(firstAfter >= 1700 && firstAfter < 3000, `first refresh after ${firstAfter} ms, expected ~2000`);
    assert.equal(first.headers.get('session-expires'), '4;refresher=uac');
    assert.ok(first.headers.getAll('supported').includes('timer'));
    assert.ok(first.headers.has('contact'), 'UPDATE is a target refresh request (RFC 3311)');
    assert.equal(first.body.length, 0);
    reply(client, first, 200, 'OK', ['Session-Expires: 4;refresher=uac']);
    const secondAt = Date.now();

    const second = await client.waitForRequest('UPDATE', p.callId, 4000);
    const gap = Date.now() - secondAt;
    assert.ok(gap >= 1700 && gap < 3000, `second refresh after ${gap} ms, expected ~2000`);
    assert.ok(second.cseq.seq > first.cseq.seq);
    reply(client, second, 481, 'Call/Transaction Does Not Exist');
    const bye = await client.waitForRequest('BYE', p.callId, 2000);
    client.respondTo(bye);
    assert.equal(await dialog.ended, 'session-expired');
  });

  test('a peer that does not allow UPDATE is refreshed by re-INVITE with the current SDP; no answer ends the call with BYE', async () => {
    const { p, ok, dialog } = await establish([]);
    assert.equal(ok.headers.get('session-expires'), '4;refresher=uas');

    const reinvite = await client.waitForRequest('INVITE', p.callId, 4000);
    assert.equal(reinvite.body.toString(), ANSWER_SDP, 'the refresh offers the current SDP');
    assert.equal(reinvite.headers.get('session-expires'), '4;refresher=uac');
    reply(
      client,
      reinvite,
      200,
      'OK',
      [`Contact: <sip:alice@127.0.0.1:${client.port}>`, 'Session-Expires: 4;refresher=uac'],
      TEST_SDP,
    );
    const ack = await client.waitForRequest('ACK', p.callId, 2000);
    assert.equal(ack.cseq.seq, reinvite.cseq.seq);

    // The next refresh is never answered: timer B (64 × T1 = 3.2 s here), then BYE.
    const unanswered = await client.waitForRequest('INVITE', p.callId, 4000);
    assert.ok(unanswered.cseq.seq > reinvite.cseq.seq);
    const bye = await client.waitFor<ParsedRequest>(isRequest('BYE', p.callId), 6000);
    client.respondTo(bye);
    assert.equal(await dialog.ended, 'session-expired');
  });

  test('refreshes by UPDATE (with and without SDP) keep a call whose caller refreshes; a too-small one gets 422', async () => {
    const { p, toTag, ok, dialog } = await establish(['Supported: timer', 'Session-Expires: 3;refresher=uac']);
    assert.equal(ok.headers.get('session-expires'), '3;refresher=uac');
    assert.equal(ok.headers.get('require'), 'timer');
    const offers: string[] = [];
    dialog.onReoffer(async (sdp) => {
      offers.push(sdp);
      return ANSWER_SDP.replace('41000', '42000');
    });
    const update = (cseq: number, extra: string[], body = ''): string =>
      client.request('UPDATE', { ...p, cseq, toTag, branch: `z9hG4bK${randomId()}` }, extra, body);

    // Our BYE would come 2 s after the last refresh; refresh every 1.2 s for 3.6 s.
    await sleep(1200);
    client.send(update(2, ['Supported: timer', 'Session-Expires: 3;refresher=uac']));
    const refreshed = await client.waitForResponse(200, 'UPDATE', p.callId);
    assert.equal(refreshed.headers.get('session-expires'), '3;refresher=uac');
    assert.equal(refreshed.headers.get('require'), 'timer');
    await sleep(1200);
    client.send(update(3, ['Supported: timer', 'Session-Expires: 3', 'Content-Type: application/sdp'], TEST_SDP));
    const answeredOffer = await client.waitForResponse(200, 'UPDATE', p.callId);
    assert.match(answeredOffer.body.toString(), /m=audio 42000/);
    assert.equal(answeredOffer.headers.get('session-expires'), '3;refresher=uac', 'unnamed: the UAC refreshes');
    assert.equal(offers.length, 1);
    await sleep(1200);
    client.send(update(4, ['Supported: timer', 'Session-Expires: 1']));
    const tooSmall = await client.waitForResponse(422, 'UPDATE', p.callId);
    assert.equal(tooSmall.headers.get('min-se'), '2');
    client.send(update(5, ['Supported: timer', 'Session-Expires: 3;refresher=uac']));
    await client.waitForResponse(200, 'UPDATE', p.callId);
    await sleep(1200);
    assert.equal(client.count(isRequest('BYE', p.callId)), 0, 'refreshed in time: no BYE');

    // Then the caller stops refreshing: BYE ~2 s after the last refresh.
    const bye = await client.waitForRequest('BYE', p.callId, 3000);
    client.respondTo(bye);
    assert.equal(await dialog.ended, 'session-expired');
  });
});

describe('session timers against SIPp', () => {
  let signaling: BuiltinSignaling;
  let workDir: string;
  const ended: Promise<string>[] = [];

  before(async () => {
    const probe = spawnSync('sipp', ['-v'], { encoding: 'utf8' });
    if (probe.error)
      assert.fail(`sipp is not available (${probe.error.message}); install it: apt-get install -y sip-tester`);
    workDir = mkdtempSync(join(tmpdir(), 'sipp-timer-'));
    signaling = new BuiltinSignaling({ bindHost: '127.0.0.1', port: 0, ...SESSION });
    await signaling.start((call) => {
      ended.push(
        call.answer(ANSWER_SDP).then(
          (dialog) => dialog.ended,
          (err: Error) => `not answered: ${err.message}`,
        ),
      );
    });
  });

  after(async () => {
    await signaling?.stop();
    if (workDir) rmSync(workDir, { recursive: true, force: true });
  });

  const run = (scenario: string) =>
    runSipp(['-sf', join(SCENARIO_DIR, scenario), `127.0.0.1:${signaling.advertised.port}`, '-m', '1'], workDir);

  test('a caller that asks refresher=uac and never refreshes gets BYE; the dialog ends session-expired', async () => {
    const started = Date.now();
    const result = await run('uac-timer-no-refresh.xml');
    assert.equal(result.code, 0, `sipp failed:\n${result.output}`);
    assert.equal(await ended.at(-1), 'session-expired');
    const took = Date.now() - started;
    assert.ok(took >= 1800, `BYE after ${took} ms: before the interval's end minus a third`);
  });

  test('a caller refreshing by re-INVITE and UPDATE keeps the call past two intervals, then hangs up', async () => {
    const result = await run('uac-timer-refresh.xml');
    assert.equal(result.code, 0, `sipp failed:\n${result.output}`);
    assert.equal(await ended.at(-1), 'remote-bye');
  });
});

describe('session timers as UAC (placeCall to a raw UDP peer)', () => {
  let signaling: BuiltinSignaling;
  let peer: SipTestClient;

  before(async () => {
    signaling = new BuiltinSignaling({ bindHost: '127.0.0.1', port: 0, timers: TIMERS, ...SESSION });
    await signaling.start((call) => call.reject(603));
    peer = await SipTestClient.open(signaling.advertised.port);
  });

  after(async () => {
    peer.close();
    await signaling.stop();
  });

  const contact = (): string => `Contact: <sip:bob@127.0.0.1:${peer.port}>`;

  test('the INVITE offers a timer; a 422 is retried once with its Min-SE; the 2xx makes us the refresher (UPDATE)', async () => {
    const placing = signaling.placeCall({
      target: `sip:bob@127.0.0.1:${peer.port}`,
      from: { uri: 'sip:alice@example.com' },
      sdp: TEST_SDP,
    });
    const first = await peer.waitFor<ParsedRequest>(isRequest('INVITE'));
    assert.ok(first.headers.getAll('supported').includes('timer'));
    assert.equal(first.headers.get('session-expires'), '4', 'no refresher: the UAS chooses (RFC 4028 §7.1)');
    assert.equal(first.headers.get('min-se'), '2');
    reply(peer, first, 422, 'Session Interval Too Small', ['Min-SE: 6'], '', 'peer422');
    await peer.waitFor(isRequest('ACK', first.callId));

    const second = await peer.waitFor<ParsedRequest>(isRequest('INVITE', first.callId));
    assert.equal(second.cseq.seq, first.cseq.seq + 1);
    assert.equal(second.from.tag, first.from.tag);
    assert.equal(second.headers.get('session-expires'), '6');
    assert.equal(second.headers.get('min-se'), '6');
    reply(
      peer,
      second,
      200,
      'OK',
      [contact(), 'Allow: INVITE, ACK, BYE, UPDATE', 'Require: timer', 'Session-Expires: 6;refresher=uac'],
      ANSWER_SDP,
      'peer200',
    );
    const dialog = await placing;
    const answeredAt = Date.now();
    assert.deepEqual((dialog as unknown as SipDialog).sessionTimer, {
      intervalSec: 6,
      refresher: 'local',
      minSeSec: 6,
    });

    const refresh = await peer.waitFor<ParsedRequest>(isRequest('UPDATE', first.callId), 5000);
    const after = Date.now() - answeredAt;
    assert.ok(after >= 2700 && after < 4000, `refresh after ${after} ms, expected ~3000 (half of 6 s)`);
    assert.equal(refresh.headers.get('session-expires'), '6;refresher=uac');
    assert.equal(refresh.headers.get('min-se'), '6');
    reply(peer, refresh, 200, 'OK', [contact(), 'Session-Expires: 6;refresher=uac']);

    const hangup = dialog.hangup();
    peer.respondTo(await peer.waitFor<ParsedRequest>(isRequest('BYE', first.callId)));
    await hangup;
    assert.equal(await dialog.ended, 'local-bye');
  });

  test('a second 422 is not retried', async () => {
    const placing = signaling.placeCall({
      target: `sip:bob@127.0.0.1:${peer.port}`,
      from: { uri: 'sip:alice@example.com' },
      sdp: TEST_SDP,
    });
    const first = await peer.waitFor<ParsedRequest>(isRequest('INVITE'));
    reply(peer, first, 422, 'Session Interval Too Small', ['Min-SE: 6'], '', 'a');
    const second = await peer.waitFor<ParsedRequest>(isRequest('INVITE', first.callId));
    reply(peer, second, 422, 'Session Interval Too Small', ['Min-SE: 60'], '', 'b');
    await assert.rejects(placing, (err: { status?: number }) => err.status === 422);
    await sleep(300);
    assert.equal(peer.count(isRequest('INVITE', first.callId)), 2);
  });

  test('refresher=uas in the 2xx: the callee refreshes, and when it does not, we send BYE before expiry', async () => {
    const placing = signaling.placeCall({
      target: `sip:bob@127.0.0.1:${peer.port}`,
      from: { uri: 'sip:alice@example.com' },
      sdp: TEST_SDP,
    });
    const invite = await peer.waitFor<ParsedRequest>(isRequest('INVITE'));
    reply(
      peer,
      invite,
      200,
      'OK',
      [contact(), 'Require: timer', 'Session-Expires: 3;refresher=uas'],
      ANSWER_SDP,
      'peer',
    );
    const dialog = await placing;
    const answeredAt = Date.now();
    const bye = await peer.waitFor<ParsedRequest>(isRequest('BYE', invite.callId), 4000);
    const after = Date.now() - answeredAt;
    assert.ok(after >= 1800 && after < 2800, `BYE after ${after} ms, expected ~2000 (3 s - 1 s)`);
    peer.respondTo(bye);
    assert.equal(await dialog.ended, 'session-expired');
    const refreshes = peer.count(
      (m) => m.type === 'request' && m.callId === invite.callId && (m.method === 'UPDATE' || m.cseq.seq > 1),
    );
    assert.equal(refreshes, 1, 'only the BYE: not the refresher, we sent no refresh');
  });

  test('a 2xx without Session-Expires: no timer (RFC 4028 §7.4)', async () => {
    const placing = signaling.placeCall({
      target: `sip:bob@127.0.0.1:${peer.port}`,
      from: { uri: 'sip:alice@example.com' },
      sdp: TEST_SDP,
    });
    const invite = await peer.waitFor<ParsedRequest>(isRequest('INVITE'));
    reply(peer, invite, 200, 'OK', [contact()], ANSWER_SDP, 'peer');
    const dialog = await placing;
    assert.equal((dialog as unknown as SipDialog).sessionTimer, undefined);
    const hangup = dialog.hangup();
    peer.respondTo(await peer.waitFor<ParsedRequest>(isRequest('BYE', invite.callId)));
    await hangup;
  });
});

async function freeUdpPort(): Promise<number> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const { port } = socket.address();
  await new Promise<void>((resolve) => socket.close(() => resolve()));
  return port;
}

/** Runs sipp asynchronously (the SIP stack under test shares this event loop). */
async function runSipp(args: string[], cwd: string): Promise<{ code: number | null; output: string }> {
  const localPort = await freeUdpPort();
  const child = spawn('sipp', [...args, '-i', '127.0.0.1', '-p', String(localPort), '-nostdin', '-trace_err'], {
    cwd,
  });
  let output = '';
  child.stdout.on('data', (d: Buffer) => {
    output += d.toString();
  });
  child.stderr.on('data', (d: Buffer) => {
    output += d.toString();
  });
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  return { code, output: output.slice(-3000) };
}

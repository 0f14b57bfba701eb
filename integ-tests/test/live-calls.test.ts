import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { parseRtp, readPcapUdp } from '@sipms/media-node/media/pcap';
import { ApiClient } from '../src/api-client.js';
import { toneWav } from '../src/audio.js';
import { Baresip, soxStat } from '../src/baresip.js';
import { type LocalStack, startLocalStack } from '../src/local-stack.js';
import { freeSippMediaPort, freeUdpPort } from '../src/ports.js';
import { RtpCapture } from '../src/rtp-capture.js';
import { renderScenario, runSipp, scenario } from '../src/sipp.js';
import { WebhookServer } from '../src/webhook-server.js';

// Live-call control end to end: two media nodes sharing one control plane, SIPp as callers and called
// parties, REST commands that must reach the node holding the call.
const RTP_MIN = 36000;
const RTP_MAX = 36799;

describe('live calls and outbound IVR calls', () => {
  let stack: LocalStack;
  let hook: WebhookServer;
  let api: ApiClient;
  let domain: string;

  before(async () => {
    stack = await startLocalStack({ rtpPortMin: RTP_MIN, rtpPortMax: RTP_MAX, mediaNodes: 2 });
    assert.equal(stack.sipPorts.length, 2);
    hook = new WebhookServer();
    await hook.start();
    api = new ApiClient(stack.apiUrl);
    ({ domain } = await api.signup('Live Calls'));
    assert.equal((await api.call('PATCH', '/v1/tenant', { callbackUrl: hook.url })).status, 200);
    assert.equal((await api.call('PUT', '/v1/numbers/live')).status, 201);
    // The caller id the placed calls present must be one of the tenant's own numbers.
    assert.equal((await api.call('PUT', '/v1/numbers/+4930999')).status, 201);
  });

  after(async () => {
    await hook?.close();
    await stack?.stop();
    hook?.assertContract();
  });

  async function uas(name: string, values: Record<string, string | number>) {
    const port = await freeUdpPort();
    const xml = await renderScenario(name, values);
    const run = runSipp([
      '-sf',
      xml,
      '-p',
      String(port),
      '-i',
      '127.0.0.1',
      '-mp',
      String(await freeSippMediaPort()),
      '-m',
      '1',
      '-timeout',
      '40s',
    ]);
    await new Promise((r) => setTimeout(r, 300)); // SIPp binds its port
    return { uri: `sip:agent@127.0.0.1:${port}`, run };
  }

  test('placeivrcall: the called party is answered, its digit reaches dtmfParams, the service hangs up', async () => {
    hook.received.length = 0;
    hook.responder = (cb) => {
      if (cb.name !== 'getIvrCommand') return undefined;
      if (!cb.body.dtmfParams)
        return {
          body: {
            phrases: [{ format: 'silence', durationMs: 200 }],
            dtmf: { maxDigits: 1, firstDigitTimeoutMs: 8000 },
          },
        };
      return { body: { phrases: [{ format: 'tts', text: 'Thank you' }], hangup: true } };
    };
    const callee = await uas('uas-answer-dtmf.xml', { digit: 'dtmf_2833_5.pcap', wait: 1200 });
    const res = await api.call('POST', `/mediaservice/${domain}/placeivrcall`, {
      destination: callee.uri,
      callerId: '+4930999',
      timeoutSec: 10,
    });
    assert.equal(res.status, 200, JSON.stringify(res.json));
    assert.equal(res.json.success, true);
    const { sessionId, participantId } = res.json;
    const sipp = await callee.run;
    assert.equal(sipp.code, 0, `called party: ${sipp.errors}\n${stack.logs.slice(-10).join('\n')}`);
    const completed = await hook.waitFor('sessionCompleted', (cb) => cb.body.sessionId === sessionId);
    const names = hook.received.filter((c) => c.body.sessionId === sessionId).map((c) => c.name);
    assert.deepEqual(names, ['callNotify', 'callAnswered', 'getIvrCommand', 'getIvrCommand', 'sessionCompleted']);
    const ringing = hook.named('callNotify').find((c) => c.body.sessionId === sessionId)!;
    assert.equal(ringing.body.event, 'ringing');
    const second = hook.named('getIvrCommand').filter((c) => c.body.sessionId === sessionId)[1]!;
    assert.deepEqual(second.body.dtmfParams, { digits: '5', terminationKey: '', reason: 'maxDigits' });
    assert.equal(second.body.participantId, participantId);
    assert.equal(completed.body.reason, 'hangup');
    // The placed leg's SIP messages are journaled as its ladder, seen from our side: INVITE out … BYE out.
    const session = await api.call('GET', `/v1/sessions/${sessionId}`);
    const ladder = (
      session.json.journal as { kind: string; event?: string; messages?: { direction: string; firstLine: string }[] }[]
    ).find((e) => e.kind === 'sip' && e.event === 'messages');
    const lines = ladder?.messages?.map((m) => `${m.direction} ${m.firstLine.split(' ')[0]}`) ?? [];
    assert.equal(lines[0], 'out INVITE', JSON.stringify(lines));
    assert.ok(lines.includes('out ACK') && lines.includes('out BYE'), JSON.stringify(lines));
  });

  test('busy, failed and unanswered called parties are callEvents; an empty reply ends the session', async () => {
    for (const [scenarioName, values, event] of [
      ['uas-reject.xml', { status: 486 }, 'calledPartyBusy'],
      ['uas-reject.xml', { status: 503 }, 'calledPartyFailed'],
      ['uas-no-answer.xml', {}, 'calledPartyNoAnswer'],
    ] as const) {
      hook.responder = () => undefined;
      const callee = await uas(scenarioName, values);
      const res = await api.call('POST', `/mediaservice/${domain}/placeivrcall`, {
        destination: callee.uri,
        timeoutSec: 2,
      });
      assert.equal(res.status, 200);
      const cb = await hook.waitFor('callEvent', (c) => c.body.sessionId === res.json.sessionId);
      assert.equal(cb.body.event, event, scenarioName);
      const sipp = await callee.run;
      assert.equal(sipp.code, 0, `${scenarioName}: ${sipp.errors}`);
      const done = await hook.waitFor('sessionCompleted', (c) => c.body.sessionId === res.json.sessionId);
      assert.equal(done.body.reason, event);
    }
  });

  test('Idempotency-Key: the same placeivrcall sent twice places one call and answers the same', async () => {
    // The BYE must come after the called party's scripted digit, or SIPp calls it unexpected.
    hook.responder = (cb) =>
      cb.name === 'getIvrCommand'
        ? { body: { phrases: [{ format: 'silence', durationMs: 1500 }], hangup: true } }
        : undefined;
    const callee = await uas('uas-answer-dtmf.xml', { digit: 'dtmf_2833_1.pcap', wait: 100 });
    const body = { destination: callee.uri, timeoutSec: 10 };
    const headers = { 'idempotency-key': `place-${Date.now()}` };
    const [a, b] = [
      await api.call('POST', `/mediaservice/${domain}/placeivrcall`, body, headers),
      await api.call('POST', `/mediaservice/${domain}/placeivrcall`, body, headers),
    ];
    assert.deepEqual([a.status, b.status], [200, 200]);
    assert.deepEqual(b.json, a.json);
    const other = await api.call('POST', `/mediaservice/${domain}/placeivrcall`, { ...body, timeoutSec: 11 }, headers);
    assert.equal(other.status, 409, 'a reused key with another body');
    const calleeRun = await callee.run;
    assert.equal(
      calleeRun.code,
      0,
      `exactly one INVITE reached the called party (SIPp -m 1): ${calleeRun.errors}${calleeRun.stderr}`,
    );
    await hook.waitFor('sessionCompleted', (c) => c.body.sessionId === a.json.sessionId);
    assert.equal(hook.named('callAnswered').filter((c) => c.body.sessionId === a.json.sessionId).length, 1);
  });

  test('a REST command for a call held by the second node is executed there; then 409 and 404', async () => {
    hook.responder = (cb) => {
      if (cb.name === 'newCall') return { body: { action: 'ivr' } };
      if (cb.name === 'getIvrCommand')
        return { body: { phrases: [{ format: 'silence', durationMs: 30000 }], hangup: true } };
      return undefined;
    };
    const caller = runSipp([
      '-sf',
      scenario('uac-until-bye.xml'),
      '-s',
      'live',
      '-m',
      '1',
      '-timeout',
      '30s',
      `127.0.0.1:${stack.sipPorts[1]}`,
    ]);
    const cmd = await hook.waitFor(
      'getIvrCommand',
      (c) => !hook.named('sessionCompleted').some((d) => d.body.sessionId === c.body.sessionId),
    );
    const { sessionId, participantId } = cmd.body as { sessionId: string; participantId: string };
    const session = await api.call('GET', `/v1/sessions/${sessionId}`);
    assert.equal(session.json.nodeId, 'local-2');
    const t0 = Date.now();
    const hang = await api.call('POST', `/mediaservice/${domain}/hangupparticipant`, { sessionId, participantId });
    assert.equal(hang.status, 200, JSON.stringify(hang.json));
    const sipp = await caller;
    assert.equal(sipp.code, 0, `caller: ${sipp.errors}`);
    assert.ok(Date.now() - t0 < 10_000, 'the BYE came from the command, not from the 30 s phrase');
    await hook.waitFor('sessionCompleted', (c) => c.body.sessionId === sessionId);
    const again = await api.call('POST', `/mediaservice/${domain}/hangupparticipant`, { sessionId, participantId });
    assert.equal(again.status, 409);
    assert.equal(again.json.error.code, 'conflict');
    const unknown = await api.call('POST', `/mediaservice/${domain}/hangupparticipant`, {
      sessionId: 's-unknown',
      participantId,
    });
    assert.equal(unknown.status, 404);
  });

  test('interruptivrcommand stops the running command; the next getIvrCommand follows at once', async () => {
    let interrupted = false;
    hook.responder = (cb) => {
      if (cb.name === 'newCall') return { body: { action: 'ivr' } };
      if (cb.name === 'getIvrCommand' && !interrupted)
        return { body: { phrases: [{ format: 'silence', durationMs: 30000 }] } };
      if (cb.name === 'getIvrCommand') return { body: { hangup: true } };
      return undefined;
    };
    const caller = runSipp([
      '-sf',
      scenario('uac-until-bye.xml'),
      '-s',
      'live',
      '-m',
      '1',
      '-timeout',
      '30s',
      `127.0.0.1:${stack.sipPorts[0]}`,
    ]);
    const first = await hook.waitFor(
      'getIvrCommand',
      (c) => !hook.named('sessionCompleted').some((d) => d.body.sessionId === c.body.sessionId),
    );
    const { sessionId, participantId } = first.body as { sessionId: string; participantId: string };
    await new Promise((r) => setTimeout(r, 500));
    interrupted = true;
    const t0 = Date.now();
    const res = await api.call('POST', `/mediaservice/${domain}/interruptivrcommand`, { sessionId, participantId });
    assert.equal(res.status, 200);
    await hook.waitFor('getIvrCommand', (c) => c.body.sessionId === sessionId && c !== first);
    assert.ok(Date.now() - t0 < 5000);
    assert.equal((await caller).code, 0);
  });

  test('newCall {action:"call"}: caller and callee are bridged through rtpengine, media flows both ways', async () => {
    const callee = await uasWithMedia('uas-bridge.xml', {});
    hook.received.length = 0;
    hook.responder = (cb) =>
      cb.name === 'newCall' ? { body: { action: 'call', destination: callee.uri, timeoutSec: 10 } } : undefined;
    const callerMedia = await freeSippMediaPort();
    const atCaller = new RtpCapture(`udp and src portrange ${RTP_MIN}-${RTP_MAX} and dst port ${callerMedia}`);
    const atCallee = new RtpCapture(`udp and src portrange ${RTP_MIN}-${RTP_MAX} and dst port ${callee.mediaPort}`);
    await Promise.all([atCaller.ready(), atCallee.ready()]);
    const xml = await renderScenario('uac-bridge.xml', { talk: 5000 });
    const caller = await runSipp([
      '-sf',
      xml,
      '-s',
      'live',
      '-m',
      '1',
      '-mp',
      String(callerMedia),
      '-timeout',
      '30s',
      `127.0.0.1:${stack.sipPorts[0]}`,
    ]);
    const calleeRun = await callee.run;
    await Promise.all([atCaller.stop(), atCallee.stop()]);
    // The SIP side first: if a leg failed, its messages and the stack's log say why (not a missing callback).
    const said = () =>
      `\ncallbacks: ${hook.received.map((c) => c.name).join(', ')}\n${stack.logs.slice(-10).join('\n')}`;
    assert.equal(caller.code, 0, `caller: ${caller.errors}${said()}`);
    assert.equal(calleeRun.code, 0, `callee: ${calleeRun.errors}\n${calleeRun.messages.slice(-3000)}${said()}`);
    const done = await hook.waitFor('sessionCompleted');
    // Each side streamed ~4.5 s of SIPp's A-law sample (30 ms packets) before the caller hung up.
    const fromCallee = atCaller.packets().length;
    const fromCaller = atCallee.packets().length;
    console.log(`# bridged media: ${fromCaller} packets caller→callee, ${fromCallee} callee→caller`);
    assert.ok(fromCaller > 100, `caller → callee packets: ${fromCaller}`);
    assert.ok(fromCallee > 100, `callee → caller packets: ${fromCallee}`);
    const names = hook.received
      .filter((c) => c.body.sessionId === done.body.sessionId)
      .map((c) => `${c.name}:${c.body.event ?? ''}`);
    assert.deepEqual(names, [
      'newCall:',
      'callNotify:ringing',
      'callAnswered:',
      'callAnswered:',
      'callEvent:callingPartyDrop',
      'sessionCompleted:',
    ]);
    assert.equal(done.body.reason, 'callingPartyDrop');
  });

  test('newCall {action:"call"} to a busy callee: callEvent calledPartyBusy, and {} gets the caller a 486', async () => {
    const callee = await uas('uas-reject.xml', { status: 486 });
    hook.responder = (cb) =>
      cb.name === 'newCall' ? { body: { action: 'call', destination: callee.uri } } : undefined;
    const xml = await renderScenario('uac-expect-status.xml', { status: 486 });
    const caller = await runSipp([
      '-sf',
      xml,
      '-s',
      'live',
      '-m',
      '1',
      '-timeout',
      '20s',
      `127.0.0.1:${stack.sipPorts[0]}`,
    ]);
    assert.equal(caller.code, 0, `caller: ${caller.errors}`);
    assert.equal((await callee.run).code, 0);
    const ev = await hook.waitFor('callEvent', (c) => c.body.event === 'calledPartyBusy');
    const done = await hook.waitFor('sessionCompleted', (c) => c.body.sessionId === ev.body.sessionId);
    assert.equal(done.body.reason, 'calledPartyBusy');
  });

  test('/connect bridges a caller and an agent placed into the session; /splitconnection returns them to IVR', async () => {
    // Both SIPp sides stream the same sample, so its SSRC arriving at one side proves it came from the other.
    const sampleSsrc = parseRtp(readPcapUdp(readFileSync('/usr/share/sip-tester/g711a.pcap'))[0]!.payload)!.ssrc;
    const waitForDigit = { body: { dtmf: { maxDigits: 1, firstDigitTimeoutMs: 60000 } } };
    const split = new Map<string, string>();
    hook.received.length = 0;
    hook.responder = (cb) => {
      if (cb.name === 'newCall') return { body: { action: 'ivr' } };
      if (cb.name === 'getIvrCommand') return split.size ? { body: { hangup: true } } : waitForDigit;
      if (cb.name === 'callEvent' && cb.body.event === 'connectionSplit') {
        split.set(cb.body.participantId as string, 'split');
        return cb.body.participantId === agentId ? { body: { action: 'drop' } } : { body: {} };
      }
      return undefined;
    };
    let agentId = '';
    const callerMedia = await freeSippMediaPort();
    const caller = runSipp([
      '-sf',
      scenario('uac-stream-until-bye.xml'),
      '-s',
      'live',
      '-m',
      '1',
      '-mp',
      String(callerMedia),
      '-timeout',
      '60s',
      `127.0.0.1:${stack.sipPorts[0]}`,
    ]);
    const first = await hook.waitFor('getIvrCommand');
    const { sessionId, participantId: callerId } = first.body as { sessionId: string; participantId: string };
    const agent = await uasWithMedia('uas-bridge.xml', {});
    const placed = await api.call('POST', `/mediaservice/${domain}/placeivrcall`, {
      destination: agent.uri,
      sessionId,
    });
    assert.equal(placed.status, 200, JSON.stringify(placed.json));
    assert.equal(placed.json.sessionId, sessionId, "the agent joins the caller's session");
    agentId = placed.json.participantId;
    await hook.waitFor('getIvrCommand', (c) => c.body.participantId === agentId);

    const atCaller = new RtpCapture(`udp and src portrange ${RTP_MIN}-${RTP_MAX} and dst port ${callerMedia}`);
    const atAgent = new RtpCapture(`udp and src portrange ${RTP_MIN}-${RTP_MAX} and dst port ${agent.mediaPort}`);
    await Promise.all([atCaller.ready(), atAgent.ready()]);
    const connected = await api.call('POST', `/mediaservice/${domain}/connect`, {
      sessionId,
      participantIds: [callerId, agentId],
    });
    assert.equal(connected.status, 200, JSON.stringify(connected.json));
    const { connectionId } = connected.json;
    await new Promise((r) => setTimeout(r, 2000));
    await Promise.all([atCaller.stop(), atAgent.stop()]);
    const fromAgent = atCaller.packets().filter((p) => p.rtp?.ssrc === sampleSsrc).length;
    const fromCaller = atAgent.packets().filter((p) => p.rtp?.ssrc === sampleSsrc).length;
    console.log(`# connected media: ${fromCaller} packets caller→agent, ${fromAgent} agent→caller`);
    assert.ok(fromCaller > 20, `caller → agent: ${fromCaller}`);
    assert.ok(fromAgent > 20, `agent → caller: ${fromAgent}`);
    assert.equal(
      (await api.call('POST', `/mediaservice/${domain}/connect`, { sessionId, participantIds: [callerId, agentId] }))
        .status,
      409,
    );

    // Record the conversation: both parties mixed into one prompt file of the tenant.
    const start = await api.call('POST', `/mediaservice/${domain}/startrecording`, { sessionId, connectionId });
    assert.equal(start.status, 200, JSON.stringify(start.json));
    await new Promise((r) => setTimeout(r, 2500));
    assert.equal(
      (await api.call('POST', `/mediaservice/${domain}/stoprecording`, { sessionId, connectionId })).status,
      200,
    );
    const ready = await hook.waitFor(
      'callNotify',
      (c) => c.body.sessionId === sessionId && c.body.event === 'recordingReady',
    );
    const file = await fetch(`${stack.apiUrl}/mediaservice/${domain}/promptfile/${ready.body.reason}`, {
      headers: { authorization: `Bearer ${api.apiKey}` },
    });
    assert.equal(file.status, 200);
    const wav = Buffer.from(await file.arrayBuffer());
    assert.equal(wav.toString('ascii', 0, 4), 'RIFF');
    const seconds = (wav.length - 44) / 16000;
    console.log(`# connection recording: ${seconds.toFixed(2)} s`);
    // Recordings follow the wall clock between the two commands, each of which waits for the node's inbox poll
    // (a loaded machine may deliver the start a second later than the stop).
    assert.ok(seconds >= 1.5 && seconds < 6, `recording length ${seconds} s`);

    const res = await api.call('POST', `/mediaservice/${domain}/splitconnection`, { sessionId, connectionId });
    assert.equal(res.status, 200, JSON.stringify(res.json));
    const agentRun = await agent.run;
    assert.equal(agentRun.code, 0, `agent: ${agentRun.errors}`);
    const callerRun = await caller;
    assert.equal(callerRun.code, 0, `caller: ${callerRun.errors}\n${stack.logs.slice(-10).join('\n')}`);
    assert.deepEqual([...split.keys()].sort(), [callerId, agentId].sort(), 'connectionSplit for each participant');
    await hook.waitFor('sessionCompleted', (c) => c.body.sessionId === sessionId);
    assert.equal(
      (await api.call('POST', `/mediaservice/${domain}/splitconnection`, { sessionId, connectionId })).status,
      409,
    );
    assert.equal(
      (await api.call('POST', `/mediaservice/${domain}/splitconnection`, { sessionId, connectionId: 'c-unknown' }))
        .status,
      404,
    );
  });

  test('callEvent calledPartyAnswered → {action:"bridge"} connects the agent; its hang-up ends the caller by default', async () => {
    const sampleSsrc = parseRtp(readPcapUdp(readFileSync('/usr/share/sip-tester/g711a.pcap'))[0]!.payload)!.ssrc;
    let callerId = '';
    hook.received.length = 0;
    hook.responder = (cb) => {
      if (cb.name === 'newCall') return { body: { action: 'ivr' } };
      if (cb.name === 'getIvrCommand') return { body: { dtmf: { maxDigits: 1, firstDigitTimeoutMs: 60000 } } };
      if (cb.name === 'callEvent' && cb.body.event === 'calledPartyAnswered') {
        return { body: { action: 'bridge', participantIds: [callerId, cb.body.participantId] } };
      }
      return undefined;
    };
    const callerMedia = await freeSippMediaPort();
    const caller = runSipp([
      '-sf',
      scenario('uac-stream-until-bye.xml'),
      '-s',
      'live',
      '-m',
      '1',
      '-mp',
      String(callerMedia),
      '-timeout',
      '60s',
      `127.0.0.1:${stack.sipPorts[1]}`,
    ]);
    const first = await hook.waitFor('getIvrCommand');
    const sessionId = first.body.sessionId as string;
    callerId = first.body.participantId as string;
    const agent = await uasWithMedia('uas-bridge.xml', {});
    const atCaller = new RtpCapture(`udp and src portrange ${RTP_MIN}-${RTP_MAX} and dst port ${callerMedia}`);
    await atCaller.ready();
    const placed = await api.call('POST', `/mediaservice/${domain}/placeivrcall`, {
      destination: agent.uri,
      sessionId,
    });
    assert.equal(placed.status, 200);
    const agentId = placed.json.participantId as string;
    await hook.waitFor('callEvent', (c) => c.body.event === 'calledPartyAnswered');
    await new Promise((r) => setTimeout(r, 2000));
    await atCaller.stop();
    const fromAgent = atCaller.packets().filter((p) => p.rtp?.ssrc === sampleSsrc).length;
    assert.ok(fromAgent > 20, `agent → caller packets: ${fromAgent}`);
    assert.equal(
      hook.named('getIvrCommand').filter((c) => c.body.participantId === agentId).length,
      0,
      'the agent never entered IVR',
    );
    const hang = await api.call('POST', `/mediaservice/${domain}/hangupparticipant`, {
      sessionId,
      participantId: agentId,
    });
    assert.equal(hang.status, 200);
    assert.equal((await agent.run).code, 0);
    const callerRun = await caller;
    assert.equal(callerRun.code, 0, `caller: ${callerRun.errors}`);
    const drop = await hook.waitFor('callEvent', (c) => c.body.event === 'calledPartyDrop');
    assert.equal(drop.body.participantId, agentId);
    await hook.waitFor('sessionCompleted', (c) => c.body.sessionId === sessionId);
  });

  test('placeivrcall to a real softphone (baresip, auto-answer): it hears the prompt', async () => {
    const up = await api.call('PUT', `/mediaservice/${domain}/promptfile/agent-greeting`, toneWav(2000, 600, 0.5));
    assert.equal(up.status, 200);
    const phone = new Baresip();
    try {
      await phone.start({ sourceWav: toneWav(30_000, 1000, 0.3), rtpPorts: [38900, 38999], autoAnswer: true });
      hook.responder = (cb) =>
        cb.name === 'getIvrCommand'
          ? { body: { phrases: [{ format: 'file', fileName: 'agent-greeting' }], hangup: true } }
          : undefined;
      const res = await api.call('POST', `/mediaservice/${domain}/placeivrcall`, { destination: phone.uri });
      assert.equal(res.status, 200);
      await phone.waitFor('CALL_ESTABLISHED');
      await phone.waitFor('CALL_CLOSED', 15_000);
      await hook.waitFor('sessionCompleted', (c) => c.body.sessionId === res.json.sessionId);
      const heard = await phone.heardFile();
      assert.ok(heard, 'baresip recorded the call');
      const stat = soxStat(heard);
      console.log(`# softphone heard ${stat.seconds.toFixed(2)} s at RMS ${stat.rms.toFixed(3)}`);
      assert.ok(stat.seconds > 1.5, `length ${stat.seconds}`);
      assert.ok(stat.rms > 0.1, `the 600 Hz prompt was heard (RMS ${stat.rms})`);
    } finally {
      await phone.stop();
    }
  });

  test("a number goes through the tenant's outbound trunk, with digest credentials stored encrypted", async () => {
    const trunkPort = await freeUdpPort();
    const set = await api.call('PATCH', '/v1/tenant', {
      outboundTrunk: {
        host: '127.0.0.1',
        port: trunkPort,
        transport: 'udp',
        username: 'alice',
        password: 'conformance-secret',
      },
    });
    assert.equal(set.status, 200, JSON.stringify(set.json));
    assert.deepEqual(set.json.outboundTrunk, {
      host: '127.0.0.1',
      port: trunkPort,
      transport: 'udp',
      username: 'alice',
      hasPassword: true,
    });
    const shown = await api.call('GET', '/v1/tenant');
    assert.equal(JSON.stringify(shown.json).includes('conformance-secret'), false, 'the password is never shown');
    // At rest: nowhere in the database files in the clear.
    const { execFileSync } = await import('node:child_process');
    const found = execFileSync('sh', ['-c', `grep -rl conformance-secret ${stack.dataDir}/dynamodb || true`])
      .toString()
      .trim();
    assert.equal(found, '', 'the password is stored sealed');

    const trunk = runSipp([
      '-sf',
      scenario('conformance/uas-digest.xml'),
      '-p',
      String(trunkPort),
      '-i',
      '127.0.0.1',
      '-mp',
      String(await freeSippMediaPort()),
      '-m',
      '1',
      '-timeout',
      '30s',
    ]);
    await new Promise((r) => setTimeout(r, 300));
    hook.responder = (cb) =>
      cb.name === 'newCall' ? { body: { action: 'call', destination: '+4930555000' } } : undefined;
    const xml = await renderScenario('uac-bridge.xml', { talk: 1500 });
    const caller = await runSipp([
      '-sf',
      xml,
      '-s',
      'live',
      '-m',
      '1',
      '-mp',
      String(await freeSippMediaPort()),
      '-timeout',
      '30s',
      `127.0.0.1:${stack.sipPorts[0]}`,
    ]);
    const trunkRun = await trunk;
    assert.equal(caller.code, 0, `caller: ${caller.errors}\n${stack.logs.slice(-10).join('\n')}`);
    assert.equal(trunkRun.code, 0, `trunk (verifies the digest with the stored password): ${trunkRun.errors}`);
    assert.match(trunkRun.messages, /INVITE sip:%2B4930555000@127\.0\.0\.1|INVITE sip:\+4930555000@127\.0\.0\.1/);
    assert.equal((await api.call('PATCH', '/v1/tenant', { outboundTrunk: null })).json.outboundTrunk, null);
  });

  test('/startrecording by replyId records that participant; /stoprecording stores it', async () => {
    hook.received.length = 0;
    hook.responder = (cb) => {
      if (cb.name === 'newCall') return { body: { action: 'ivr' } };
      if (cb.name === 'getIvrCommand') return { body: { dtmf: { maxDigits: 1, firstDigitTimeoutMs: 60000 } } };
      return undefined;
    };
    const caller = runSipp([
      '-sf',
      scenario('uac-stream-until-bye.xml'),
      '-s',
      'live',
      '-m',
      '1',
      '-mp',
      String(await freeSippMediaPort()),
      '-timeout',
      '40s',
      `127.0.0.1:${stack.sipPorts[0]}`,
    ]);
    const cmd = await hook.waitFor('getIvrCommand');
    const { sessionId, replyId, participantId } = cmd.body as {
      sessionId: string;
      replyId: string;
      participantId: string;
    };
    assert.equal(
      (await api.call('POST', `/mediaservice/${domain}/startrecording`, { sessionId, replyId })).status,
      200,
    );
    // Both commands travel through the node's inbox; under load each can take a while, so the window is wide.
    await new Promise((r) => setTimeout(r, 3000));
    assert.equal((await api.call('POST', `/mediaservice/${domain}/stoprecording`, { sessionId, replyId })).status, 200);
    const ready = await hook.waitFor(
      'callNotify',
      (c) => c.body.event === 'recordingReady' && c.body.sessionId === sessionId,
    );
    assert.equal(ready.body.participantId, participantId);
    const file = await fetch(`${stack.apiUrl}/mediaservice/${domain}/promptfile/${ready.body.reason}`, {
      headers: { authorization: `Bearer ${api.apiKey}` },
    });
    const wav = Buffer.from(await file.arrayBuffer());
    const seconds = (wav.length - 44) / 16000;
    assert.ok(seconds > 1.5 && seconds < 5, `recording length ${seconds} s`);
    assert.equal(
      (await api.call('POST', `/mediaservice/${domain}/hangupparticipant`, { sessionId, participantId })).status,
      200,
    );
    assert.equal((await caller).code, 0);
  });

  async function uasWithMedia(name: string, values: Record<string, string | number>) {
    const port = await freeUdpPort();
    const mediaPort = await freeSippMediaPort();
    const xml = await renderScenario(name, values);
    const run = runSipp([
      '-sf',
      xml,
      '-p',
      String(port),
      '-i',
      '127.0.0.1',
      '-mp',
      String(mediaPort),
      '-m',
      '1',
      '-timeout',
      '40s',
    ]);
    await new Promise((r) => setTimeout(r, 300));
    return { uri: `sip:agent@127.0.0.1:${port}`, mediaPort, run };
  }
});

describe('per-tenant call limits', () => {
  test('over the concurrent-call limit: SIP 503 naming it, REST 429 naming it; over the call rate: 429', async () => {
    const stack = await startLocalStack({
      rtpPortMin: 36800,
      rtpPortMax: 36999,
      env: { TENANT_MAX_CONCURRENT_CALLS: '1', TENANT_CALLS_PER_SECOND: '3' },
    });
    const hook = new WebhookServer((cb) => {
      if (cb.name === 'newCall') return { body: { action: 'ivr' } };
      if (cb.name === 'getIvrCommand')
        return { body: { phrases: [{ format: 'silence', durationMs: 4000 }], hangup: true } };
      return undefined;
    });
    try {
      await hook.start();
      const api = new ApiClient(stack.apiUrl);
      const { domain } = await api.signup('Limited');
      await api.call('PATCH', '/v1/tenant', { callbackUrl: hook.url });
      await api.call('PUT', '/v1/numbers/limited');
      const first = runSipp([
        '-sf',
        scenario('uac-until-bye.xml'),
        '-s',
        'limited',
        '-m',
        '1',
        '-timeout',
        '30s',
        `127.0.0.1:${stack.sipPort}`,
      ]);
      await hook.waitFor('getIvrCommand');
      const second = await runSipp([
        '-sf',
        await renderScenario('uac-expect-status.xml', { status: 503 }),
        '-s',
        'limited',
        '-m',
        '1',
        '-timeout',
        '10s',
        `127.0.0.1:${stack.sipPort}`,
      ]);
      assert.equal(second.code, 0, `second caller: ${second.errors}`);
      assert.match(second.messages, /SIP\/2\.0 503 Service Unavailable \(at most 1 simultaneous calls\)/);
      const placed = await api.call('POST', `/mediaservice/${domain}/placeivrcall`, {
        destination: 'sip:x@127.0.0.1:9',
      });
      assert.equal(placed.status, 429);
      assert.equal(placed.json.error.code, 'rate_limited');
      assert.equal(placed.json.error.limit, 1);
      assert.equal((await first).code, 0);
      // The call rate: 3 attempts per second; 10 at once cannot all fit in one or two windows.
      const burst = await Promise.all(
        Array.from({ length: 10 }, () =>
          api.call('POST', `/mediaservice/${domain}/placeivrcall`, { destination: 'sip:x@127.0.0.1:9' }),
        ),
      );
      const limited = burst.filter((r) => r.status === 429 && /at most 3 per 1 s/.test(r.json.error.message));
      assert.ok(limited.length >= 4, `statuses: ${burst.map((r) => r.status).join(',')}`);
    } finally {
      await hook.close();
      await stack.stop();
    }
    hook.assertContract();
  });
});

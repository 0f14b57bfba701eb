import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { verifySignature } from '@sipms/shared/signing';
import { ApiClient } from '../src/api-client.js';
import { type LocalStack, startLocalStack } from '../src/local-stack.js';
import { freeSippMediaPort } from '../src/ports.js';
import { RtpCapture } from '../src/rtp-capture.js';
import { runSipp, scenario } from '../src/sipp.js';
import { WebhookServer } from '../src/webhook-server.js';

// Callback delivery end to end: real calls (SIPp), real webhooks, the stack as `npm start` runs it.
const RTP_MIN = 35000;
const RTP_MAX = 35399;

describe('callback delivery', () => {
  let stack: LocalStack;
  let hook: WebhookServer;
  let fallbackHook: WebhookServer;
  let api: ApiClient;
  let secret: string;

  before(async () => {
    stack = await startLocalStack({ rtpPortMin: RTP_MIN, rtpPortMax: RTP_MAX });
    hook = new WebhookServer();
    fallbackHook = new WebhookServer();
    await hook.start();
    await fallbackHook.start();
    api = new ApiClient(stack.apiUrl);
    ({ signingSecret: secret } = await api.signup('Delivery'));
    const patch = await api.call('PATCH', '/v1/tenant', {
      callbackUrl: hook.url,
      fallbackUrl: fallbackHook.url,
      callbackTimeoutMs: 300,
      callbackRetries: 1,
    });
    assert.equal(patch.status, 200, JSON.stringify(patch.json));
    assert.equal((await api.call('PUT', '/v1/numbers/delivery')).status, 201);
  });

  after(async () => {
    await hook?.close();
    await fallbackHook?.close();
    await stack?.stop();
    hook?.assertContract();
    fallbackHook?.assertContract();
  });

  test('slow webhook: retry with the same event id, fallback URL, then the defined fallback — the caller hears it', async () => {
    hook.responder = (cb) => {
      if (cb.name === 'newCall') return { body: { action: 'ivr' } };
      if (cb.name === 'getIvrCommand') return { delayMs: 800, body: { phrases: [] } };
      return undefined;
    };
    fallbackHook.responder = (cb) => (cb.name === 'getIvrCommand' ? { delayMs: 800 } : undefined);
    const mediaPort = await freeSippMediaPort();
    const capture = new RtpCapture(`udp and src portrange ${RTP_MIN}-${RTP_MAX} and dst port ${mediaPort}`);
    await capture.ready();
    const sipp = await runSipp([
      '-sf',
      scenario('uac-until-bye.xml'),
      '-s',
      'delivery',
      '-m',
      '1',
      '-mp',
      String(mediaPort),
      '-timeout',
      '30s',
      `${stack.sipHost}:${stack.sipPort}`,
    ]);
    const completed = await hook.waitFor('sessionCompleted');
    await capture.stop();
    assert.equal(sipp.code, 0, `SIPp: ${sipp.errors}\n${stack.logs.slice(-10).join('\n')}`);

    const attempts = hook.named('getIvrCommand');
    assert.equal(attempts.length, 2, 'first attempt and one retry');
    assert.equal(attempts[0]!.headers['x-mediaserver-event-id'], attempts[1]!.headers['x-mediaserver-event-id']);
    assert.deepEqual(
      attempts.map((a) => a.headers['x-mediaserver-attempt']),
      ['1', '2'],
    );
    const viaFallback = fallbackHook.named('getIvrCommand');
    assert.equal(viaFallback.length, 1);
    assert.equal(viaFallback[0]!.headers['x-mediaserver-attempt'], '3');
    // The defined fallback is an apology, then BYE: not silence.
    assert.ok(capture.packets().length > 50, `RTP packets of the fallback message: ${capture.packets().length}`);
    assert.equal(completed.body.reason, 'hangup');

    const journal = await api.call('GET', `/v1/sessions/${completed.body.sessionId}`);
    assert.equal(journal.status, 200);
    const entry = journal.json.journal.find(
      (e: { kind: string; callback?: string }) => e.kind === 'callback' && e.callback === 'getIvrCommand',
    );
    assert.equal(entry.fallback, true);
    assert.match(entry.reason, /callbackUrl: timeout after 300 ms; fallbackUrl: timeout after 300 ms/);
    assert.equal(entry.attempts.length, 3);

    // The other tests want no retries: a 300 ms timeout would turn a loaded machine's slow round trip into a
    // second POST. The dispatcher keeps tenant settings for up to 2 s.
    const patched = await api.call('PATCH', '/v1/tenant', { callbackTimeoutMs: 5000 });
    assert.equal(patched.status, 200, JSON.stringify(patched.json));
    await new Promise((r) => setTimeout(r, 2100));
  });

  test('per-session order: concurrent calls, a webhook with jittered latency, seq strictly increasing per session', async () => {
    hook.received.length = 0;
    hook.responder = (cb) => {
      const delayMs = Math.floor(Math.random() * 40);
      if (cb.name === 'newCall') return { delayMs, body: { action: 'ivr' } };
      if (cb.name === 'getIvrCommand' && !cb.body.dtmfParams) {
        // A missing prompt: ivrFailed (a notification) is sent while the command goes on.
        return {
          delayMs,
          body: {
            phrases: [
              { format: 'file', fileName: 'missing' },
              { format: 'silence', durationMs: 200 },
            ],
            hangup: true,
          },
        };
      }
      return { delayMs };
    };
    const sipp = await runSipp([
      '-sf',
      scenario('uac-until-bye.xml'),
      '-s',
      'delivery',
      '-m',
      '6',
      '-l',
      '6',
      '-r',
      '6',
      '-timeout',
      '40s',
      `${stack.sipHost}:${stack.sipPort}`,
    ]);
    assert.equal(sipp.code, 0, `SIPp: ${sipp.errors}`);
    // sessionCompleted is each session's last callback: once all six are in, every list is complete.
    const deadline = Date.now() + 20_000;
    while (hook.named('sessionCompleted').length < 6 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 50));
    const bySession = new Map<string, { name: string; seq: number }[]>();
    for (const cb of hook.received) {
      const list = bySession.get(cb.body.sessionId as string) ?? [];
      list.push({ name: cb.name, seq: cb.body.seq as number });
      bySession.set(cb.body.sessionId as string, list);
    }
    assert.equal(bySession.size, 6);
    for (const [sessionId, list] of bySession) {
      const seqs = list.map((c) => c.seq);
      assert.deepEqual(
        seqs,
        [...seqs].sort((a, b) => a - b),
        `session ${sessionId} arrived out of order: ${JSON.stringify(list)}`,
      );
      assert.deepEqual(
        list.map((c) => c.name),
        ['newCall', 'callAnswered', 'getIvrCommand', 'callNotify', 'sessionCompleted'],
      );
    }
  });

  test("one trace per call: every callback carries a W3C traceparent of the call's trace, shown in the journal", async () => {
    hook.received.length = 0;
    hook.responder = (cb) => {
      if (cb.name === 'newCall') return { body: { action: 'ivr' } };
      if (cb.name === 'getIvrCommand')
        return { body: { phrases: [{ format: 'silence', durationMs: 200 }], hangup: true } };
      return undefined;
    };
    const sipp = await runSipp([
      '-sf',
      scenario('uac-until-bye.xml'),
      '-s',
      'delivery',
      '-m',
      '2',
      '-r',
      '2',
      '-timeout',
      '30s',
      `${stack.sipHost}:${stack.sipPort}`,
    ]);
    assert.equal(sipp.code, 0, `SIPp: ${sipp.errors}`);
    await hook.waitFor(
      'sessionCompleted',
      () => hook.received.filter((c) => c.name === 'sessionCompleted').length >= 2,
    );
    const traceOf = new Map<string, Set<string>>();
    const spans = new Set<string>();
    for (const cb of hook.received) {
      const header = cb.headers.traceparent;
      assert.match(String(header), /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/, `${cb.name} traceparent`);
      const [, traceId, spanId] = String(header).split('-');
      const set = traceOf.get(cb.body.sessionId as string) ?? new Set();
      set.add(traceId!);
      traceOf.set(cb.body.sessionId as string, set);
      spans.add(spanId!);
    }
    assert.equal(traceOf.size, 2);
    for (const [sessionId, ids] of traceOf)
      assert.equal(ids.size, 1, `session ${sessionId}: one trace, got ${[...ids]}`);
    const [a, b] = [...traceOf.values()].map((ids) => [...ids][0]);
    assert.notEqual(a, b, 'each call its own trace');
    assert.equal(spans.size, hook.received.length, 'each delivery its own span');
    for (const [sessionId, ids] of traceOf) {
      const traceId = [...ids][0];
      const res = await api.call('GET', `/v1/sessions/${sessionId}`);
      assert.equal(res.status, 200);
      const journal = res.json.journal as { kind: string; traceId?: string; traceparent?: string }[];
      const callbacks = journal.filter((e) => e.kind === 'callback');
      assert.ok(callbacks.length >= 4, `callback entries: ${callbacks.length}`);
      for (const e of callbacks) assert.equal(e.traceId, traceId, 'journaled callback shows the trace id');
      const sent = hook.received.filter((cb) => cb.body.sessionId === sessionId).map((cb) => cb.headers.traceparent);
      for (const e of callbacks) assert.ok(sent.includes(e.traceparent), 'the journal names the traceparent sent');
      // The caller's SIP messages, as one entry: a ladder of the call.
      const ladder = journal.find((e) => e.kind === 'sip' && (e as { event?: string }).event === 'messages') as
        | { callId: string; messages: { direction: string; firstLine: string; headers: Record<string, string> }[] }
        | undefined;
      assert.ok(ladder, `a sip messages entry: ${JSON.stringify(journal.map((e) => e.kind))}`);
      // A request by its method, a response by its status.
      const lines = ladder.messages.map(
        (m) =>
          `${m.direction} ${m.firstLine
            .split(' ')
            .slice(0, m.firstLine.startsWith('SIP/') ? 2 : 1)
            .join(' ')}`,
      );
      const inOrder = ['in INVITE', 'out SIP/2.0 100', 'out SIP/2.0 200', 'in ACK', 'out BYE', 'in SIP/2.0 200'];
      let at = -1;
      for (const step of inOrder) {
        const found = lines.indexOf(step, at + 1);
        assert.ok(found > at, `${step} after the previous step in ${JSON.stringify(lines)}`);
        at = found;
      }
      assert.match(ladder.messages[0]!.headers.CSeq ?? '', /^1 INVITE$/);
      assert.ok(ladder.messages[0]!.headers.From?.includes('tag='), 'the From tag is kept');
      assert.ok(
        journal.some((e) => e.kind === 'sip' && e.traceId === traceId),
        "the node's own entries carry the trace id too",
      );
    }

    // The spans (OpenTelemetry; `npm start` exports them as JSON lines under <DATA_DIR>/traces/, a file per
    // process): for each call one `session` span on the node; per callback a `callback <type>` span under it
    // (publish → reply) and, in the control plane, the dispatcher's `webhook <type>` span under that one, whose
    // traceparent is the header the tenant received.
    interface SpanLine {
      name: string;
      traceId: string;
      spanId: string;
      parentSpanId?: string;
      service: string;
      kind: string;
      status: string;
    }
    const readSpans = async (): Promise<SpanLine[]> => {
      const dir = join(stack.dataDir, 'traces');
      const files = await readdir(dir).catch(() => [] as string[]);
      const lines = await Promise.all(files.map((f) => readFile(join(dir, f), 'utf8')));
      return lines
        .join('')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as SpanLine);
    };
    const sessionIds = [...traceOf.keys()];
    let recorded: SpanLine[] = [];
    // Spans are exported in batches, at most a second after they end (each process its own file).
    for (let i = 0; i < 50; i++) {
      recorded = await readSpans();
      const ours = recorded.filter((sp) => [...traceOf.values()].some((t) => t.has(sp.traceId)));
      const roots = ours.filter((sp) => sp.name === 'session').length;
      const webhooks = ours.filter((sp) => sp.name.startsWith('webhook ')).length;
      if (roots === 2 && webhooks >= hook.received.length) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    for (const sessionId of sessionIds) {
      const traceId = [...traceOf.get(sessionId)!][0]!;
      const inTrace = recorded.filter((sp) => sp.traceId === traceId);
      const root = inTrace.filter((sp) => sp.name === 'session');
      assert.equal(root.length, 1, `one session span in ${JSON.stringify(inTrace.map((sp) => sp.name))}`);
      assert.equal(root[0]!.service, 'media-node');
      assert.equal(root[0]!.kind, 'server');
      assert.equal(root[0]!.parentSpanId, undefined, 'the session span starts the trace');
      for (const cb of hook.received.filter((c) => c.body.sessionId === sessionId)) {
        const [, , sentSpan] = String(cb.headers.traceparent).split('-');
        const webhook = inTrace.find((sp) => sp.spanId === sentSpan);
        assert.ok(webhook, `${cb.name}: the dispatcher's span whose traceparent the tenant got`);
        assert.equal(webhook.name, `webhook ${cb.name}`);
        assert.equal(webhook.service, 'control-plane');
        assert.equal(webhook.kind, 'client');
        const callback = inTrace.find((sp) => sp.spanId === webhook.parentSpanId);
        assert.ok(callback, `${cb.name}: the webhook span's parent is on the node`);
        assert.equal(callback.name, `callback ${cb.name}`);
        assert.equal(callback.service, 'media-node');
        assert.equal(callback.parentSpanId, root[0]!.spanId, `${cb.name}: a child of the session span`);
      }
    }
  });

  test('a rotated signing secret: callbacks carry both signatures; the old and the new secret verify', async () => {
    const rotated = await api.call('POST', '/v1/tenant/signing-secrets');
    assert.equal(rotated.status, 201, JSON.stringify(rotated.json));
    const fresh = rotated.json.signingSecret as string;
    assert.notEqual(fresh, secret);
    // The dispatcher keeps a tenant for at most 2 s (docs/callback-delivery.md).
    await new Promise((r) => setTimeout(r, 2100));
    hook.received.length = 0;
    hook.responder = (cb) => {
      if (cb.name === 'newCall') return { body: { action: 'ivr' } };
      if (cb.name === 'getIvrCommand')
        return { body: { phrases: [{ format: 'silence', durationMs: 200 }], hangup: true } };
      return undefined;
    };
    const sipp = await runSipp([
      '-sf',
      scenario('uac-until-bye.xml'),
      '-s',
      'delivery',
      '-m',
      '1',
      '-timeout',
      '30s',
      `${stack.sipHost}:${stack.sipPort}`,
    ]);
    assert.equal(sipp.code, 0, sipp.errors);
    await hook.waitFor('sessionCompleted');
    assert.ok(hook.received.length >= 4);
    for (const cb of hook.received) {
      const header = cb.headers['x-mediaserver-signature']!;
      assert.equal(header.split(',').filter((p) => p.startsWith('v1=')).length, 2, 'one v1 per active secret');
      assert.ok(verifySignature(header, cb.rawBody, fresh).ok, `${cb.name}: new secret`);
      assert.ok(verifySignature(header, cb.rawBody, secret).ok, `${cb.name}: previous secret, still valid for 24 h`);
      assert.equal(verifySignature(header, cb.rawBody, 'whsec_other').ok, false);
    }
  });
});

describe('callback URLs in the AWS policy (public-https)', () => {
  test('loopback, metadata and plain-http callback URLs are refused with the field named', async () => {
    const stack = await startLocalStack({
      rtpPortMin: 35400,
      rtpPortMax: 35499,
      env: { CALLBACK_URL_POLICY: 'public-https' },
    });
    try {
      const api = new ApiClient(stack.apiUrl);
      await api.signup('Strict');
      for (const [url, why] of [
        ['http://127.0.0.1:3000/hooks', /must use https/],
        ['https://127.0.0.1/hooks', /non-public address/],
        ['https://localhost/hooks', /non-public address/],
        ['https://169.254.169.254/latest/meta-data', /non-public address/],
      ] as const) {
        const res = await api.call('PATCH', '/v1/tenant', { callbackUrl: url });
        assert.equal(res.status, 400, url);
        assert.equal(res.json.error.field, 'callbackUrl');
        assert.match(res.json.error.message, why);
      }
      const fallback = await api.call('PATCH', '/v1/tenant', { fallbackUrl: 'https://[::1]/x' });
      assert.equal(fallback.status, 400);
      assert.equal(fallback.json.error.field, 'fallbackUrl');
    } finally {
      await stack.stop();
    }
  });
});

import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { describe, test } from 'node:test';
import { register as globalRegistry } from 'prom-client';
import { loadMediaNodeConfig } from '../src/config.js';
import { portsUsed } from '../src/media/rtpengine-controller.js';
import { CountedSignaling, countedInboundCall, TimedCallbacks } from '../src/observability/instrumented-ports.js';
import { isWildcardHost, startMetricsServer } from '../src/observability/metrics-server.js';
import { LATENCY_BUCKETS_SECONDS, PrometheusMetrics } from '../src/observability/prometheus-metrics.js';
import type { CallbackPort, CallbackRequest } from '../src/ports/callbacks.js';
import { NO_METRICS } from '../src/ports/metrics.js';
import { type OutboundDialog, SignalingError, type SignalingPort } from '../src/ports/signaling.js';
import { FakeInboundCall, flowKit, RecordingLogger, RecordingMetrics, waitFor } from './kit/index.js';

// ---- a tiny parser of the Prometheus text format (0.0.4) ----

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

interface Exposition {
  types: Map<string, string>;
  samples: Sample[];
}

const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
const SAMPLE_LINE = new RegExp(`^(${NAME})(?:\\{(.*)\\})? (\\S+)(?: (-?\\d+))?$`);
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)/y;

function parseValue(text: string): number {
  if (text === '+Inf') return Number.POSITIVE_INFINITY;
  if (text === '-Inf') return Number.NEGATIVE_INFINITY;
  // prom-client writes NaN as "Nan" (e.g. the event-loop lag mean before any sample); Prometheus reads NaN in any case.
  if (/^nan$/i.test(text)) return Number.NaN;
  const n = Number(text);
  assert.ok(text !== '' && !Number.isNaN(n), `not a sample value: ${text}`);
  return n;
}

function parseLabels(text: string | undefined): Record<string, string> {
  const labels: Record<string, string> = {};
  if (!text) return labels;
  LABEL.lastIndex = 0;
  while (LABEL.lastIndex < text.length) {
    const at = LABEL.lastIndex;
    const m = LABEL.exec(text);
    assert.ok(m, `bad labels at ${at}: {${text}}`);
    labels[m[1]!] = m[2]!.replace(/\\(["\\n])/g, (_, c: string) => (c === 'n' ? '\n' : c));
  }
  return labels;
}

/** Parses the exposition strictly: every line is a HELP, a TYPE or a sample of a family declared before it. */
function parseExposition(text: string): Exposition {
  const types = new Map<string, string>();
  const samples: Sample[] = [];
  assert.ok(text.endsWith('\n'), 'the exposition ends with a newline');
  for (const line of text.split('\n').filter((l) => l !== '')) {
    const meta = new RegExp(`^# (HELP|TYPE) (${NAME}) (.*)$`).exec(line);
    if (meta) {
      if (meta[1] === 'TYPE') {
        assert.ok(['counter', 'gauge', 'histogram', 'summary', 'untyped'].includes(meta[3]!), line);
        assert.ok(!types.has(meta[2]!), `TYPE of ${meta[2]} given twice`);
        types.set(meta[2]!, meta[3]!);
      }
      continue;
    }
    assert.ok(!line.startsWith('#'), `a comment that is neither HELP nor TYPE: ${line}`);
    const m = SAMPLE_LINE.exec(line);
    assert.ok(m, `not a sample line: ${line}`);
    const name = m[1]!;
    const family = [name, name.replace(/_(bucket|sum|count|total|created)$/, '')].find((n) => types.has(n));
    assert.ok(family, `sample of an undeclared family: ${line}`);
    samples.push({ name, labels: parseLabels(m[2]), value: parseValue(m[3]!) });
  }
  return { types, samples };
}

/** The value of the one sample named `name` whose labels include `labels` (undefined when there is none). */
function sampleValue(e: Exposition, name: string, labels: Record<string, string> = {}): number | undefined {
  const found = e.samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  assert.ok(found.length <= 1, `${found.length} samples of ${name} ${JSON.stringify(labels)}`);
  return found[0]?.value;
}

async function scrape(metrics: PrometheusMetrics): Promise<Exposition> {
  return parseExposition(await metrics.text());
}

// ---- the adapter ----

describe('PrometheusMetrics', () => {
  test('counters and histograms move; the exposition parses; label values stay a small set', async () => {
    const metrics = new PrometheusMetrics({ defaultMetrics: false });
    const before = await scrape(metrics);
    assert.equal(before.types.get('sipms_calls_started_total'), 'counter');
    assert.equal(before.types.get('sipms_calls_ended_total'), 'counter');
    assert.equal(before.types.get('sipms_sip_responses_total'), 'counter');
    assert.equal(before.types.get('sipms_callback_round_trip_seconds'), 'histogram');
    assert.equal(before.types.get('sipms_dtmf_to_next_prompt_seconds'), 'histogram');
    for (const g of ['sipms_active_calls', 'sipms_rtpengine_up', 'sipms_rtp_ports_in_use', 'sipms_audio_cache_bytes']) {
      assert.equal(before.types.get(g), 'gauge', g);
    }
    assert.equal(sampleValue(before, 'sipms_dtmf_to_next_prompt_seconds_count'), 0);

    metrics.callStarted('inbound');
    metrics.callStarted('inbound');
    metrics.callStarted('outbound');
    metrics.callEnded('hangup');
    metrics.callEnded('a reason with spaces and "quotes"');
    metrics.sipResponse(200);
    metrics.sipResponse(200, 'inbound');
    metrics.sipResponse(486, 'outbound');
    metrics.sipResponse(42);
    metrics.callbackRoundTrip('getIvrCommand', 0.042, 'reply');
    metrics.callbackRoundTrip('getIvrCommand', 7, 'fallback');
    metrics.callbackRoundTrip('sessionCompleted', 0.004, 'notified');
    metrics.callbackRoundTrip('getIvrCommand', Number.NaN);
    metrics.callbackRoundTrip('getIvrCommand', -1);
    metrics.dtmfToNextPrompt(0.3);

    const e = await scrape(metrics);
    assert.equal(sampleValue(e, 'sipms_calls_started_total', { direction: 'inbound' }), 2);
    assert.equal(sampleValue(e, 'sipms_calls_started_total', { direction: 'outbound' }), 1);
    assert.equal(sampleValue(e, 'sipms_calls_ended_total', { reason: 'hangup' }), 1);
    assert.equal(sampleValue(e, 'sipms_calls_ended_total', { reason: 'other' }), 1, 'an odd reason is "other"');
    assert.equal(sampleValue(e, 'sipms_sip_responses_total', { code: '200', direction: 'inbound' }), 2);
    assert.equal(sampleValue(e, 'sipms_sip_responses_total', { code: '486', direction: 'outbound' }), 1);
    assert.equal(sampleValue(e, 'sipms_sip_responses_total', { code: 'other', direction: 'inbound' }), 1);

    const reply = { type: 'getIvrCommand', outcome: 'reply' };
    assert.equal(sampleValue(e, 'sipms_callback_round_trip_seconds_count', reply), 1, 'NaN and negative are dropped');
    assert.ok(Math.abs(sampleValue(e, 'sipms_callback_round_trip_seconds_sum', reply)! - 0.042) < 1e-9);
    assert.equal(sampleValue(e, 'sipms_callback_round_trip_seconds_bucket', { ...reply, le: '0.025' }), 0);
    assert.equal(sampleValue(e, 'sipms_callback_round_trip_seconds_bucket', { ...reply, le: '0.05' }), 1);
    assert.equal(sampleValue(e, 'sipms_callback_round_trip_seconds_bucket', { ...reply, le: '+Inf' }), 1);
    const fallback = { type: 'getIvrCommand', outcome: 'fallback' };
    assert.equal(sampleValue(e, 'sipms_callback_round_trip_seconds_bucket', { ...fallback, le: '5' }), 0);
    assert.equal(sampleValue(e, 'sipms_callback_round_trip_seconds_bucket', { ...fallback, le: '10' }), 1);
    assert.equal(
      sampleValue(e, 'sipms_callback_round_trip_seconds_count', { type: 'sessionCompleted', outcome: 'notified' }),
      1,
    );
    const buckets = e.samples
      .filter((s) => s.name === 'sipms_callback_round_trip_seconds_bucket' && s.labels.outcome === 'reply')
      .map((s) => s.labels.le);
    assert.deepEqual(buckets, [...LATENCY_BUCKETS_SECONDS.map(String), '+Inf'], 'buckets from 5 ms to 10 s');
    assert.equal(sampleValue(e, 'sipms_dtmf_to_next_prompt_seconds_count'), 1);
    assert.equal(sampleValue(e, 'sipms_dtmf_to_next_prompt_seconds_bucket', { le: '0.3' }), 1);
    assert.equal(sampleValue(e, 'sipms_dtmf_to_next_prompt_seconds_bucket', { le: '0.2' }), 0);
  });

  test('gauges read their sources at scrape time; one rtpengine probe serves a scrape', async () => {
    const metrics = new PrometheusMetrics({ defaultMetrics: false });
    const idle = await scrape(metrics);
    assert.equal(sampleValue(idle, 'sipms_active_calls'), 0, 'no source yet: 0');
    assert.equal(sampleValue(idle, 'sipms_rtpengine_up'), 0);
    assert.equal(sampleValue(idle, 'sipms_rtp_ports_in_use'), undefined, 'ports unknown: no sample');

    let calls = 3;
    let probes = 0;
    metrics.readFrom({
      activeCalls: () => calls,
      rtpengine: async () => {
        probes++;
        return { up: true, portsInUse: 8 };
      },
    });
    metrics.readFrom({ audioCacheBytes: () => 123_456 });
    const up = await scrape(metrics);
    assert.equal(sampleValue(up, 'sipms_active_calls'), 3);
    assert.equal(sampleValue(up, 'sipms_rtpengine_up'), 1);
    assert.equal(sampleValue(up, 'sipms_rtp_ports_in_use'), 8);
    assert.equal(sampleValue(up, 'sipms_audio_cache_bytes'), 123_456);
    assert.equal(probes, 1, 'up and ports share one probe');

    calls = 0;
    assert.equal(sampleValue(await scrape(metrics), 'sipms_active_calls'), 0, 'read again at the next scrape');
    assert.equal(probes, 2, 'each scrape asks rtpengine afresh');
    await Promise.all([scrape(metrics), scrape(metrics)]);
    assert.ok(probes <= 4);

    const logger = new RecordingLogger();
    const failing = new PrometheusMetrics({ defaultMetrics: false, logger });
    failing.readFrom({ rtpengine: async () => Promise.reject(new Error('no answer')) });
    const down = await scrape(failing);
    assert.equal(sampleValue(down, 'sipms_rtpengine_up'), 0, 'a failing probe reads as down');
    assert.equal(sampleValue(down, 'sipms_rtp_ports_in_use'), undefined);
    assert.ok(logger.entries.some((l) => l.msg === 'rtpengine status for metrics failed' && l.fields.err));
  });

  test("Node's default metrics (event-loop lag included) are on the adapter's own registry, not the global one", async () => {
    const metrics = new PrometheusMetrics();
    const e = await scrape(metrics);
    assert.equal(e.types.get('nodejs_eventloop_lag_seconds'), 'gauge');
    assert.ok((sampleValue(e, 'nodejs_eventloop_lag_seconds') ?? -1) >= 0);
    assert.ok(e.types.has('nodejs_eventloop_lag_p99_seconds'));
    assert.ok(e.types.has('process_cpu_user_seconds_total'));
    assert.ok(e.types.has('nodejs_heap_size_used_bytes'));
    assert.equal(globalRegistry.getSingleMetric('sipms_active_calls'), undefined);
    assert.notEqual(metrics.registry, globalRegistry);
    // A second adapter (a test, a restart in-process) registers its metrics again without a clash.
    assert.doesNotThrow(() => new PrometheusMetrics());
  });

  test("rtpengine's statistics: ports in use summed over its interfaces", () => {
    // As rtpengine 10.5 answers (other sections left out).
    const reply = {
      result: 'ok',
      statistics: {
        currentstatistics: { sessionsown: 1 },
        interfaces: [
          {
            name: 'default',
            address: '127.0.0.1',
            ports: { min: 30000, max: 30999, used: 4, used_pct: '0.40', free: 996, totals: 1000, last: 30004 },
          },
          { name: 'ext', address: '192.0.2.1', ports: { used: 2 } },
        ],
      },
    };
    assert.equal(portsUsed(reply), 6);
    assert.equal(portsUsed({ result: 'ok', statistics: {} }), undefined, 'an rtpengine that reports no interfaces');
    assert.equal(portsUsed({ result: 'ok', statistics: { interfaces: [{ name: 'x' }] } }), undefined);
  });
});

// ---- the HTTP endpoint ----

describe('metrics server', () => {
  test('GET /metrics answers 200 in the Prometheus text format; anything else is 404 (or 405)', async (t) => {
    const metrics = new PrometheusMetrics();
    metrics.callStarted('inbound');
    const server = await startMetricsServer({ host: '127.0.0.1', port: 0, metrics, logger: new RecordingLogger() });
    t.after(() => server.close());
    assert.equal(server.url, `http://127.0.0.1:${server.port}/metrics`);

    const res = await fetch(server.url);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
    const e = parseExposition(await res.text());
    assert.equal(sampleValue(e, 'sipms_calls_started_total', { direction: 'inbound' }), 1);
    assert.ok(e.types.has('nodejs_eventloop_lag_seconds'));

    assert.equal((await fetch(`${server.url}?name[]=x`)).status, 200, 'a query string is ignored');
    const head = await fetch(server.url, { method: 'HEAD' });
    assert.equal(head.status, 200);
    for (const path of ['/', '/metrics/', '/metricsx', '/favicon.ico']) {
      const other = await fetch(`http://127.0.0.1:${server.port}${path}`);
      assert.equal(other.status, 404, path);
      await other.body?.cancel();
    }
    const post = await fetch(server.url, { method: 'POST', body: 'x' });
    assert.equal(post.status, 405);
    assert.equal(post.headers.get('allow'), 'GET, HEAD');
  });

  test('a taken port is a start-up error naming METRICS_PORT', async (t) => {
    const holder = createServer();
    await new Promise<void>((r) => holder.listen(0, '127.0.0.1', () => r()));
    t.after(() => new Promise((r) => holder.close(r)));
    const port = (holder.address() as { port: number }).port;
    await assert.rejects(
      startMetricsServer({ host: '127.0.0.1', port, metrics: new PrometheusMetrics(), logger: new RecordingLogger() }),
      /127\.0\.0\.1:\d+ is already in use: set METRICS_PORT to a free port/,
    );
  });

  test('collecting that fails answers 500 and is logged', async (t) => {
    const logger = new RecordingLogger();
    const server = await startMetricsServer({
      host: '127.0.0.1',
      port: 0,
      metrics: { contentType: 'text/plain', text: () => Promise.reject(new Error('boom')) },
      logger,
    });
    t.after(() => server.close());
    assert.equal((await fetch(server.url)).status, 500);
  });
});

describe('METRICS_HOST / METRICS_PORT / METRICS_PUBLIC', () => {
  const BASE_ENV = { TABLE_NAME: 'sipms', PROMPT_STORE: 'dir:/tmp/p', CACHE_DIR: '/tmp/c', RUN_DIR: '/tmp/r' };

  test('default: 127.0.0.1:9464', () => {
    const c = loadMediaNodeConfig(BASE_ENV);
    assert.equal(c.METRICS_HOST, '127.0.0.1');
    assert.equal(c.METRICS_PORT, 9464);
    assert.equal(loadMediaNodeConfig({ ...BASE_ENV, METRICS_PORT: '0' }).METRICS_PORT, 0, '0 turns it off');
  });

  test('a wildcard METRICS_HOST is refused at start-up unless METRICS_PUBLIC=true', () => {
    for (const host of ['0.0.0.0', '::', '[::]', '0:0:0:0:0:0:0:0']) {
      assert.throws(
        () => loadMediaNodeConfig({ ...BASE_ENV, METRICS_HOST: host }),
        /invalid configuration: METRICS_HOST: METRICS_HOST is a wildcard.*METRICS_PUBLIC=true/,
        host,
      );
    }
    assert.equal(
      loadMediaNodeConfig({ ...BASE_ENV, METRICS_HOST: '0.0.0.0', METRICS_PUBLIC: 'true' }).METRICS_PORT,
      9464,
    );
    assert.equal(loadMediaNodeConfig({ ...BASE_ENV, METRICS_HOST: '0.0.0.0', METRICS_PORT: '0' }).METRICS_PORT, 0);
    assert.equal(loadMediaNodeConfig({ ...BASE_ENV, METRICS_HOST: '10.0.1.23' }).METRICS_HOST, '10.0.1.23');
    assert.ok(!isWildcardHost('::1'));
    assert.ok(!isWildcardHost('localhost'));
  });
});

// ---- measured at the ports ----

function request(type: CallbackRequest['type']): CallbackRequest {
  return { eventId: 'e1', tenantId: 't1', sessionId: 's1', seq: 1, type, payload: {} as CallbackRequest['payload'] };
}

describe('metrics measured at the ports', () => {
  test('TimedCallbacks: publish → reply by type and outcome; a request given up on is not observed', async () => {
    let clock = 1000;
    const inner: CallbackPort = {
      async request(req) {
        clock += 250;
        return req.type === 'callEvent'
          ? { reply: {}, fallback: true, reason: 'timeout' }
          : { reply: {}, fallback: false };
      },
      async notify() {
        clock += 40;
      },
    };
    const metrics = new RecordingMetrics();
    const timed = new TimedCallbacks(inner, metrics, () => clock);
    assert.deepEqual(await timed.request(request('getIvrCommand'), 1000), { reply: {}, fallback: false });
    await timed.request(request('callEvent'), 1000);
    await timed.notify(request('sessionCompleted'), 1000);
    const aborted = new AbortController();
    aborted.abort();
    await timed.request(request('getIvrCommand'), 1000, aborted.signal);
    assert.deepEqual(metrics.roundTrips, [
      { type: 'getIvrCommand', seconds: 0.25, outcome: 'reply' },
      { type: 'callEvent', seconds: 0.25, outcome: 'fallback' },
      { type: 'sessionCompleted', seconds: 0.04, outcome: 'notified' },
    ]);
  });

  test('an inbound call counts the final responses sent through it; everything else passes through', async () => {
    const metrics = new RecordingMetrics();
    const rejected = new FakeInboundCall();
    const counted = countedInboundCall(rejected, metrics);
    assert.equal(counted.callId, rejected.callId);
    assert.equal(counted.cancelled, rejected.cancelled);
    assert.equal(counted.sdp, rejected.sdp);
    counted.progress(180);
    assert.throws(() => counted.reject(200), RangeError, 'a reject that throws sent nothing: not counted');
    counted.reject(486, 'Busy Here');
    assert.equal((await rejected.finalResponse).status, 486);

    const answered = new FakeInboundCall();
    void countedInboundCall(answered, metrics).answer('v=0');
    assert.equal((await answered.finalResponse).status, 200);

    const redirected = new FakeInboundCall();
    countedInboundCall(redirected, metrics).redirect(['sip:elsewhere@example.net']);

    const cancelled = new FakeInboundCall();
    countedInboundCall(cancelled, metrics);
    cancelled.cancel();
    assert.deepEqual(
      metrics.responses.map((r) => `${r.code} ${r.direction}`),
      ['486 inbound', '200 inbound', '302 inbound', '487 inbound'],
    );
  });

  test("the inbound flow's responses pass through the counted call (404 for an unknown target)", async (t) => {
    const kit = flowKit(t);
    const call = new FakeInboundCall({ requestUri: 'sip:bob@other.example.net' });
    kit.signaling.inbound.push(call);
    kit.inbound.accept(countedInboundCall(call, kit.metrics));
    assert.equal((await call.finalResponse).status, 404);
    await kit.drained();
    assert.deepEqual(kit.metrics.responses, [{ code: 404, direction: 'inbound' }]);
    assert.deepEqual(kit.metrics.started, [], 'a call without a tenant is not a call started');
  });

  test('CountedSignaling: the final response of each call placed (direction outbound)', async () => {
    const metrics = new RecordingMetrics();
    const outcomes: (() => Promise<OutboundDialog>)[] = [
      async () => ({ remoteSdp: 'v=0' }) as OutboundDialog,
      async () => Promise.reject(new SignalingError('rejected', 'busy', 486)),
      async () => Promise.reject(new SignalingError('no-answer', 'ring timeout')),
    ];
    const inner: SignalingPort = {
      advertised: { host: '192.0.2.1', port: 5070 },
      placeCall: () => outcomes.shift()!(),
      start: async () => undefined,
      stop: async () => undefined,
    };
    const signaling = new CountedSignaling(inner, metrics);
    assert.deepEqual(signaling.advertised, { host: '192.0.2.1', port: 5070 });
    const req = { target: 'sip:x@example.net', from: { uri: 'sip:me@example.com' }, sdp: 'v=0' };
    await signaling.placeCall(req);
    await assert.rejects(signaling.placeCall(req), /busy/);
    await assert.rejects(signaling.placeCall(req), /ring timeout/);
    assert.deepEqual(metrics.responses, [
      { code: 200, direction: 'outbound' },
      { code: 486, direction: 'outbound' },
    ]);
  });
});

// ---- the call core reports through the port ----

describe('the call core reports through the metrics port', () => {
  test('an IVR call: started inbound, DTMF → next prompt timed, ended with its reason', async (t) => {
    const kit = flowKit(t);
    kit.audio.addPrompt(kit.tenant.tenantId, 'menu');
    kit.callbacks.queue('newCall', { action: 'ivr' });
    kit.callbacks.queue(
      'getIvrCommand',
      { phrases: [{ format: 'file', fileName: 'menu' }], dtmf: { maxDigits: 1, firstDigitTimeoutMs: 5000 } },
      { phrases: [{ format: 'file', fileName: 'menu' }], hangup: true },
    );
    const call = kit.invite();
    assert.equal((await call.finalResponse).status, 200);
    await waitFor(() => kit.media.legs[0]?.played.length === 1, 'the first prompt');
    assert.deepEqual(kit.metrics.started, ['inbound']);
    kit.media.legs[0]!.emitDtmf('5');
    await kit.drained();
    assert.deepEqual(kit.metrics.ended, ['hangup']);
    assert.equal(kit.metrics.dtmfToPrompt.length, 1, 'one key, one next prompt');
    assert.ok(kit.metrics.dtmfToPrompt[0]! >= 0 && kit.metrics.dtmfToPrompt[0]! < 5);
    await kit.close();
  });

  test('a collection the timer ends (no key) is not timed', async (t) => {
    const kit = flowKit(t);
    kit.callbacks.queue('newCall', { action: 'ivr' });
    kit.callbacks.queue(
      'getIvrCommand',
      { dtmf: { maxDigits: 1, firstDigitTimeoutMs: 20 } },
      { phrases: [{ format: 'silence', durationMs: 10 }], hangup: true },
    );
    kit.invite();
    await kit.drained();
    assert.deepEqual(kit.metrics.started, ['inbound']);
    assert.deepEqual(kit.metrics.ended, ['hangup']);
    assert.deepEqual(kit.metrics.dtmfToPrompt, []);
    await kit.close();
  });

  test('NO_METRICS reports nothing and never throws', () => {
    assert.doesNotThrow(() => {
      NO_METRICS.callStarted('inbound');
      NO_METRICS.callEnded('hangup');
      NO_METRICS.sipResponse(200);
      NO_METRICS.callbackRoundTrip('newCall', 0.1);
      NO_METRICS.dtmfToNextPrompt(0.1);
    });
  });
});

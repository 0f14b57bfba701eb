import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { METRICS_NAMESPACE, NODE_DIMENSION, NODE_METRIC } from '@sipms/shared/observability/cloudwatch-metrics';
import { loadMediaNodeConfig } from '../src/config.js';
import {
  type EmfDistribution,
  EmfPublisher,
  emfSink,
  parseEmfTarget,
  startEmfPublisher,
} from '../src/observability/emf-publisher.js';
import { PrometheusMetrics } from '../src/observability/prometheus-metrics.js';
import { RecordingLogger, sleep, waitFor } from './kit/index.js';

/** An EMF record as the tests read it. */
interface Directive {
  Namespace: string;
  Dimensions: string[][];
  Metrics: { Name: string; Unit?: string }[];
}
type EmfRecord = Record<string, unknown> & { _aws: { Timestamp: number; CloudWatchMetrics: Directive[] } };

const T0 = 1_700_000_000_000;

/** Parses a line and checks it against the embedded metric format's rules; returns the record. */
function parseRecord(line: string): EmfRecord {
  assert.ok(!line.includes('\n'), 'one record is one line');
  const r = JSON.parse(line) as EmfRecord;
  assert.equal(typeof r._aws.Timestamp, 'number');
  assert.ok(Number.isInteger(r._aws.Timestamp), 'Timestamp: whole milliseconds since the epoch');
  assert.equal(r._aws.CloudWatchMetrics.length, 1);
  const d = r._aws.CloudWatchMetrics[0]!;
  assert.ok(d.Metrics.length > 0 && d.Metrics.length <= 100, 'at most 100 metric definitions');
  for (const set of d.Dimensions) {
    assert.ok(set.length <= 9);
    for (const dim of set) assert.equal(typeof r[dim], 'string', `dimension ${dim} is a string member of the root`);
  }
  const defined = new Set(d.Metrics.map((m) => m.Name));
  for (const m of d.Metrics) {
    const v = r[m.Name];
    assert.ok(v !== undefined, `metric ${m.Name} is a member of the root`);
    assert.ok(['Count', 'Seconds', 'Bytes', 'Percent'].includes(m.Unit ?? ''), `${m.Name} has a CloudWatch unit`);
    if (typeof v === 'number') {
      assert.ok(Number.isFinite(v), `${m.Name} is finite`);
    } else {
      const h = v as EmfDistribution;
      assert.equal(h.Values.length, h.Counts.length, `${m.Name}: one count per value`);
      assert.ok(h.Values.length > 0 && h.Values.length <= 100);
      assert.equal(
        h.Count,
        h.Counts.reduce((a, b) => a + b, 0),
      );
      assert.equal(h.Max, Math.max(...h.Values));
      assert.equal(h.Min, Math.min(...h.Values));
      const sum = h.Values.reduce((a, x, i) => a + x * h.Counts[i]!, 0);
      assert.ok(Math.abs(h.Sum - sum) < 1e-6, `${m.Name}: Sum agrees with the values`);
    }
  }
  for (const name of Object.values(NODE_METRIC)) {
    if (r[name] !== undefined) assert.ok(defined.has(name), `${name} on the root is defined in the directive`);
  }
  return r;
}

/** The adapter the node runs, with its sources, and a publisher writing to an array. */
function setup(opts: { defaultMetrics?: boolean; write?: (line: string) => void | Promise<void> } = {}) {
  const metrics = new PrometheusMetrics({ defaultMetrics: opts.defaultMetrics ?? false });
  const state = {
    active: 0,
    cacheBytes: 0,
    shedRatio: 0,
    rtpengine: { up: true, portsInUse: 8 } as { up: boolean; portsInUse?: number },
  };
  metrics.readFrom({
    activeCalls: () => state.active,
    audioCacheBytes: () => state.cacheBytes,
    overloadShedRatio: () => state.shedRatio,
    rtpengine: async () => state.rtpengine,
  });
  const lines: string[] = [];
  const logger = new RecordingLogger();
  let now = T0;
  const publisher = new EmfPublisher({
    registry: metrics.registry,
    nodeId: 'i-0123456789abcdef0',
    stage: 'prod',
    write: opts.write ?? ((line) => void lines.push(line)),
    logger,
    now: () => now,
  });
  const tick = (ms = 60_000) => {
    now += ms;
  };
  const last = () => parseRecord(lines.at(-1)!);
  return { metrics, state, lines, logger, publisher, tick, last };
}

describe('EMF records from the Prometheus registry', () => {
  test('one record: namespace, the NodeId and fleet dimension sets, gauges now, counts and round trips so far', async () => {
    const { metrics, state, lines, publisher, last } = setup({ defaultMetrics: true });
    state.active = 2;
    state.cacheBytes = 12_345;
    state.shedRatio = 0.375;
    metrics.callStarted('inbound');
    metrics.callStarted('inbound');
    metrics.callStarted('outbound');
    metrics.callEnded('hangup');
    metrics.sipResponse(200);
    metrics.sipResponse(503);
    metrics.sipResponse(486);
    metrics.sipResponse(480);
    metrics.sipResponse(503, 'outbound'); // a response the node received: not one it sent
    metrics.callbackRoundTrip('getIvrCommand', 0.004); // ≤ 5 ms
    metrics.callbackRoundTrip('newCall', 0.03, 'reply'); // 25–50 ms
    metrics.callbackRoundTrip('getIvrCommand', 12, 'fallback'); // > 10 s
    metrics.callbackRoundTrip('callAnswered', 0.5, 'notified'); // nobody waits for it: not a round trip here
    metrics.dtmfToNextPrompt(0.15);

    assert.equal(await publisher.publish(), true);
    assert.equal(lines.length, 1);
    const r = last();
    assert.equal(r._aws.Timestamp, T0);
    const [d] = r._aws.CloudWatchMetrics;
    assert.equal(d!.Namespace, METRICS_NAMESPACE);
    assert.equal(METRICS_NAMESPACE, 'SipMediaserver', "the Lambdas' namespace");
    // The stage's fleet rollup (what the scaling policy and the alarms read) and per node; never dimension-less,
    // which would mix two deployments of one account and region.
    assert.deepEqual(d!.Dimensions, [[NODE_DIMENSION.stage], [NODE_DIMENSION.stage, NODE_DIMENSION.nodeId]]);
    assert.deepEqual(d!.Dimensions, [['Stage'], ['Stage', 'NodeId']]);
    assert.equal(r.Stage, 'prod');
    assert.equal(r.NodeId, 'i-0123456789abcdef0');

    assert.equal(r[NODE_METRIC.activeCalls], 2);
    assert.equal(r[NODE_METRIC.callsStarted], 3);
    assert.equal(r[NODE_METRIC.callsEnded], 1);
    assert.equal(r[NODE_METRIC.sipResponses5xx], 1);
    assert.equal(r[NODE_METRIC.sipResponses4xx], 2);
    assert.deepEqual(r[NODE_METRIC.callbackRoundTrip], {
      Values: [0.0025, 0.0375, 10],
      Counts: [1, 1, 1],
      Max: 10,
      Min: 0.0025,
      Count: 3,
      Sum: 10.04,
    });
    assert.equal(r[NODE_METRIC.callbackFallbacks], 1);
    assert.deepEqual(r[NODE_METRIC.dtmfToNextPrompt], {
      Values: [0.15],
      Counts: [1],
      Max: 0.15,
      Min: 0.15,
      Count: 1,
      Sum: 0.15,
    });
    assert.equal(r[NODE_METRIC.rtpPortsInUse], 8);
    assert.equal(r[NODE_METRIC.rtpengineUp], 1);
    assert.equal(r[NODE_METRIC.audioCacheBytes], 12_345);
    assert.equal(r[NODE_METRIC.overloadShedPercent], 37.5);
    for (const lag of [NODE_METRIC.eventLoopLagP99, NODE_METRIC.eventLoopLagMax]) {
      const v = r[lag] as number;
      assert.ok(Number.isFinite(v) && v >= 0 && v < 10, `${lag} in seconds: ${v}`);
    }
    const units = Object.fromEntries(d!.Metrics.map((m) => [m.Name, m.Unit]));
    assert.equal(units[NODE_METRIC.activeCalls], 'Count');
    assert.equal(units[NODE_METRIC.callbackRoundTrip], 'Seconds');
    assert.equal(units[NODE_METRIC.eventLoopLagP99], 'Seconds');
    assert.equal(units[NODE_METRIC.audioCacheBytes], 'Bytes');
    assert.equal(units[NODE_METRIC.overloadShedPercent], 'Percent');
  });

  test('a second record carries only what changed since the first; /metrics keeps its totals', async () => {
    const { metrics, state, publisher, tick, last } = setup();
    state.active = 3;
    for (let i = 0; i < 3; i++) metrics.callStarted('inbound');
    metrics.sipResponse(503);
    metrics.callbackRoundTrip('newCall', 0.03);
    metrics.dtmfToNextPrompt(0.15);
    await publisher.publish();
    const first = last();
    assert.equal(first[NODE_METRIC.callsStarted], 3);

    tick();
    state.active = 1;
    metrics.callStarted('outbound');
    metrics.callEnded('hangup');
    metrics.callEnded('callingPartyDrop');
    metrics.callbackRoundTrip('getIvrCommand', 0.2); // 100–200 ms
    metrics.callbackRoundTrip('getIvrCommand', 0.18);
    state.rtpengine = { up: false };
    await publisher.publish();
    const second = last();
    assert.equal(second._aws.Timestamp, T0 + 60_000);
    assert.equal(second[NODE_METRIC.activeCalls], 1, 'a gauge is its value now');
    assert.equal(second[NODE_METRIC.callsStarted], 1);
    assert.equal(second[NODE_METRIC.callsEnded], 2);
    assert.equal(second[NODE_METRIC.sipResponses5xx], 0, 'a count with nothing new is 0, not missing');
    assert.equal(second[NODE_METRIC.callbackFallbacks], 0);
    assert.deepEqual((second[NODE_METRIC.callbackRoundTrip] as EmfDistribution).Values, [0.15]);
    assert.deepEqual((second[NODE_METRIC.callbackRoundTrip] as EmfDistribution).Counts, [2]);
    const names = second._aws.CloudWatchMetrics[0]!.Metrics.map((m) => m.Name);
    assert.equal(second[NODE_METRIC.dtmfToNextPrompt], undefined, 'no key presses: no distribution');
    assert.ok(!names.includes(NODE_METRIC.dtmfToNextPrompt), 'and no definition of it');
    assert.equal(second[NODE_METRIC.rtpengineUp], 0);
    assert.equal(second[NODE_METRIC.rtpPortsInUse], undefined, 'rtpengine reports no ports: no sample');
    assert.ok(!names.includes(NODE_METRIC.rtpPortsInUse));

    tick();
    await publisher.publish();
    assert.equal(last()[NODE_METRIC.callsEnded], 0);
    assert.equal(last()[NODE_METRIC.callbackRoundTrip], undefined);

    // The publisher only reads: the Prometheus exposition still has every total.
    const text = await metrics.text();
    assert.match(text, /^sipms_calls_started_total\{direction="inbound"\} 3$/m);
    assert.match(text, /^sipms_calls_ended_total\{reason="hangup"\} 1$/m);
    assert.match(text, /^sipms_callback_round_trip_seconds_count\{type="getIvrCommand",outcome="reply"\} 2$/m);
  });

  test('a failing sink or registry does not throw; counts a record missed go into the next one', async () => {
    let failures = 2;
    const written: string[] = [];
    const { metrics, logger, publisher, tick } = setup({
      write: (line) => {
        if (failures-- === 2) throw new Error('EROFS: read-only file system');
        if (failures === 0) return Promise.reject(new Error('ENOSPC: no space left on device'));
        written.push(line);
      },
    });
    metrics.callStarted('inbound');
    assert.equal(await publisher.publish(), false, 'a sink that throws');
    tick();
    metrics.callStarted('inbound');
    assert.equal(await publisher.publish(), false, 'a sink that rejects');
    assert.equal(logger.find(/writing the EMF record failed/, 'warn').length, 2);
    tick();
    metrics.callStarted('outbound');
    assert.equal(await publisher.publish(), true);
    assert.equal(parseRecord(written[0]!)[NODE_METRIC.callsStarted], 3, 'nothing is lost while the sink fails');

    const broken = new RecordingLogger();
    const unreadable = new EmfPublisher({
      registry: { getMetricsAsJSON: () => Promise.reject(new Error('collect failed')) },
      nodeId: 'n1',
      stage: 'dev',
      write: () => assert.fail('nothing to write'),
      logger: broken,
    });
    assert.equal(await unreadable.publish(), false);
    await unreadable.stop();
    assert.equal(broken.find(/reading the metrics for the EMF record failed/, 'warn').length, 2);

    // Even a logger that throws leaves publish() resolved (a process warning instead).
    const throwing = new RecordingLogger();
    throwing.warn = () => {
      throw new Error('logger down');
    };
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(w.message);
    process.on('warning', onWarning);
    try {
      const silent = new EmfPublisher({
        registry: metrics.registry,
        nodeId: 'n1',
        stage: 'dev',
        write: () => {
          throw new Error('sink down');
        },
        logger: throwing,
      });
      assert.equal(await silent.publish(), false);
      await waitFor(
        () => warnings.some((m) => /writing the EMF record failed.*logger down/.test(m)),
        'a process warning',
      );
    } finally {
      process.off('warning', onWarning);
    }
  });

  test("start() writes one record per interval, mid-interval, on an unref'd timer; stop() writes a final one", async () => {
    const metrics = new PrometheusMetrics({ defaultMetrics: false });
    const lines: string[] = [];
    const publisher = new EmfPublisher({
      registry: metrics.registry,
      nodeId: 'n1',
      stage: 'dev',
      write: (line) => void lines.push(line),
      logger: new RecordingLogger(),
      intervalMs: 100,
    });
    publisher.start();
    const timer = (publisher as unknown as { timer?: NodeJS.Timeout }).timer;
    assert.ok(timer, 'a timer is armed');
    assert.equal(timer.hasRef(), false, 'the timer does not keep the process alive');
    metrics.callStarted('inbound');
    await waitFor(() => lines.length >= 2, 'two records', 3000);
    const slots = lines.map((l) => Math.floor((parseRecord(l)._aws.Timestamp - 50) / 100));
    assert.ok(slots[1]! > slots[0]!, `one record per interval: ${slots.join(', ')}`);

    const before = lines.length;
    metrics.callEnded('hangup');
    await publisher.stop();
    assert.equal(lines.length, before + 1, 'stop() writes a final record');
    assert.equal(parseRecord(lines.at(-1)!)[NODE_METRIC.callsEnded], 1, 'with the calls ended since the last one');
    await publisher.stop();
    await sleep(250);
    assert.equal(lines.length, before + 1, 'and nothing after it');
  });
});

describe('METRICS_EMF and its sinks', () => {
  const BASE_ENV = { TABLE_NAME: 'sipms', PROMPT_STORE: 'dir:/tmp/p', CACHE_DIR: '/tmp/c', RUN_DIR: '/tmp/r' };

  test('off by default; stdout; file:<absolute path>; the interval is at least a second', () => {
    const c = loadMediaNodeConfig(BASE_ENV);
    assert.deepEqual(c.METRICS_EMF, { kind: 'off' });
    assert.equal(c.STAGE, 'local', 'the Stage dimension of a single machine');
    assert.equal(loadMediaNodeConfig({ ...BASE_ENV, STAGE: 'prod-eu' }).STAGE, 'prod-eu');
    assert.throws(() => loadMediaNodeConfig({ ...BASE_ENV, STAGE: 'Prod' }), /STAGE/);
    assert.equal(c.METRICS_EMF_INTERVAL_MS, 60_000);
    assert.deepEqual(loadMediaNodeConfig({ ...BASE_ENV, METRICS_EMF: 'stdout' }).METRICS_EMF, { kind: 'stdout' });
    assert.deepEqual(loadMediaNodeConfig({ ...BASE_ENV, METRICS_EMF: 'file:/var/log/sipms/emf.log' }).METRICS_EMF, {
      kind: 'file',
      path: '/var/log/sipms/emf.log',
    });
    for (const bad of ['file:emf.log', 'file:', 'file:/var/log/', 'cloudwatch', 'on']) {
      assert.throws(() => loadMediaNodeConfig({ ...BASE_ENV, METRICS_EMF: bad }), /METRICS_EMF/, bad);
    }
    assert.throws(
      () => loadMediaNodeConfig({ ...BASE_ENV, METRICS_EMF_INTERVAL_MS: '500' }),
      /METRICS_EMF_INTERVAL_MS/,
    );
    assert.equal(
      loadMediaNodeConfig({ ...BASE_ENV, METRICS_EMF_INTERVAL_MS: '10000' }).METRICS_EMF_INTERVAL_MS,
      10_000,
    );
  });

  test('the file sink appends one record a line, making its directory; off starts no publisher', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'sipms-emf-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const path = join(dir, 'sub', 'emf.log');
    const write = emfSink(parseEmfTarget(`file:${path}`))!;
    await write('{"a":1}');
    await write('{"a":2}');
    assert.equal(readFileSync(path, 'utf8'), '{"a":1}\n{"a":2}\n');

    const metrics = new PrometheusMetrics({ defaultMetrics: false });
    const logger = new RecordingLogger();
    const off = startEmfPublisher({
      target: { kind: 'off' },
      registry: metrics.registry,
      nodeId: 'n1',
      stage: 'dev',
      logger,
    });
    assert.equal(off, undefined);
    const on = startEmfPublisher({
      target: { kind: 'file', path },
      registry: metrics.registry,
      nodeId: 'n1',
      stage: 'dev',
      logger,
      intervalMs: 60_000,
    });
    assert.ok(on);
    metrics.callStarted('inbound');
    await on.stop();
    const records = readFileSync(path, 'utf8').trim().split('\n');
    assert.equal(parseRecord(records.at(-1)!)[NODE_METRIC.callsStarted], 1);
    assert.equal(logger.find(/EMF records/, 'info').length, 1);
  });
});

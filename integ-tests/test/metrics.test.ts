import assert from 'node:assert/strict';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ApiClient } from '../src/api-client.js';
import { toneWav } from '../src/audio.js';
import { type LocalStack, startLocalStack } from '../src/local-stack.js';
import { freeSippMediaPort } from '../src/ports.js';
import { runSipp, scenario } from '../src/sipp.js';
import { WebhookServer } from '../src/webhook-server.js';

// The media node's Prometheus /metrics against the stack as `npm start` runs it: scraped before, during and
// after a real SIPp call in IVR with a key press (docs/operations.md, "Metrics"). RTP range 39500-39599.
const RTP_MIN = 39500;
const RTP_MAX = 39599;
const NUMBER = 'metrics-ivr';

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** The Prometheus text format, strictly enough to notice a broken exposition. */
function parse(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('# HELP ') || line.startsWith('# TYPE ')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(m, `not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_]\w*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    // prom-client writes NaN as "Nan"; Prometheus reads it in any case.
    const value = /^nan$/i.test(m[3]!) ? Number.NaN : Number(m[3]!.replace(/^\+Inf$/, 'Infinity'));
    assert.ok(!Number.isNaN(value) || /^nan$/i.test(m[3]!), `not a value: ${line}`);
    samples.push({ name: m[1]!, labels, value });
  }
  return samples;
}

class Scrape {
  constructor(readonly samples: Sample[]) {}

  /** The sum of the samples named `name` whose labels include `labels` (0 when there is none). */
  sum(name: string, labels: Record<string, string> = {}): number {
    return this.samples
      .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
      .reduce((n, s) => n + s.value, 0);
  }

  has(name: string): boolean {
    return this.samples.some((s) => s.name === name);
  }
}

/** Fills the `{{name}}` placeholders of a scenario under scenarios/ivr. */
async function renderIvrScenario(name: string, values: Record<string, string | number>): Promise<string> {
  let xml = await readFile(scenario(`ivr/${name}`), 'utf8');
  for (const [k, v] of Object.entries(values)) xml = xml.replaceAll(`{{${k}}}`, String(v));
  const out = join(await mkdtemp(join(tmpdir(), 'scenario-')), name);
  await writeFile(out, xml);
  return out;
}

const pause = (ms: number) => `<pause milliseconds="${ms}"/>`;
const digit = (name: string) =>
  `<nop><action><exec play_pcap_audio="/usr/share/sip-tester/dtmf_2833_${name}.pcap"/></action></nop>`;

describe('Prometheus /metrics of a media node (real stack, SIPp caller)', () => {
  let stack: LocalStack;
  let hook: WebhookServer;
  let metricsUrl: string;

  async function scrape(): Promise<Scrape> {
    const res = await fetch(metricsUrl);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
    return new Scrape(parse(await res.text()));
  }

  before(async () => {
    stack = await startLocalStack({ rtpPortMin: RTP_MIN, rtpPortMax: RTP_MAX });
    hook = new WebhookServer();
    await hook.start();
    const api = new ApiClient(stack.apiUrl);
    const tenant = await api.signup('Metrics GmbH');
    assert.equal((await api.call('PATCH', '/v1/tenant', { callbackUrl: hook.url })).status, 200);
    assert.equal((await api.call('PUT', `/v1/numbers/${NUMBER}`)).status, 201);
    const up = await api.call('PUT', `/mediaservice/${tenant.domain}/promptfile/menu`, toneWav(800));
    assert.equal(up.status, 200, JSON.stringify(up.json));
    assert.equal(stack.metricsUrls.length, 1, 'the ready line names the node’s /metrics');
    metricsUrl = stack.metricsUrls[0]!;
  });

  after(async () => {
    await hook?.close();
    const code = await stack?.stop();
    assert.equal(code, 0, 'the stack stops cleanly');
    hook?.assertContract();
  });

  test('where it listens: the ready line and control-plane.json; 404 off /metrics', async () => {
    assert.match(metricsUrl, /^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    const info = JSON.parse(await readFile(join(stack.dataDir, 'run', 'control-plane.json'), 'utf8')) as {
      apiUrl: string;
      mediaNodes?: { sip: { port: number }; metrics?: string }[];
    };
    assert.equal(info.apiUrl, stack.apiUrl, 'the control plane’s fields are still there');
    assert.equal(info.mediaNodes?.[0]?.metrics, metricsUrl);
    assert.equal(info.mediaNodes?.[0]?.sip.port, stack.sipPort);
    const other = await fetch(metricsUrl.replace(/\/metrics$/, '/'));
    assert.equal(other.status, 404);
    await other.body?.cancel();
  });

  test('an IVR call with a key press: active calls 0 → 1 → 0; counters and histograms move', async () => {
    hook.responder = (cb) => {
      if (cb.name === 'newCall') return { body: { action: 'ivr' } };
      if (cb.name !== 'getIvrCommand') return undefined;
      if (!cb.body.dtmfParams) {
        return {
          body: {
            phrases: [{ format: 'file', fileName: 'menu' }],
            dtmf: { maxDigits: 1, firstDigitTimeoutMs: 10_000 },
          },
        };
      }
      return { body: { phrases: [{ format: 'file', fileName: 'menu' }], hangup: true } };
    };
    const before = await scrape();
    assert.equal(before.sum('sipms_active_calls'), 0);
    assert.equal(before.sum('sipms_rtpengine_up'), 1, 'the node’s rtpengine answers');
    assert.ok(before.has('sipms_rtp_ports_in_use'), 'rtpengine reports its ports');
    assert.ok(before.has('nodejs_eventloop_lag_seconds'), 'event-loop lag is exported');
    assert.ok(before.sum('nodejs_eventloop_lag_seconds') >= 0);
    assert.ok(before.has('nodejs_eventloop_lag_p99_seconds'));
    assert.ok(before.has('process_resident_memory_bytes'));

    const xml = await renderIvrScenario('uac-steps.xml', {
      steps: [pause(1500), digit('5')].join('\n  '),
      byeTimeout: 20_000,
    });
    const sipp = runSipp([
      '-sf',
      xml,
      '-s',
      NUMBER,
      '-m',
      '1',
      '-mp',
      String(await freeSippMediaPort()),
      '-timeout',
      '40s',
      `${stack.sipHost}:${stack.sipPort}`,
    ]);

    // During: the call is answered and asks for its first command.
    await hook.waitFor('getIvrCommand');
    const during = await scrape();
    assert.equal(during.sum('sipms_active_calls'), 1, 'one call in progress');
    assert.equal(
      during.sum('sipms_calls_started_total', { direction: 'inbound' }) -
        before.sum('sipms_calls_started_total', { direction: 'inbound' }),
      1,
    );
    assert.equal(
      during.sum('sipms_sip_responses_total', { code: '200', direction: 'inbound' }) -
        before.sum('sipms_sip_responses_total', { code: '200', direction: 'inbound' }),
      1,
      'the 200 OK answering the call',
    );
    assert.equal(during.sum('sipms_calls_ended_total'), before.sum('sipms_calls_ended_total'), 'nothing ended yet');
    assert.ok(during.sum('sipms_rtp_ports_in_use') >= 4, `RTP ports in use: ${during.sum('sipms_rtp_ports_in_use')}`);

    const result = await sipp;
    assert.equal(result.code, 0, `SIPp failed:\n${result.errors}\n${stack.logs.slice(-15).join('\n')}`);
    await hook.waitFor('sessionCompleted');
    // The flow finishes once sessionCompleted's delivery record is in: the gauge follows within moments.
    let afterCall = await scrape();
    for (let i = 0; i < 50 && afterCall.sum('sipms_active_calls') !== 0; i++) {
      await new Promise((r) => setTimeout(r, 100));
      afterCall = await scrape();
    }
    const delta = (name: string, labels: Record<string, string> = {}) =>
      afterCall.sum(name, labels) - before.sum(name, labels);

    assert.equal(afterCall.sum('sipms_active_calls'), 0, 'no call in progress after it ended');
    assert.equal(delta('sipms_calls_started_total', { direction: 'inbound' }), 1);
    assert.equal(delta('sipms_calls_ended_total', { reason: 'hangup' }), 1, 'ended by the tenant’s hangup');
    assert.equal(delta('sipms_calls_ended_total'), 1);
    assert.equal(delta('sipms_sip_responses_total', { code: '200', direction: 'inbound' }), 1);
    const replies = (type: string) => delta('sipms_callback_round_trip_seconds_count', { type, outcome: 'reply' });
    assert.equal(replies('newCall'), 1);
    assert.equal(replies('getIvrCommand'), 2, 'the menu, then the command after the key');
    assert.equal(
      delta('sipms_callback_round_trip_seconds_count', { type: 'sessionCompleted', outcome: 'notified' }),
      1,
    );
    assert.ok(delta('sipms_callback_round_trip_seconds_sum', { type: 'getIvrCommand', outcome: 'reply' }) > 0);
    assert.equal(delta('sipms_callback_round_trip_seconds_count', { outcome: 'fallback' }), 0, 'no fallback');
    const p = afterCall.sum('sipms_callback_round_trip_seconds_bucket', {
      type: 'getIvrCommand',
      outcome: 'reply',
      le: '+Inf',
    });
    assert.equal(
      p,
      afterCall.sum('sipms_callback_round_trip_seconds_count', { type: 'getIvrCommand', outcome: 'reply' }),
    );
    assert.equal(delta('sipms_dtmf_to_next_prompt_seconds_count'), 1, 'the key, then the next prompt');
    const dtmfSeconds = delta('sipms_dtmf_to_next_prompt_seconds_sum');
    assert.ok(dtmfSeconds > 0 && dtmfSeconds < 5, `DTMF → next prompt ${dtmfSeconds} s`);
    assert.ok(afterCall.sum('sipms_audio_cache_bytes') > 0, 'the converted prompt is in the audio cache');
    assert.equal(afterCall.sum('sipms_rtpengine_up'), 1);
    assert.ok(afterCall.has('nodejs_eventloop_lag_seconds'));
    console.log(
      `# metrics: getIvrCommand round trip ${(
        (1000 * delta('sipms_callback_round_trip_seconds_sum', { type: 'getIvrCommand', outcome: 'reply' })) / 2
      ).toFixed(1)} ms mean; DTMF → next prompt ${(1000 * dtmfSeconds).toFixed(1)} ms`,
    );
  });

  test('an INVITE to a number nobody has is a 404 counted, not a call started', async () => {
    const before = await scrape();
    await runSipp([
      '-sn',
      'uac',
      '-s',
      'nobody-has-this',
      '-m',
      '1',
      '-mp',
      String(await freeSippMediaPort()),
      '-timeout',
      '10s',
      `${stack.sipHost}:${stack.sipPort}`,
    ]);
    const afterCall = await scrape();
    const delta = (name: string, labels: Record<string, string> = {}) =>
      afterCall.sum(name, labels) - before.sum(name, labels);
    assert.equal(delta('sipms_sip_responses_total', { code: '404', direction: 'inbound' }), 1);
    assert.equal(delta('sipms_calls_started_total'), 0, 'no call started for it');
    assert.equal(delta('sipms_calls_ended_total'), 0);
    assert.equal(afterCall.sum('sipms_active_calls'), 0);
  });
});

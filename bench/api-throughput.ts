// Requests per second and latency of the control plane on the local deployment (`npm start`'s stack:
// local API Gateway adapter → Lambda handlers → dynalite): an authenticated `GET /v1/tenant`, and
// `PUT promptfile` of a 100 KB WAV. A bounded load generator: 16 requests in flight, fixed duration.
//
//   npm run bench:api                (node --import tsx bench/api-throughput.ts)
//
// Environment (defaults are the full-size run):
//   BENCH_SECONDS=10                how long each route is loaded
//   BENCH_CONCURRENCY=16            requests in flight
//   RTP_PORT_MIN=37300 RTP_PORT_MAX=37399   rtpengine's ports (no calls are placed)
// Tenant limits: none apply (the API has no per-tenant request rate; one signup).
// Fails (exit 1) when a request fails (network error or a status ≥ 300) or a route gets no request through.
// Figures per route: api.get-tenant.* and api.put-promptfile.*: req-per-s, p50, p99 (ms).
import { toneWav } from '../integ-tests/src/audio.js';
import { startLocalStack } from '../integ-tests/src/local-stack.js';
import { BenchRun, envInt, envRtpRange } from './common.js';

const SECONDS = envInt('BENCH_SECONDS', 10);
const CONCURRENCY = envInt('BENCH_CONCURRENCY', 16);
const RTP = envRtpRange({ min: 37300, max: 37399 }, 0);

interface Result {
  name: string;
  key: string;
  requests: number;
  errors: number;
  rps: number;
  p50: number;
  p99: number;
  max: number;
}

function percentile(sorted: number[], p: number): number {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]! : Number.NaN;
}

/** CONCURRENCY workers, each sending one request at a time until the deadline. */
async function load(name: string, key: string, send: () => Promise<Response>): Promise<Result> {
  const latencies: number[] = [];
  let errors = 0;
  const statuses = new Map<string, number>();
  // Warm up (JIT, connection pool, dynalite) outside the measurement.
  for (let i = 0; i < CONCURRENCY; i++) await (await send()).arrayBuffer();
  const started = performance.now();
  const deadline = started + SECONDS * 1000;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (performance.now() < deadline) {
        const t0 = performance.now();
        const res = await send().catch((err: Error) => err);
        if (res instanceof Response) await res.arrayBuffer();
        latencies.push(performance.now() - t0);
        if (!(res instanceof Response) || res.status >= 300) {
          errors++;
          const what = res instanceof Response ? `HTTP ${res.status}` : res.message;
          statuses.set(what, (statuses.get(what) ?? 0) + 1);
        }
      }
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  for (const [what, n] of statuses) run.problem(`${name}: ${n}× ${what}`);
  return {
    name,
    key,
    requests: latencies.length,
    errors,
    rps: latencies.length / elapsed,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    max: latencies[latencies.length - 1] ?? Number.NaN,
  };
}

const run = new BenchRun('api');

async function main(): Promise<void> {
  const stack = await startLocalStack({ rtpPortMin: RTP.min, rtpPortMax: RTP.max, env: { LOG_LEVEL: 'warn' } });
  try {
    const signup = await fetch(`${stack.apiUrl}/v1/tenants`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'Bench' }),
    });
    if (signup.status !== 201) throw new Error(`signup failed: ${signup.status} ${await signup.text()}`);
    const tenant = (await signup.json()) as { apiKey: string; domain: string };
    const auth = { authorization: `Bearer ${tenant.apiKey}` };
    // 100 KB of 8 kHz 16-bit mono audio: 6.4 s.
    const wav = toneWav(6400).subarray(0, 100 * 1024);
    const results = [
      await load('GET /v1/tenant', 'get-tenant', () => fetch(`${stack.apiUrl}/v1/tenant`, { headers: auth })),
      await load('PUT promptfile (100 KB)', 'put-promptfile', () =>
        fetch(`${stack.apiUrl}/mediaservice/${tenant.domain}/promptfile/bench`, {
          method: 'PUT',
          headers: { ...auth, 'content-type': 'audio/wav' },
          body: wav,
        }),
      ),
    ];
    process.stdout.write(
      `api-throughput: local deployment, ${CONCURRENCY} in flight, ${SECONDS} s per route, Node ${process.version}\n`,
    );
    process.stdout.write('route                      requests  errors    req/s   p50 ms   p99 ms   max ms\n');
    for (const r of results) {
      process.stdout.write(
        `${r.name.padEnd(26)} ${String(r.requests).padStart(8)} ${String(r.errors).padStart(7)} ${r.rps.toFixed(1).padStart(8)} ${r.p50.toFixed(1).padStart(8)} ${r.p99.toFixed(1).padStart(8)} ${r.max.toFixed(1).padStart(8)}\n`,
      );
    }
    for (const r of results) {
      run.check(r.requests > r.errors, `${r.name}: no request succeeded`);
      run.figure(`${r.key}.req-per-s`, r.rps, 'req/s');
      run.figure(`${r.key}.p50`, r.p50, 'ms');
      run.figure(`${r.key}.p99`, r.p99, 'ms');
    }
  } finally {
    await stack.stop();
  }
}

main().then(
  () => run.finish(),
  (err) => {
    process.stderr.write(`${(err as Error).stack ?? err}\n`);
    process.exit(1);
  },
);

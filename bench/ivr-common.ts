/** Shared set-up for the IVR benchmarks: the stack as `npm start` runs it, a tenant, a webhook, a prompt. */
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiClient } from '../integ-tests/src/api-client.js';
import { toneWav } from '../integ-tests/src/audio.js';
import { type LocalStack, startLocalStack } from '../integ-tests/src/local-stack.js';
import { scenario } from '../integ-tests/src/sipp.js';
import { type Responder, WebhookServer } from '../integ-tests/src/webhook-server.js';

export async function benchStack(opts: {
  rtpPortMin: number;
  rtpPortMax: number;
  number: string;
  prompts: Record<string, number>;
  responder: Responder;
  /** Settings of the stack, e.g. the tenant limits (common.ts tenantLimits). */
  env?: Record<string, string>;
}): Promise<{ stack: LocalStack; hook: WebhookServer; api: ApiClient }> {
  const stack = await startLocalStack({
    rtpPortMin: opts.rtpPortMin,
    rtpPortMax: opts.rtpPortMax,
    ...(opts.env ? { env: opts.env } : {}),
  });
  const hook = new WebhookServer(opts.responder);
  try {
    await hook.start();
    const api = new ApiClient(stack.apiUrl);
    const tenant = await api.signup(`bench-${opts.number}`);
    for (const res of [
      await api.call('PATCH', '/v1/tenant', { callbackUrl: hook.url, callbackTimeoutMs: 15000 }),
      await api.call('PUT', `/v1/numbers/${opts.number}`),
    ]) {
      if (res.status >= 300) throw new Error(`tenant set-up failed: ${res.status} ${JSON.stringify(res.json)}`);
    }
    for (const [name, ms] of Object.entries(opts.prompts)) {
      const up = await api.call('PUT', `/mediaservice/${tenant.domain}/promptfile/${name}`, toneWav(ms));
      if (up.status !== 200) throw new Error(`prompt upload failed: ${up.status}`);
    }
    return { stack, hook, api };
  } catch (err) {
    // A half set-up stack would keep the benchmark's process alive.
    await hook.close();
    await stack.stop();
    throw err;
  }
}

/** The scripted-caller scenario with its placeholders filled. */
export async function ivrScenario(values: Record<string, string | number>): Promise<string> {
  let xml = await readFile(scenario('ivr/uac-steps.xml'), 'utf8');
  for (const [k, v] of Object.entries(values)) xml = xml.replaceAll(`{{${k}}}`, String(v));
  const out = join(await mkdtemp(join(tmpdir(), 'bench-scenario-')), 'uac-steps.xml');
  await writeFile(out, xml);
  return out;
}

export function quantile(sorted: number[], q: number): number {
  const i = Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1);
  return sorted[Math.max(0, i)]!;
}

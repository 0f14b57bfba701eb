import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { CALLBACK_NAMES } from '@sipms/shared/contracts/callbacks';
import { SessionStore } from '@sipms/shared/data/session-store';
import { TenantStore } from '@sipms/shared/data/tenant-store';
import type { BusEvent } from '@sipms/shared/events/envelope';
import { RULES } from '@sipms/shared/events/rules';
import { createLogger } from '@sipms/shared/util/logger';
import { LocalEventBus } from '../../../infra/src/local/local-event-bus.js';
import { WebhookServer } from '../../../integ-tests/src/webhook-server.js';
import { startTable } from '../../../shared/test/helpers/dynamo-table.js';
import { BusCallbacks } from '../../src/callbacks/bus-callbacks.js';
import { ReplyPoller } from '../../src/callbacks/reply-poller.js';
import { FakeCallbacks, reply as script } from '../kit/callbacks.js';
import {
  type CallbackPortUnderTest,
  callbackPortContract,
  request,
  VALID_REPLIES,
  type WebhookBehaviour,
} from './callback-port.contract.js';

// CallbackPort: the node's BusCallbacks + ReplyPoller → the local PutEvents endpoint (the shared rules) → the
// deployed dispatcher handler → tenants' real HTTP webhooks, outcomes stored in dynalite; and the kit's fake.
const logger = createLogger({ test: 'callback-contract' }, 'silent');
let table: Awaited<ReturnType<typeof startTable>>;
let promptDir: string;

before(async () => {
  table = await startTable('contracts-callbacks');
  promptDir = await mkdtemp(join(tmpdir(), 'contracts-prompts-'));
});
after(async () => {
  await table?.close();
  await rm(promptDir, { recursive: true, force: true });
});

/** A URL nothing listens at: a port bound and released again. */
async function deadUrl(): Promise<string> {
  const probe = createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', () => r()));
  const { port } = probe.address() as { port: number };
  await new Promise((r) => probe.close(r));
  return `http://127.0.0.1:${port}/hooks`;
}

/** The real chain; `observeOverhead` is told each round trip's platform share (the node's OverloadGuard). */
async function busCallbacks(observeOverhead?: (ms: number) => void): Promise<CallbackPortUnderTest> {
  // The dispatcher handler builds its control plane from the environment, as a Lambda does.
  Object.assign(process.env, {
    AWS_REGION: 'local',
    AWS_ACCESS_KEY_ID: 'local',
    AWS_SECRET_ACCESS_KEY: 'local',
    AWS_ENDPOINT_URL_DYNAMODB: table.endpoint,
    TABLE_NAME: table.tableName,
    SIP_DOMAIN: 'sip.test',
    PROMPT_STORE: `dir:${promptDir}`,
    CALLBACK_URL_POLICY: 'allow-loopback',
    LOG_LEVEL: 'silent',
  });
  const { handler: dispatcher } = (await import('../../../lambdas/src/handlers/dispatcher.js')) as {
    handler: (e: BusEvent) => Promise<void>;
  };
  const bus = new LocalEventBus(RULES, { dispatcher }, logger);
  const busEndpoint = await bus.start();
  const events = new EventBridgeClient({
    endpoint: busEndpoint,
    region: 'local',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  const poller = new ReplyPoller(new SessionStore(table.doc, table.tableName), logger);
  const port = new BusCallbacks(events, 'default', poller, 'contract-node', logger, undefined, observeOverhead);
  const tenants = new TenantStore(table.doc, table.tableName, 'sip.test');
  const hooks = new Map<string, WebhookServer>();

  return {
    port,
    async tenant(webhook: WebhookBehaviour) {
      const hook = new WebhookServer((cb) => {
        switch (webhook.kind) {
          case 'reply':
            return { body: webhook.reply(cb.name as never) };
          case 'slow':
            return { delayMs: webhook.delayMs, body: webhook.reply(cb.name as never) };
          case 'invalid':
            return { body: { action: 'no-such-action', phrases: 'not a list' } };
          default:
            return undefined;
        }
      });
      const url = webhook.kind === 'unreachable' ? await deadUrl() : await hook.start();
      const { tenant } = await tenants.create({ name: `contract-${webhook.kind}`, callbackUrl: url });
      await tenants.update(tenant.tenantId, { callbackRetries: 0, callbackTimeoutMs: 2000 });
      hooks.set(tenant.tenantId, hook);
      return tenant.tenantId;
    },
    received(tenantId, sessionId) {
      return (hooks.get(tenantId)?.received ?? [])
        .filter((cb) => cb.body.sessionId === sessionId)
        .map((cb) => ({ type: cb.name, payload: cb.body }));
    },
    async close() {
      poller.close();
      await Promise.all([...hooks.values()].map((h) => h.close()));
      await bus.close();
      // Fails on any body that broke the callback contract's schemas.
      for (const h of hooks.values()) h.assertContract();
      events.destroy();
    },
  } satisfies CallbackPortUnderTest;
}

callbackPortContract('BusCallbacks → local bus → dispatcher → webhook', () => busCallbacks());

test("BusCallbacks: a round trip's platform share leaves out the time the webhook took", async () => {
  const overheads: number[] = [];
  const subject = await busCallbacks((ms) => overheads.push(ms));
  try {
    const tenantId = await subject.tenant({ kind: 'slow', delayMs: 500, reply: () => VALID_REPLIES.newCall });
    const t0 = performance.now();
    const res = await subject.port.request(request(tenantId, 'newCall'), 5000);
    const took = performance.now() - t0;
    assert.equal(res.fallback, false);
    assert.equal(overheads.length, 1);
    const [overhead] = overheads as [number];
    // The bus, the dispatcher's claim and write, the polls: tens of ms here, never the webhook's 500.
    assert.ok(overhead >= 0 && overhead <= took - 450, `platform share ${overhead} ms of a ${took} ms round trip`);
  } finally {
    await subject.close?.();
  }
});

callbackPortContract('FakeCallbacks (test kit)', () => {
  const port = new FakeCallbacks();
  const tenants = new Map<string, WebhookBehaviour>();
  // The fake scripts the tenant per callback name; the behaviour is looked up by the request's tenant.
  for (const type of CALLBACK_NAMES) {
    port.on(type, (_body, req) => {
      const webhook = tenants.get(req.tenantId);
      switch (webhook?.kind) {
        case 'reply':
          return webhook.reply(type);
        case 'slow':
          return script.after(webhook.delayMs, webhook.reply(type));
        case 'invalid':
          return { action: 'no-such-action', phrases: 'not a list' };
        default:
          return script.fallback('callbackUrl: connect ECONNREFUSED');
      }
    });
  }
  return {
    port,
    async tenant(webhook) {
      const tenantId = `tn-${tenants.size + 1}`;
      tenants.set(tenantId, webhook);
      return tenantId;
    },
    received(tenantId, sessionId) {
      return port.calls
        .filter((c) => c.tenantId === tenantId && c.sessionId === sessionId)
        .map((c) => ({ type: c.type, payload: c.body }));
    },
    async close() {
      port.assertNoViolations();
    },
  } satisfies CallbackPortUnderTest;
});

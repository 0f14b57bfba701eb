import assert from 'node:assert/strict';
import { AsyncLocalStorage } from 'node:async_hooks';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { ROUTE_GROUPS, ROUTES, type RouteGroup } from '@sipms/shared/api/routes';
import { NodeRegistry } from '@sipms/shared/data/node-registry';
import { SessionStore } from '@sipms/shared/data/session-store';
import { toneWav } from '../../integ-tests/src/audio.js';
import { freeTcpPort } from '../../integ-tests/src/ports.js';
import { startDynamoDbLocal } from '../src/local/dynamodb-local.js';
import { type ApiLambda, LambdaHttpAdapter } from '../src/local/lambda-http-adapter.js';
import { type Cfn, type CfnTemplate, referencedIds, resourcesOfType, scratchDir, synth } from './helpers/synth.js';

// Each Lambda's table permissions in the template against what its code calls. The handlers run here, in
// this process, against dynalite (the real DynamoDB API) behind the local API adapter: every route with its
// documented example, the dispatcher with a callback, the sweeper with a dead node. Each DynamoDB request is
// recorded with the Lambda it came from (AsyncLocalStorage) and must be allowed by that Lambda's role in the
// synthesized stack — action, table, and any dynamodb:LeadingKeys condition. (The 500s of GET /v1/sessions
// on AWS were such a gap: authentication writes the key's lastUsedAt, and the role could only read.)

type Fn = RouteGroup | 'dispatcher' | 'node-sweeper';
const caller = new AsyncLocalStorage<Fn>();
/** Per Lambda: `<Action> <partition key>` of each request it made. */
const calls = new Map<Fn, Set<string>>();

/** The document client's commands are the table's actions under shorter names. */
const DOCUMENT_ACTIONS: Record<string, string> = {
  Get: 'GetItem',
  Put: 'PutItem',
  Update: 'UpdateItem',
  Delete: 'DeleteItem',
  BatchGet: 'BatchGetItem',
  BatchWrite: 'BatchWriteItem',
  TransactGet: 'TransactGetItems',
  TransactWrite: 'TransactWriteItems',
};

/** The partition keys a request touches (document-client input: plain values; low-level: `{S}`). */
function partitionKeysOf(input: Cfn): string[] {
  const plain = (v: Cfn): string => (typeof v === 'string' ? v : v?.S);
  const keys: string[] = [];
  if (input.Key?.pk) keys.push(plain(input.Key.pk));
  if (input.Item?.pk) keys.push(plain(input.Item.pk));
  const values = input.ExpressionAttributeValues ?? {};
  if (input.KeyConditionExpression) {
    const m = /\bpk\s*=\s*(:\w+)|(#\w+)\s*=\s*(:\w+)/.exec(input.KeyConditionExpression);
    const name = m?.[1] ?? m?.[3];
    if (name && values[name]) keys.push(plain(values[name]));
  }
  for (const req of Object.values(input.RequestItems ?? {}) as Cfn[]) {
    for (const k of req.Keys ?? []) keys.push(plain(k.pk));
    for (const w of Array.isArray(req) ? req : []) keys.push(plain(w.PutRequest?.Item?.pk ?? w.DeleteRequest?.Key?.pk));
  }
  return keys.length > 0 ? keys : ['(any)'];
}

function record(command: Cfn): void {
  const fn = caller.getStore();
  if (!fn) return;
  const name = String(command.constructor.name).replace(/Command$/, '');
  const action = DOCUMENT_ACTIONS[name] ?? name;
  const set = calls.get(fn) ?? new Set<string>();
  for (const pk of partitionKeysOf(command.input)) set.add(`${action} ${pk}`);
  calls.set(fn, set);
}

// Both clients, each on its own prototype: the document client sends through its own middleware stack.
const originalSends = [DynamoDBClient.prototype, DynamoDBDocumentClient.prototype].map((proto) => {
  const original = proto.send;
  proto.send = function (this: Cfn, command: Cfn, ...rest: Cfn[]) {
    record(command);
    return (original as Cfn).call(this, command, ...rest);
  } as Cfn;
  return () => {
    proto.send = original;
  };
});

/** Required query parameters (the examples are bodies). */
const QUERIES: Record<string, string> = { 'GET /v1/usage': '?from=2026-01-01&to=2026-01-31' };

const ADMIN_TOKEN = `msa_${randomUUID().replaceAll('-', '')}`;
const TABLE = 'table-actions-test';

describe('each Lambda may do what its code does to the table', () => {
  let dynamo: Awaited<ReturnType<typeof startDynamoDbLocal>>;
  let api: LambdaHttpAdapter;
  let apiUrl: string;
  let busStub: Server;
  let webhook: Server;
  let template: CfnTemplate;

  before(async () => {
    const dir = scratchDir('table-actions-');
    dynamo = await startDynamoDbLocal(`${dir}/dynamodb`, TABLE);
    // EventBridge's PutEvents, answered as the service does (the sweeper publishes a sessionCompleted).
    busStub = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(200, { 'content-type': 'application/x-amz-json-1.1' });
        res.end(JSON.stringify({ FailedEntryCount: 0, Entries: [{ EventId: randomUUID() }] }));
      });
    });
    webhook = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{}');
      });
    });
    await Promise.all([busStub, webhook].map((s) => new Promise<void>((r) => s.listen(0, '127.0.0.1', r))));
    Object.assign(process.env, {
      AWS_REGION: 'local',
      AWS_ACCESS_KEY_ID: 'local',
      AWS_SECRET_ACCESS_KEY: 'local',
      AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint,
      AWS_ENDPOINT_URL_EVENTBRIDGE: `http://127.0.0.1:${(busStub.address() as AddressInfo).port}`,
      EVENT_BUS_NAME: 'default',
      TABLE_NAME: TABLE,
      SIP_DOMAIN: 'sip.test',
      PROMPT_STORE: `dir:${dir}/prompts`,
      // The folder store's object URLs, as the local deployment sets them (their server is not needed here).
      LOCAL_OBJECTS_URL: 'http://127.0.0.1:1',
      LOCAL_OBJECTS_KEY: randomBytes(32).toString('base64'),
      CALLBACK_URL_POLICY: 'allow-loopback',
      CLAIMABLE_NUMBERS: '*',
      OUTBOUND_DESTINATIONS: '*',
      // As the stack sets it with a certificate: the credential route then writes its item.
      SOFTPHONE_WS_URL: 'wss://sip.test:8443',
      POWERTOOLS_METRICS_DISABLED: 'true',
      POWERTOOLS_LOG_LEVEL: 'ERROR',
      LOG_LEVEL: 'error',
      ADMIN_TOKEN_SHA256: createHash('sha256').update(ADMIN_TOKEN).digest('hex'),
    });
    const handlers = {} as Record<RouteGroup, ApiLambda>;
    for (const group of ROUTE_GROUPS) {
      const { handler } = (await import(`@sipms/lambdas/handlers/${group}`)) as { handler: ApiLambda };
      handlers[group] = (event, context) => caller.run(group, () => handler(event, context));
    }
    const { createLogger } = await import('@sipms/shared/util/logger');
    api = new LambdaHttpAdapter(
      ROUTES,
      handlers,
      createLogger({}, 'error', () => {}),
    );
    const port = await freeTcpPort();
    await api.start('127.0.0.1', port);
    apiUrl = `http://127.0.0.1:${port}`;
    template = synth({}, { bundle: false }).template;
  });

  after(async () => {
    for (const restore of originalSends) restore();
    await api?.close();
    busStub?.close();
    webhook?.close();
    await dynamo?.close();
  });

  /** Seeds what the examples name (session s0123 with participants and a connection, on a live node n1). */
  async function seed(tenantId: string): Promise<void> {
    const doc = DynamoDBDocumentClient.from(new DynamoDBClient({}), {
      marshallOptions: { removeUndefinedValues: true },
    });
    const registry = new NodeRegistry(doc, TABLE);
    await registry.heartbeat({
      nodeId: 'n1',
      sip: { host: '127.0.0.1', port: 5060 },
      activeCalls: 1,
      maxCalls: 100,
      draining: false,
      at: new Date().toISOString(),
    });
    // A node whose heartbeat is old holds a session: the sweeper's work.
    await registry.heartbeat({
      nodeId: 'dead1',
      sip: { host: '127.0.0.1', port: 5062 },
      activeCalls: 1,
      maxCalls: 100,
      draining: false,
      slotTenants: [tenantId],
      at: new Date(Date.now() - 10 * 60_000).toISOString(),
    });
    const sessions = new SessionStore(doc, TABLE);
    const participant = (p: string) => ({
      direction: 'inbound' as const,
      from: 'sip:caller@x',
      to: `sip:${p}@x`,
      sipCallId: `${p}@x`,
      state: 'active' as const,
      answeredAt: new Date().toISOString(),
    });
    const now = new Date().toISOString();
    await sessions.create({
      sessionId: 's0123',
      tenantId,
      nodeId: 'n1',
      state: 'active',
      createdAt: now,
      participants: { p0123: participant('p0123'), p4567: participant('p4567') },
      connections: { c0123: { participantIds: ['p0123', 'p4567'], state: 'connected' } },
    });
    await sessions.create({
      sessionId: 's_dead',
      tenantId,
      nodeId: 'dead1',
      state: 'active',
      createdAt: now,
      participants: { p1: participant('p1') },
    });
  }

  async function request(method: string, path: string, auth: string | undefined, body?: unknown, raw?: Buffer) {
    const res = await fetch(`${apiUrl}${path}`, {
      method,
      headers: {
        ...(auth ? { authorization: `Bearer ${auth}` } : {}),
        ...(raw ? { 'content-type': 'audio/wav' } : body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      body: raw ?? (body === undefined ? undefined : JSON.stringify(body)),
    });
    return { status: res.status, json: (await res.json().catch(() => undefined)) as Cfn };
  }

  test('every route, the dispatcher and the sweeper: each request is allowed by its own role', async () => {
    // The examples' callback URL does not resolve here: the local webhook instead.
    const callbackUrl = `http://127.0.0.1:${(webhook.address() as AddressInfo).port}/hooks`;
    const signup = await request('POST', '/v1/tenants', undefined, { name: 'Actions', callbackUrl });
    assert.equal(signup.status, 201, JSON.stringify(signup.json));
    const { tenantId, domain, apiKey } = signup.json as { tenantId: string; domain: string; apiKey: string };
    await seed(tenantId);
    const spare = await request('POST', '/v1/api-keys', apiKey, { name: 'spare' });
    const values: Record<string, string> = {
      tenantId,
      domain,
      filename: 'welcome',
      number: '+4930555',
      keyId: spare.json.keyId,
      sessionId: 's0123',
    };
    const wav = toneWav(100);

    const doc = DynamoDBDocumentClient.from(new DynamoDBClient({}));
    const keyId = /^msk_([^_]+)_/.exec(apiKey)![1]!;
    // Deletes last, so what they remove was there for the other routes.
    const ordered = [...ROUTES].sort(
      (a, b) => Number(a.routeKey.startsWith('DELETE')) - Number(b.routeKey.startsWith('DELETE')),
    );
    const statuses: string[] = [];
    for (const route of ordered) {
      if (route.routeKey === 'POST /v1/tenants') continue;
      const [method, template_] = route.routeKey.split(' ') as [string, string];
      const path = template_.replace(/\{(\w+)\}/g, (_, name: string) => encodeURIComponent(values[name] ?? name));
      // The key's lastUsedAt is written at most once a minute: make it old, so every route's authentication writes it.
      await doc.send(
        new UpdateCommand({
          TableName: TABLE,
          Key: { pk: `APIKEY#${keyId}`, sk: 'APIKEY' },
          UpdateExpression: 'SET lastUsedAt = :old',
          ExpressionAttributeValues: { ':old': '2000-01-01T00:00:00.000Z' },
        }),
      );
      const auth = route.auth === 'admin' ? ADMIN_TOKEN : route.auth ? apiKey : undefined;
      const isRaw = typeof route.body === 'object' && (route.body as { kind?: string }).kind === 'raw';
      const query = QUERIES[route.routeKey] ?? '';
      const body =
        route.routeKey === 'PATCH /v1/tenant' ? { ...(route.example as object), callbackUrl } : route.example;
      const res = await request(method, `${path}${query}`, auth, isRaw ? undefined : body, isRaw ? wav : undefined);
      statuses.push(`${route.routeKey} ${res.status}${res.status >= 400 ? JSON.stringify(res.json) : ''}`);
      assert.ok(res.status < 500, `${route.routeKey}: ${res.status} ${JSON.stringify(res.json)}`);
    }

    const { handler: dispatcher } = (await import('@sipms/lambdas/handlers/dispatcher')) as {
      handler: (e: unknown) => Promise<void>;
    };
    const time = new Date().toISOString();
    await caller.run('dispatcher', () =>
      dispatcher({
        id: randomUUID(),
        source: 'sip-mediaserver.media-node',
        'detail-type': 'callback',
        time,
        detail: {
          id: `e_${randomUUID()}`,
          tenantId,
          sessionId: 's0123',
          seq: 1,
          type: 'getIvrCommand',
          time,
          nodeId: 'n1',
          expectsReply: true,
          payload: { sessionId: 's0123', participantId: 'p0123', replyId: 'r1', seq: 1, timestamp: time },
        },
      }),
    );
    const { handler: sweep } = await import('@sipms/lambdas/handlers/node-sweeper');
    const swept = await caller.run('node-sweeper', () => sweep());
    assert.deepEqual([swept.nodes, swept.sessions], [['dead1'], 1], "the sweeper completed the dead node's session");

    const missing: string[] = [];
    const granted = grantsByFunction(template);
    for (const [fn, requests] of calls) {
      const grants = granted.get(fn);
      assert.ok(grants, `no Lambda in the template for ${fn}`);
      for (const call of requests) {
        const [action, pk] = call.split(' ') as [string, string];
        if (!grants.some((g) => g.actions.has(`dynamodb:${action}`) && g.allows(pk))) missing.push(`${fn}: ${call}`);
      }
    }
    assert.deepEqual(missing, [], `requests the role does not allow (routes: ${statuses.join(', ')})`);
    // The test exercised every Lambda that touches the table.
    for (const fn of [...ROUTE_GROUPS.filter((g) => g !== 'openapi'), 'dispatcher', 'node-sweeper'] as Fn[]) {
      assert.ok((calls.get(fn)?.size ?? 0) > 0, `${fn} made no table request`);
    }
  });
});

interface Grant {
  actions: Set<string>;
  allows(pk: string): boolean;
}

/** Each Lambda's Allow statements on the table (or its indexes), with their LeadingKeys condition. */
function grantsByFunction(t: CfnTemplate): Map<Fn, Grant[]> {
  const [tableId] = resourcesOfType(t, 'AWS::DynamoDB::Table')[0]!;
  const roleStatements = new Map<string, Cfn[]>();
  for (const [, policy] of resourcesOfType(t, 'AWS::IAM::Policy')) {
    for (const role of referencedIds(policy.Roles)) {
      roleStatements.set(role, [...(roleStatements.get(role) ?? []), ...(policy.PolicyDocument.Statement as Cfn[])]);
    }
  }
  const out = new Map<Fn, Grant[]>();
  for (const [, fn] of resourcesOfType(t, 'AWS::Lambda::Function')) {
    const desc = String(fn.Description);
    const group = /API routes of the "([\w-]+)" group/.exec(desc)?.[1];
    const name: Fn | undefined = group
      ? (group as RouteGroup)
      : /tenant callbacks/.test(desc)
        ? 'dispatcher'
        : /dead media nodes/.test(desc)
          ? 'node-sweeper'
          : undefined;
    if (!name) continue;
    const role = [...referencedIds(fn.Role)][0]!;
    const grants: Grant[] = [];
    for (const st of roleStatements.get(role) ?? []) {
      if (st.Effect !== 'Allow' || !referencedIds(st.Resource).has(tableId)) continue;
      const patterns = [st.Condition?.['ForAllValues:StringLike']?.['dynamodb:LeadingKeys'] ?? []].flat() as string[];
      grants.push({
        actions: new Set([st.Action].flat() as string[]),
        allows: (pk) =>
          patterns.length === 0 ||
          patterns.some((p) =>
            new RegExp(`^${p.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replaceAll('*', '.*')}$`).test(pk),
          ),
      });
    }
    out.set(name, grants);
  }
  return out;
}

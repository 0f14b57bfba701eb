import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import { SipCredentialStore } from '@sipms/shared/data/sip-credential-store';
import { TenantStore } from '@sipms/shared/data/tenant-store';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { startTable } from '../../shared/test/helpers/dynamo-table.js';

// POST /v1/softphone/credentials as deployed: the tenants group's Lambda handler, its composition root built from
// the environment (SOFTPHONE_WS_URL set), real API-key authentication, against the DynamoDB API (dynalite).
// softphone-unconfigured.test.ts covers the deployment without SOFTPHONE_WS_URL (one configuration per process).
const TABLE = 'softphone-credentials';
const WS_URL = 'wss://sip.example.net:5063';
let table: Awaited<ReturnType<typeof startTable>>;
let promptDir: string;
let tenants: TenantStore;
let handler: (event: APIGatewayProxyEventV2) => Promise<APIGatewayProxyStructuredResultV2>;
let alpha: { tenantId: string; domain: string; apiKey: string };
let beta: { tenantId: string; domain: string; apiKey: string };

before(async () => {
  table = await startTable(TABLE);
  promptDir = await mkdtemp(join(tmpdir(), 'softphone-prompts-'));
  Object.assign(process.env, {
    TABLE_NAME: TABLE,
    PROMPT_STORE: `dir:${promptDir}`,
    SOFTPHONE_WS_URL: `${WS_URL}/`,
    AWS_REGION: 'local',
    AWS_ACCESS_KEY_ID: 'x',
    AWS_SECRET_ACCESS_KEY: 'x',
    AWS_ENDPOINT_URL_DYNAMODB: table.endpoint,
    LOG_LEVEL: 'error',
    POWERTOOLS_METRICS_DISABLED: 'true',
  });
  ({ handler } = await import('../src/handlers/tenants.js'));
  tenants = new TenantStore(table.doc, TABLE, 'sip.localhost');
  const signup = async (name: string) => {
    const { tenant, apiKey } = await tenants.create({ name });
    return { tenantId: tenant.tenantId, domain: tenant.domain, apiKey };
  };
  alpha = await signup('Alpha');
  beta = await signup('Beta');
});
after(async () => {
  await table.close();
  await rm(promptDir, { recursive: true, force: true });
});

async function post(body: unknown, apiKey = alpha.apiKey, headers: Record<string, string> = {}) {
  const res = await handler({
    routeKey: 'POST /v1/softphone/credentials',
    headers: { ...headers, ...(apiKey ? { authorization: `Bearer ${apiKey}` } : {}) },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    isBase64Encoded: false,
    requestContext: { requestId: 'req-sp', http: { sourceIp: '192.0.2.7' } },
  } as unknown as APIGatewayProxyEventV2);
  const json = JSON.parse(String(res.body));
  if (res.statusCode === 201) tokens.push(json.credential.token);
  return { status: res.statusCode, json };
}

/** Every token the API handed out in this file. */
const tokens: string[] = [];

/** The credential items in the table (a Scan: fine for a test table, never done by the API). */
async function storedCredentials() {
  const res = await table.doc.send(
    new ScanCommand({
      TableName: TABLE,
      FilterExpression: 'begins_with(pk, :p)',
      ExpressionAttributeValues: { ':p': 'SIPCRED#' },
    }),
  );
  return res.Items ?? [];
}

test('201: a credential for the caller’s tenant, its SIP URI in the tenant’s domain, the configured WebSocket URL', async () => {
  const started = Date.now();
  const res = await post({ ttlSec: 120 });
  assert.equal(res.status, 201, JSON.stringify(res.json));
  const c = res.json.credential;
  assert.deepEqual(Object.keys(res.json), ['credential']);
  assert.deepEqual(Object.keys(c).sort(), ['credentialId', 'expiresAt', 'sipUri', 'token', 'wsUrl']);
  assert.match(c.credentialId, /^sc_[a-z2-7]{26}$/);
  assert.match(c.token, new RegExp(`^${c.credentialId}\\.[A-Za-z0-9_-]{43}$`));
  assert.equal(c.wsUrl, WS_URL, 'the trailing slash of the setting is dropped');
  assert.equal(c.sipUri, `sip:softphone-${c.credentialId}@${alpha.domain}`);
  const expiresAt = Date.parse(c.expiresAt);
  assert.equal(new Date(expiresAt).toISOString(), c.expiresAt);
  assert.ok(expiresAt > started + 118_000 && expiresAt <= Date.now() + 120_000, c.expiresAt);

  // The token is what the media node will verify: it names this tenant.
  const verified = await new SipCredentialStore(table.doc, TABLE).verify(c.token);
  assert.deepEqual(verified, { credentialId: c.credentialId, tenantId: alpha.tenantId, expiresAtMs: expiresAt });

  const other = (await post({}, beta.apiKey)).json.credential;
  assert.equal(other.sipUri, `sip:softphone-${other.credentialId}@${beta.domain}`);
  assert.equal((await new SipCredentialStore(table.doc, TABLE).verify(other.token))?.tenantId, beta.tenantId);
});

test('the body is optional: no body and {} both give the default 600 s', async () => {
  for (const body of [undefined, {}]) {
    const before = Date.now();
    const res = await post(body);
    assert.equal(res.status, 201, JSON.stringify(res.json));
    const ttlMs = Date.parse(res.json.credential.expiresAt) - before;
    assert.ok(ttlMs > 598_000 && ttlMs <= 600_000, String(ttlMs));
  }
});

test('ttlSec inside 60…3600 is taken; outside, fractional or not a number is 400 naming ttlSec', async () => {
  for (const ttlSec of [60, 3600]) assert.equal((await post({ ttlSec })).status, 201, String(ttlSec));
  for (const ttlSec of [59, 3601, 0, -1, 1.5, '600', null, true, 1e308]) {
    const res = await post({ ttlSec });
    assert.equal(res.status, 400, `${ttlSec}: ${JSON.stringify(res.json)}`);
    assert.equal(res.json.error.code, 'validation_failed');
    assert.equal(res.json.error.field, 'ttlSec', JSON.stringify(res.json));
  }
});

test('an unknown field is 400 naming it; a body that is not a JSON object is 400', async () => {
  const unknown = await post({ ttlSec: 600, tenantId: beta.tenantId });
  assert.equal(unknown.status, 400);
  assert.equal(unknown.json.error.code, 'validation_failed');
  assert.equal(unknown.json.error.field, 'tenantId');
  for (const body of ['{"ttlSec":', '[]', '"x"', 'null']) {
    const res = await post(body);
    assert.equal(res.status, 400, `${body}: ${JSON.stringify(res.json)}`);
    assert.ok(['bad_request', 'validation_failed'].includes(res.json.error.code), JSON.stringify(res.json));
  }
});

test('no key or a wrong key is 401; a suspended tenant is 403 as on every tenant route; nothing is issued', async () => {
  const issuedBefore = (await storedCredentials()).length;
  for (const key of ['', `${alpha.apiKey.slice(0, -2)}xx`, 'msk_nonsense']) {
    const res = await post({ ttlSec: 60 }, key);
    assert.equal(res.status, 401, key || 'no key');
    assert.equal(res.json.error.code, 'unauthorized');
  }
  await tenants.setSuspended(beta.tenantId, { reason: 'unpaid invoice' });
  const suspended = await post({ ttlSec: 60 }, beta.apiKey);
  assert.equal(suspended.status, 403);
  assert.equal(suspended.json.error.code, 'tenant_suspended');
  assert.equal((await storedCredentials()).length, issuedBefore, 'no credential was written for a refused request');
  await tenants.setSuspended(beta.tenantId, null);
  assert.equal((await post({ ttlSec: 60 }, beta.apiKey)).status, 201, 'resumed');
});

test('an Idempotency-Key is not replayed here: each request is a new credential, and no response is stored', async () => {
  const headers = { 'idempotency-key': 'softphone-retry-1' };
  const first = await post({ ttlSec: 300 }, alpha.apiKey, headers);
  const second = await post({ ttlSec: 300 }, alpha.apiKey, headers);
  assert.equal(first.status, 201);
  assert.equal(second.status, 201);
  assert.notEqual(first.json.credential.credentialId, second.json.credential.credentialId);
  const { Items: stored = [] } = await table.doc.send(
    new ScanCommand({
      TableName: TABLE,
      FilterExpression: 'begins_with(pk, :p)',
      ExpressionAttributeValues: { ':p': 'IDEMPOTENCY#' },
    }),
  );
  assert.deepEqual(stored, [], 'nothing kept for a replay');
});

test('the stored items hold the hash of the secret, never the token or the secret', async () => {
  const items = await storedCredentials();
  assert.equal(items.length, tokens.length, 'one item per credential handed out');
  assert.ok(tokens.length >= 7, String(tokens.length));
  const everything = JSON.stringify(items);
  for (const token of tokens) {
    const [credentialId, secret] = token.split('.') as [string, string];
    assert.equal(everything.includes(secret), false, 'a secret is in the table');
    const item = items.find((i) => i.pk === `SIPCRED#${credentialId}`);
    assert.ok(item, credentialId);
    assert.deepEqual(Object.keys(item).sort(), ['createdAt', 'expiresAt', 'pk', 'secretHash', 'sk', 'tenantId']);
    assert.equal(typeof item.expiresAt, 'number');
    assert.ok(item.expiresAt < 1e11, 'epoch seconds (the TTL attribute)');
  }
});

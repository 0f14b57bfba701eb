import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import { TenantStore } from '@sipms/shared/data/tenant-store';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { startTable } from '../../shared/test/helpers/dynamo-table.js';
import { SoftphoneWsUrl } from '../src/softphone/ws-url-setting.js';

// The tenants group's Lambda handler on a deployment without SOFTPHONE_WS_URL (its own process: the composition
// root reads the environment once), against the DynamoDB API (dynalite).
const TABLE = 'softphone-unconfigured';
let table: Awaited<ReturnType<typeof startTable>>;
let promptDir: string;
let handler: (event: APIGatewayProxyEventV2) => Promise<APIGatewayProxyStructuredResultV2>;
let apiKey: string;

before(async () => {
  table = await startTable(TABLE);
  promptDir = await mkdtemp(join(tmpdir(), 'softphone-prompts-'));
  delete process.env.SOFTPHONE_WS_URL;
  Object.assign(process.env, {
    TABLE_NAME: TABLE,
    PROMPT_STORE: `dir:${promptDir}`,
    AWS_REGION: 'local',
    AWS_ACCESS_KEY_ID: 'x',
    AWS_SECRET_ACCESS_KEY: 'x',
    AWS_ENDPOINT_URL_DYNAMODB: table.endpoint,
    LOG_LEVEL: 'error',
    POWERTOOLS_METRICS_DISABLED: 'true',
  });
  ({ handler } = await import('../src/handlers/tenants.js'));
  ({ apiKey } = await new TenantStore(table.doc, TABLE, 'sip.localhost').create({ name: 'Gamma' }));
});
after(async () => {
  await table.close();
  await rm(promptDir, { recursive: true, force: true });
});

const post = (body: unknown) =>
  handler({
    routeKey: 'POST /v1/softphone/credentials',
    headers: { authorization: `Bearer ${apiKey}` },
    body: JSON.stringify(body),
    isBase64Encoded: false,
    requestContext: { requestId: 'req-sp', http: { sourceIp: '192.0.2.7' } },
  } as unknown as APIGatewayProxyEventV2);

test('SOFTPHONE_WS_URL takes ws:// and wss:// URLs only', () => {
  for (const ok of ['ws://127.0.0.1:5066', 'wss://sip.example.net:5063', 'wss://[::1]:8443/sip']) {
    assert.equal(SoftphoneWsUrl.safeParse(ok).success, true, ok);
  }
  assert.equal(SoftphoneWsUrl.parse('ws://127.0.0.1:5066//'), 'ws://127.0.0.1:5066');
  assert.equal(SoftphoneWsUrl.parse(undefined), undefined);
  for (const bad of ['', 'http://127.0.0.1:5066', 'https://x', 'sip:x', '127.0.0.1:5066', 'ws://', 'wss://x?y=1']) {
    assert.equal(SoftphoneWsUrl.safeParse(bad).success, false, bad);
  }
});

test('a bad SOFTPHONE_WS_URL stops the start-up, naming the setting', async () => {
  process.env.SOFTPHONE_WS_URL = 'http://127.0.0.1:5066';
  await assert.rejects(post({}), /invalid configuration: SOFTPHONE_WS_URL/);
  delete process.env.SOFTPHONE_WS_URL;
});

test('without SOFTPHONE_WS_URL the route answers 503 naming the setting, and writes nothing', async () => {
  const res = await post({ ttlSec: 600 });
  assert.equal(res.statusCode, 503);
  const { error } = JSON.parse(String(res.body));
  assert.equal(error.code, 'unavailable');
  assert.match(error.message, /SOFTPHONE_WS_URL/);
  const items = await table.doc.send(
    new ScanCommand({
      TableName: TABLE,
      FilterExpression: 'begins_with(pk, :p)',
      ExpressionAttributeValues: { ':p': 'SIPCRED#' },
    }),
  );
  assert.equal(items.Count, 0);
  // Input is still checked first: a bad body is a 400 on such a deployment too.
  assert.equal((await post({ ttlSec: 5 })).statusCode, 400);
});

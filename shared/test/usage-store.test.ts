import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { CreateTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import dynalite from 'dynalite';
import { createTableInput } from '../src/data/table-design.js';
import { UsageStore, utcDay } from '../src/data/usage-store.js';

const TABLE = 'usage-test';
let server: ReturnType<typeof dynalite>;
let doc: DynamoDBDocumentClient;

before(async () => {
  server = dynalite({ createTableMs: 0 });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const client = new DynamoDBClient({
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    region: 'local',
    credentials: { accessKeyId: 'x', secretAccessKey: 'x' },
  });
  await client.send(new CreateTableCommand(createTableInput(TABLE)));
  doc = DynamoDBDocumentClient.from(client);
});
after(async () => {
  doc.destroy();
  await new Promise((r) => server.close(r));
});

test('record adds atomically per tenant and UTC day; query returns days and totals', async () => {
  const usage = new UsageStore(doc, TABLE);
  const day1 = new Date('2030-03-01T23:59:59.900Z');
  const day2 = new Date('2030-03-02T00:00:00.100Z');
  // 50 concurrent records from "several media nodes": none is lost.
  await Promise.all(
    Array.from({ length: 50 }, () => usage.record('ta', { callAttempts: 1, answeredCalls: 1, callSeconds: 1.5 }, day1)),
  );
  await usage.record('ta', { ttsCharacters: 120, recordingSeconds: 0 }, day2);
  await usage.record('tb', { callAttempts: 7 }, day1);
  await usage.record('ta', {}, day2);

  const report = await usage.query('ta', '2030-03-01', '2030-03-02');
  assert.deepEqual(report.days, [
    { day: '2030-03-01', callAttempts: 50, answeredCalls: 50, callSeconds: 75, ttsCharacters: 0, recordingSeconds: 0 },
    { day: '2030-03-02', callAttempts: 0, answeredCalls: 0, callSeconds: 0, ttsCharacters: 120, recordingSeconds: 0 },
  ]);
  assert.deepEqual(report.totals, {
    callAttempts: 50,
    answeredCalls: 50,
    callSeconds: 75,
    ttsCharacters: 120,
    recordingSeconds: 0,
  });
  assert.deepEqual((await usage.query('ta', '2030-03-02', '2030-03-02')).days.length, 1);
  assert.deepEqual((await usage.query('tc', '2030-03-01', '2030-03-02')).days, []);
  await assert.rejects(usage.record('ta', { callSeconds: -1 }), RangeError);
  assert.equal(utcDay('2030-03-01T23:59:59Z'), '2030-03-01');
});

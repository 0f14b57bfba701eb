import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { RULES } from '@sipms/shared/events/rules';
import { createLogger } from '@sipms/shared/util/logger';
import { type DeadLetterSink, LocalEventBus, MAX_ATTEMPTS } from '../src/local/local-event-bus.js';
import { startLocalBus } from './helpers/local-bus.js';

// The local PutEvents endpoint driven by the real AWS SDK client, as the media node drives it.
test('PutEvents through the SDK: routed by the shared rules, retried until the target succeeds', async () => {
  let failures = 1;
  const { client, delivered, close } = await startLocalBus(async () => {
    if (failures-- > 0) throw new Error('transient');
  });
  try {
    const res = await client.send(
      new PutEventsCommand({
        Entries: [
          {
            Source: 'sip-mediaserver.media-node',
            DetailType: 'callback',
            Detail: JSON.stringify({ tenantId: 't1', n: 1 }),
          },
          { Source: 'sip-mediaserver.media-node', DetailType: 'callback', Detail: JSON.stringify({ n: 2 }) }, // no tenantId: no rule
          { Source: 'someone.else', DetailType: 'callback', Detail: JSON.stringify({ tenantId: 't1' }) },
          { Source: 'sip-mediaserver.media-node', DetailType: 'callback', Detail: '{broken' },
        ],
      }),
    );
    assert.equal(res.FailedEntryCount, 1);
    assert.equal(res.Entries?.[3]?.ErrorCode, 'MalformedDetail');
    assert.ok(res.Entries?.[0]?.EventId);
    await close();
    assert.equal(delivered.length, 1, 'one matching event, delivered once after one failed attempt');
    const event = delivered[0]!;
    assert.deepEqual(event.detail, { tenantId: 't1', n: 1 });
    assert.equal(event.source, 'sip-mediaserver.media-node');
    assert.equal(event['detail-type'], 'callback');
    assert.match(event.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  } finally {
    client.destroy();
  }
});

test('an event whose target fails every attempt goes to the dead-letter sink with the last error, not nowhere', async () => {
  const letters: Parameters<DeadLetterSink>[0][] = [];
  const attempts: number[] = [];
  const bus = new LocalEventBus(
    RULES,
    {
      dispatcher: async () => {
        attempts.push(performance.now());
        throw new Error(`table overloaded (attempt ${attempts.length})`);
      },
    },
    createLogger({}, 'silent'),
    // 1 ms before the first retry (8 attempts: 1 + 2 + … + 64 ms)
    { deadLetters: async (letter) => void letters.push(letter), firstRetryMs: 1 },
  );
  const client = new EventBridgeClient({
    endpoint: await bus.start(),
    region: 'local',
    credentials: { accessKeyId: 'x', secretAccessKey: 'x' },
  });
  try {
    const detail = { tenantId: 't1', sessionId: 's1', type: 'sessionCompleted' };
    await client.send(
      new PutEventsCommand({
        Entries: [{ Source: 'sip-mediaserver.media-node', DetailType: 'callback', Detail: JSON.stringify(detail) }],
      }),
    );
    await bus.close();
    assert.equal(attempts.length, MAX_ATTEMPTS);
    assert.equal(letters.length, 1);
    const [letter] = letters as [Parameters<DeadLetterSink>[0]];
    assert.equal(letter.rule, 'callbacks-to-dispatcher');
    assert.deepEqual(letter.event.detail, detail);
    assert.equal(letter.attempts, MAX_ATTEMPTS);
    assert.equal(letter.error, `table overloaded (attempt ${MAX_ATTEMPTS})`);
    // The retries back off: the last wait is the longest.
    const gaps = attempts.slice(1).map((t, i) => t - attempts[i]!);
    assert.ok(gaps.at(-1)! >= 60, `waits ${gaps.map(Math.round).join(', ')} ms`);
  } finally {
    client.destroy();
  }
});

test('other operations answer UnknownOperationException as EventBridge would', async () => {
  const bus = new LocalEventBus(RULES, { dispatcher: async () => {} }, createLogger({}, 'silent'));
  const endpoint = await bus.start();
  const res = await fetch(endpoint, { method: 'POST', headers: { 'x-amz-target': 'AWSEvents.ListRules' }, body: '{}' });
  assert.equal(res.status, 400);
  assert.equal(((await res.json()) as { __type: string }).__type, 'UnknownOperationException');
  await bus.close();
});

test('a request over 256 KB is refused whole, as EventBridge refuses it', async () => {
  const { client, delivered, close } = await startLocalBus();
  try {
    const entry = (n: number) => ({
      Source: 'sip-mediaserver.media-node',
      DetailType: 'callback',
      Detail: JSON.stringify({ tenantId: 't1', n, padding: 'x'.repeat(100 * 1024) }),
    });
    await assert.rejects(
      client.send(new PutEventsCommand({ Entries: [entry(1), entry(2), entry(3)] })),
      (err: Error) => err.name === 'ValidationException' && /over the limit/.test(err.message),
    );
    const two = await client.send(new PutEventsCommand({ Entries: [entry(1), entry(2)] }));
    assert.equal(two.FailedEntryCount, 0);
    await close();
    assert.equal(delivered.length, 2, 'only the request within the limit was delivered');
  } finally {
    client.destroy();
  }
});

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import type { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { LocalSecretBox } from '@sipms/shared/crypto/secret-box';
import { CallbackEnvelope } from '@sipms/shared/events/envelope';
import { openSealedFields, REDACTED } from '@sipms/shared/events/sensitive-fields';
import { BusCallbacks } from '../src/callbacks/bus-callbacks.js';
import type { ReplyPoller } from '../src/callbacks/reply-poller.js';
import type { CallbackRequest } from '../src/ports/callbacks.js';
import { RecordingLogger } from './kit/logger.js';

// BusCallbacks seals the fields a request marks sensitive before PutEvents: the event (which the bus's
// archive and dead-letter queue keep) carries "***" and ciphertext, never the digits.
const box = new LocalSecretBox(randomBytes(32));

function harness(secrets: LocalSecretBox | undefined) {
  const published: CallbackEnvelope[] = [];
  const events = {
    send: async (cmd: PutEventsCommand) => {
      for (const e of cmd.input.Entries ?? []) published.push(CallbackEnvelope.parse(JSON.parse(e.Detail ?? '')));
      return { FailedEntryCount: 0, Entries: [{ EventId: 'x' }] };
    },
  } as unknown as EventBridgeClient;
  const poller = {
    wait: async (_s: string, eventId: string) => ({ eventId, outcome: 'reply', reply: { hangup: true }, at: '' }),
  } as unknown as ReplyPoller;
  const logger = new RecordingLogger();
  return { port: new BusCallbacks(events, 'bus', poller, 'n1', logger, secrets), published, logger };
}

const request = (sensitive?: CallbackRequest['sensitive']): CallbackRequest => ({
  eventId: 'e1',
  tenantId: 't1',
  sessionId: 's1',
  seq: 4,
  type: 'getIvrCommand',
  payload: {
    sessionId: 's1',
    seq: 4,
    timestamp: new Date().toISOString(),
    participantId: 'p1',
    replyId: 'e1',
    dtmfParams: { digits: '90210', terminationKey: '', reason: 'maxDigits' },
  },
  ...(sensitive ? { sensitive } : {}),
});

describe('BusCallbacks: sensitive fields', () => {
  test('sealed before they leave the node: "***" in the payload, ciphertext bound to the event', async () => {
    const { port, published } = harness(box);
    const result = await port.request(request(['dtmfParams.digits']), 1000);
    assert.equal(result.fallback, false);
    const [env] = published;
    assert.ok(!JSON.stringify(env).includes('90210'), 'no digits on the bus');
    assert.equal((env!.payload.dtmfParams as { digits: string }).digits, REDACTED);
    assert.deepEqual(Object.keys(env!.sealed ?? {}), ['dtmfParams.digits']);
    const opened = await openSealedFields(env!.payload, env!.sealed, box, { tenantId: 't1', eventId: 'e1' });
    assert.equal((opened.dtmfParams as { digits: string }).digits, '90210', 'the dispatcher gets them back');
  });

  test('unmarked requests, and marked ones without the field, are published as they are', async () => {
    const { port, published } = harness(box);
    await port.request(request(), 1000);
    const bare = { ...request(['dtmfParams.digits']), eventId: 'e2' };
    const { dtmfParams: _d, ...payload } = bare.payload as Record<string, unknown>;
    await port.request({ ...bare, payload: payload as CallbackRequest['payload'] }, 1000);
    assert.equal((published[0]!.payload.dtmfParams as { digits: string }).digits, '90210');
    assert.equal(published[0]!.sealed, undefined);
    assert.equal(published[1]!.sealed, undefined);
  });

  test('no secrets key: the digits are not published at all; the call gets the defined fallback', async () => {
    const { port, published, logger } = harness(undefined);
    const result = await port.request(request(['dtmfParams.digits']), 1000);
    assert.equal(published.length, 0);
    assert.equal(result.fallback, true);
    assert.match(result.reason ?? '', /sensitive fields cannot be sealed: no secrets key/);
    assert.ok(!JSON.stringify(logger.entries).includes('90210'));
  });
});

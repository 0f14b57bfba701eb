import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EVENT_SOURCE } from '@sipms/shared/events/envelope';
import { App, Duration, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { CallbackBus } from '../src/cdk/constructs/callback-bus.js';
import type { Cfn } from './helpers/synth.js';

// The bus keeps what went over it without what was said: no EventBridge archive (it would keep whole
// events: callers' numbers, digits), but a log group of every event's metadata, written through an input
// transformer that reads no payload field.

function busTemplate() {
  const stack = new Stack(new App(), 'Bus');
  new CallbackBus(stack, 'Events', { stage: 'test', archiveRetention: Duration.days(7) });
  return Template.fromStack(stack).toJSON() as { Resources: Record<string, { Type: string; Properties: Cfn }> };
}

const ofType = (t: ReturnType<typeof busTemplate>, type: string) =>
  Object.entries(t.Resources).filter(([, r]) => r.Type === type);

test('no archive of whole events', () => {
  assert.equal(ofType(busTemplate(), 'AWS::Events::Archive').length, 0);
});

test("every media-node event's metadata, and nothing of its payload, goes to a log group kept 7 days", () => {
  const t = busTemplate();
  const [[logGroupId, logGroup]] = ofType(t, 'AWS::Logs::LogGroup') as [[string, Cfn]];
  assert.equal(logGroup.Properties.RetentionInDays, 7);
  const rules = ofType(t, 'AWS::Events::Rule').filter(([, r]) =>
    JSON.stringify(r.Properties.Targets).includes(logGroupId),
  );
  assert.equal(rules.length, 1);
  const rule = rules[0]![1].Properties;
  assert.deepEqual(rule.EventPattern, { source: [EVENT_SOURCE] });
  const transformer = rule.Targets[0].InputTransformer;
  const paths = Object.values(transformer.InputPathsMap) as string[];
  assert.ok(paths.length >= 6, JSON.stringify(paths));
  for (const p of paths)
    assert.ok(/^\$\.(time|detail\.(id|type|tenantId|sessionId|seq|nodeId|time|traceparent))$/.test(p), p);
  const template = JSON.parse(
    String(transformer.InputTemplate).replace(/<[^<>]+>/g, (m: string) => JSON.stringify(m)),
  ) as Record<string, unknown>;
  assert.deepEqual(
    Object.keys(template).sort(),
    ['message', 'timestamp'],
    'the CloudWatch Logs target takes exactly these',
  );
});

test('EventBridge may write to the log group (a resource policy, no custom-resource Lambda)', () => {
  const t = busTemplate();
  const [[, policy]] = ofType(t, 'AWS::Logs::ResourcePolicy') as [[string, Cfn]];
  const doc = JSON.stringify(policy.Properties.PolicyDocument);
  assert.match(doc, /events\.amazonaws\.com/);
  assert.match(doc, /logs:PutLogEvents/);
  assert.equal(ofType(t, 'AWS::Lambda::Function').length, 0);
});

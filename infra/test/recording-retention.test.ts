import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RECORDING_TAG } from '@sipms/shared/ports/prompt-store';
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import { MediaBuckets } from '../src/cdk/constructs/media-buckets.js';
import type { Cfn } from './helpers/synth.js';

// Recordings are prompt files (the contract), stored in the prompts bucket with the tag the S3 prompt
// store puts on them (shared/test/s3-prompt-store.test.ts), and expired after recordingRetentionDays by a
// lifecycle rule filtered on that tag; uploads are never expired.

function bucketsTemplate(recordingRetentionDays: number) {
  const stack = new Stack(new App(), 'Buckets');
  const buckets = new MediaBuckets(stack, 'Media', { retain: false, recordingRetentionDays });
  const writer = new iam.Role(stack, 'Writer', { assumedBy: new iam.ServicePrincipal('ec2.amazonaws.com') });
  buckets.grantPrompts(writer, 'readWrite');
  return Template.fromStack(stack).toJSON() as { Resources: Record<string, { Type: string; Properties: Cfn }> };
}

test('the prompts bucket expires tagged recordings after recordingRetentionDays, and nothing else', () => {
  const t = bucketsTemplate(45);
  const prompts = Object.entries(t.Resources).find(([id, r]) => r.Type === 'AWS::S3::Bucket' && /Prompts/.test(id))!;
  const rules = prompts[1].Properties.LifecycleConfiguration.Rules as Cfn[];
  const retention = rules.filter((r) => r.ExpirationInDays !== undefined);
  assert.equal(retention.length, 1, JSON.stringify(rules));
  assert.equal(retention[0].ExpirationInDays, 45);
  assert.deepEqual(retention[0].TagFilters, [{ Key: RECORDING_TAG.key, Value: RECORDING_TAG.value }]);
  assert.equal(retention[0].Status, 'Enabled');
});

test('a writer may tag what it puts (a recording PUT carries its tag)', () => {
  const t = bucketsTemplate(90);
  const statements = Object.values(t.Resources)
    .filter((r) => r.Type === 'AWS::IAM::Policy')
    .flatMap((p) => p.Properties.PolicyDocument.Statement as Cfn[]);
  const objectActions = statements.map((s) => [s.Action].flat()).find((a) => a.includes('s3:PutObject'));
  assert.ok(objectActions?.includes('s3:PutObjectTagging'), JSON.stringify(statements));
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { bootScript } from '../src/cdk/media-node-boot/boot-script.js';
import { buildStack, type Cfn } from './helpers/synth.js';

/**
 * EC2 refuses user data over 16 KB (raw, before base64). Every variant the settings can produce is measured with its
 * CloudFormation references replaced by values as long as they get in a real deployment, or longer: a generated
 * physical name (table, bucket, bus) up to 63 characters, an ARN (the KMS key) 100, the longest region name.
 */
const EC2_USER_DATA_LIMIT = 16 * 1024;
/** Room kept for what is still to come (more settings, a longer stage or path): the largest variant must stay below. */
const BUDGET = EC2_USER_DATA_LIMIT - 3 * 1024;

function renderLong(v: Cfn): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'number') return String(v);
  const [fn, arg] = Object.entries(v as object)[0] as [string, Cfn];
  if (fn === 'Fn::Join') return (arg[1] as Cfn[]).map(renderLong).join(arg[0]);
  if (fn === 'Ref') {
    if (arg === 'AWS::Region') return 'ap-southeast-5'; // the longest region names have 14 characters
    if (arg === 'AWS::AccountId') return '123456789012';
    if (arg === 'AWS::Partition') return 'aws-us-gov';
    if (arg === 'AWS::URLSuffix') return 'amazonaws.com';
    return 'x'.repeat(63);
  }
  if (fn === 'Fn::GetAtt') return 'a'.repeat(100);
  throw new Error(`cannot render ${fn} in the user data`);
}

const variants: { name: string; context: Record<string, unknown> }[] = [];
for (const nodeImage of ['stock', 'baked'])
  for (const signaling of ['builtin', 'drachtio'])
    for (const rtpengine of ['managed', 'system'])
      for (const tls of signaling === 'builtin'
        ? [undefined, 's3://certs-bucket/tls/sip', 'ssm:/sipms/dev/tls']
        : [undefined])
        for (const elasticIps of [undefined, 0]) {
          const context = {
            nodeImage,
            signaling,
            rtpengine,
            ...(tls ? { sipTlsCertificate: tls } : {}),
            ...(elasticIps === 0 ? { elasticIps } : {}),
          };
          const name = `${nodeImage} ${signaling} ${rtpengine} ${tls ? `tls=${tls.split(':')[0]}` : 'no-tls'} ${elasticIps === 0 ? 'no-eip' : 'eip-pool'}`;
          variants.push({ name, context });
        }

test(`every user data variant (${variants.length}) stays under ${BUDGET} bytes: EC2's 16 KB with 3 KB to spare`, () => {
  const sizes = variants.map(({ name, context }) => {
    const stack = buildStack(context);
    const script = renderLong(stack.resolve(bootScript(stack.fleet.bootSettings)));
    assert.ok(script.startsWith('#!/bin/bash\n'), name);
    return { name, bytes: Buffer.byteLength(script) };
  });
  const width = Math.max(...sizes.map((s) => s.name.length));
  console.log(sizes.map((s) => `${s.name.padEnd(width)}  ${String(s.bytes).padStart(6)} B`).join('\n'));
  const largest = sizes.reduce((a, b) => (b.bytes > a.bytes ? b : a));
  console.log(`largest: ${largest.name} ${largest.bytes} B of ${EC2_USER_DATA_LIMIT}`);
  for (const s of sizes) assert.ok(s.bytes < BUDGET, `${s.name}: ${s.bytes} B`);
});

test('the rendering is not vacuous: a reference is as long as a real name', () => {
  const stack = buildStack({});
  const script = renderLong(stack.resolve(bootScript(stack.fleet.bootSettings)));
  assert.match(script, /^TABLE_NAME=x{63}$/m);
  assert.match(script, /^REGION=ap-southeast-5$/m);
});

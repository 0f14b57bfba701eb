import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { type Cfn, scratchDir } from './helpers/synth.js';

const INFRA_DIR = fileURLToPath(new URL('..', import.meta.url));
const CDK_BIN = join(INFRA_DIR, '..', 'node_modules', '.bin', 'cdk');

/**
 * The real CLI, offline: no credentials, no lookups (the committed cdk.context.json answers the AZ
 * question for the dummy account), telemetry off, the CLI's default template validation on.
 */
test('`cdk synth --quiet --no-lookups --no-notices` runs offline from infra/', { timeout: 120_000 }, () => {
  const out = scratchDir('sipms-cli-');
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: scratchDir('sipms-home-'), // no ~/.aws, no cached CLI state
    CDK_DISABLE_CLI_TELEMETRY: 'true',
    // CDK runs the local esbuild through `npx --no-install`; without this npm asks the registry for updates.
    npm_config_update_notifier: 'false',
    CDK_DEFAULT_ACCOUNT: '111111111111',
    CDK_DEFAULT_REGION: 'us-east-1',
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  };
  const started = Date.now();
  const r = spawnSync(
    CDK_BIN,
    ['synth', '--quiet', '--no-lookups', '--no-notices', '--output', out, '-c', 'sipDomain=sip.example.com'],
    { cwd: INFRA_DIR, env, encoding: 'utf8', timeout: 110_000 },
  );
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  console.log(`cdk synth took ${seconds} s (exit ${r.status})`);
  assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
  assert.doesNotMatch(r.stderr, /credentials|Need to perform AWS calls/i);
  const templateFile = join(out, 'SipMediaserver-dev.template.json');
  assert.ok(existsSync(templateFile));
  const template = JSON.parse(readFileSync(templateFile, 'utf8'));
  assert.ok(Object.values(template.Resources).some((r: Cfn) => r.Type === 'AWS::AutoScaling::AutoScalingGroup'));
  const manifest = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8'));
  const stack = manifest.artifacts['SipMediaserver-dev'];
  assert.equal(stack.environment, 'aws://111111111111/us-east-1');
});

test('`cdk synth` without a SIP domain stops with a message naming the setting', { timeout: 120_000 }, () => {
  const r = spawnSync(
    CDK_BIN,
    ['synth', '--quiet', '--no-lookups', '--no-notices', '--output', scratchDir('sipms-cli-')],
    {
      cwd: INFRA_DIR,
      env: {
        PATH: process.env.PATH,
        HOME: scratchDir('sipms-home-'),
        CDK_DISABLE_CLI_TELEMETRY: 'true',
        CDK_VALIDATION: 'false',
        npm_config_update_notifier: 'false',
      },
      encoding: 'utf8',
      timeout: 110_000,
    },
  );
  assert.notEqual(r.status, 0);
  assert.match(`${r.stdout}${r.stderr}`, /sipDomain/);
});

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ConfigError, readDeploymentConfig } from '../src/cdk/deployment-config.js';
import { type Cfn, type CfnTemplate, referencedIds, renderCfnString, resourcesOfType, synth } from './helpers/synth.js';

// The operator's controls in the template: the admin-token secret, who may read it, and the allow-lists
// and number cap passed from context to the API and the media nodes.

const lambdas = (t: CfnTemplate) => resourcesOfType(t, 'AWS::Lambda::Function');
const envOf = (fn: Record<string, Cfn>): Record<string, Cfn> => fn.Environment?.Variables ?? {};
const isAdmin = (fn: Record<string, Cfn>) => /"admin" group/.test(String(fn.Description));

function statements(t: CfnTemplate): { policyId: string; policy: Record<string, Cfn>; st: Cfn }[] {
  const out: { policyId: string; policy: Record<string, Cfn>; st: Cfn }[] = [];
  for (const [policyId, policy] of resourcesOfType(t, 'AWS::IAM::Policy')) {
    for (const st of policy.PolicyDocument.Statement as Cfn[]) out.push({ policyId, policy, st });
  }
  for (const [roleId, role] of resourcesOfType(t, 'AWS::IAM::Role')) {
    for (const p of (role.Policies ?? []) as Cfn[]) {
      for (const st of p.PolicyDocument.Statement as Cfn[])
        out.push({ policyId: roleId, policy: { Roles: [{ Ref: roleId }] }, st });
    }
  }
  return out;
}

describe('operator controls in the stack', () => {
  const { template: t } = synth(
    { outboundDestinations: '+49, pbx.example.com', claimableNumbers: '+4930*,1000-1999', tenantMaxNumbers: '7' },
    { bundle: false },
  );

  test('the admin token is a generated Secrets Manager secret, named in the outputs', () => {
    const secrets = resourcesOfType(t, 'AWS::SecretsManager::Secret');
    assert.equal(secrets.length, 1);
    const [secretId, secret] = secrets[0]!;
    assert.ok(secret.GenerateSecretString.PasswordLength >= 32);
    assert.equal(secret.SecretString, undefined, 'no token in the template');
    assert.ok(referencedIds(t.Outputs?.AdminTokenSecretArn?.Value).has(secretId));
    assert.match(renderCfnString(t.Outputs?.AdminTokenCommand?.Value), /aws secretsmanager get-secret-value/);
  });

  test('only the admin Lambda may read it, and only it is told where it is', () => {
    const [secretId] = resourcesOfType(t, 'AWS::SecretsManager::Secret')[0]!;
    const readers = statements(t).filter(
      ({ st }) =>
        referencedIds(st.Resource).has(secretId) ||
        [st.Action].flat().some((a: string) => a.startsWith('secretsmanager:')),
    );
    assert.ok(readers.length >= 1);
    const admin = lambdas(t).filter(([, fn]) => isAdmin(fn));
    assert.equal(admin.length, 1, 'one admin Lambda');
    const adminRole = [...referencedIds(admin[0]![1].Role)][0]!;
    for (const { policyId, policy, st } of readers) {
      assert.deepEqual(
        [...referencedIds(policy.Roles)],
        [adminRole],
        `${policyId} grants ${JSON.stringify(st.Action)} to the admin Lambda's role alone`,
      );
      assert.deepEqual([...referencedIds(st.Resource)], [secretId], `${policyId}: on the admin secret only`);
      for (const a of [st.Action].flat() as string[]) assert.ok(!a.includes('*'), `no wildcard action: ${a}`);
    }
    assert.ok(
      readers.some(({ st }) => [st.Action].flat().includes('secretsmanager:GetSecretValue')),
      'the admin Lambda can read the value',
    );
    for (const [id, fn] of lambdas(t)) {
      const arn = envOf(fn).ADMIN_TOKEN_SECRET_ARN;
      if (isAdmin(fn)) assert.ok(referencedIds(arn).has(secretId), id);
      else assert.equal(arn, undefined, `${id} does not get the secret's ARN`);
    }
    const [, lt] = resourcesOfType(t, 'AWS::EC2::LaunchTemplate')[0]!;
    assert.ok(!renderCfnString(lt.LaunchTemplateData.UserData).includes('ADMIN_TOKEN'), 'the nodes know nothing of it');
  });

  test('context values reach the API Lambdas and the media nodes as environment', () => {
    const api = lambdas(t).filter(([, fn]) => /API routes/.test(String(fn.Description)));
    assert.ok(api.length >= 2);
    for (const [id, fn] of api) {
      const env = envOf(fn);
      assert.equal(env.OUTBOUND_DESTINATIONS, '+49,pbx.example.com', id);
      assert.equal(env.CLAIMABLE_NUMBERS, '+4930*,1000-1999', id);
      assert.equal(env.TENANT_MAX_NUMBERS, '7', id);
    }
    const [, lt] = resourcesOfType(t, 'AWS::EC2::LaunchTemplate')[0]!;
    assert.match(renderCfnString(lt.LaunchTemplateData.UserData), /^OUTBOUND_DESTINATIONS=\+49,pbx\.example\.com$/m);
  });

  test('by default nothing is claimable and no destination is allowed, until the operator says so', () => {
    const { template } = synth({}, { bundle: false });
    for (const [id, fn] of lambdas(template).filter(([, f]) => /API routes/.test(String(f.Description)))) {
      assert.equal(envOf(fn).OUTBOUND_DESTINATIONS, '', id);
      assert.equal(envOf(fn).CLAIMABLE_NUMBERS, '', id);
      assert.equal(envOf(fn).TENANT_MAX_NUMBERS, '100', id);
    }
  });

  test('a bad allow-list or cap stops synthesis naming the key and the entry', () => {
    const from = (ctx: Record<string, unknown>) => () =>
      readDeploymentConfig((k) => ({ sipDomain: 'sip.example.com', ...ctx })[k]);
    const bad: [Record<string, unknown>, RegExp][] = [
      [{ outboundDestinations: '+49x' }, /outboundDestinations.*\+49x/],
      [{ claimableNumbers: '100-1000' }, /claimableNumbers.*100-1000/],
      [{ tenantMaxNumbers: '-1' }, /tenantMaxNumbers/],
    ];
    for (const [ctx, message] of bad) {
      assert.throws(from(ctx), (e: Error) => e instanceof ConfigError && message.test(e.message));
    }
  });
});

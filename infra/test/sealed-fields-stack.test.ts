import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { deliveryWorstCaseMs } from '@sipms/shared/events/delivery-budget';
import { SEALED_FIELD_PURPOSE } from '@sipms/shared/events/sensitive-fields';
import { type Cfn, type CfnTemplate, referencedIds, resourcesOfType, synth } from './helpers/synth.js';

// Sensitive callback fields (`dtmf.sensitive`) in the template: the media nodes may seal them and the
// dispatcher may open them with the tenant-secrets key, both only under the sealed-field encryption
// context; and the dispatcher's timeout and retries let a redelivery take over a dead holder's claim.

/** Every IAM statement with the roles its policy is attached to. */
function statements(t: CfnTemplate): { roles: Set<string>; st: Cfn }[] {
  const out: { roles: Set<string>; st: Cfn }[] = [];
  for (const [, policy] of resourcesOfType(t, 'AWS::IAM::Policy')) {
    for (const st of policy.PolicyDocument.Statement as Cfn[]) out.push({ roles: referencedIds(policy.Roles), st });
  }
  for (const [roleId, role] of resourcesOfType(t, 'AWS::IAM::Role')) {
    for (const p of (role.Policies ?? []) as Cfn[]) {
      for (const st of p.PolicyDocument.Statement as Cfn[]) out.push({ roles: new Set([roleId]), st });
    }
  }
  return out;
}

const actionsOf = (st: Cfn): string[] => [st.Action].flat();

describe('sealed callback fields in the stack', () => {
  const { template: t } = synth({}, { bundle: false });
  const [keyId] = resourcesOfType(t, 'AWS::KMS::Key').find(([id]) => /TenantSecretsKey/.test(id))!;
  const dispatcher = resourcesOfType(t, 'AWS::Lambda::Function').find(([, f]) => /callbacks/i.test(f.Description))!;
  const dispatcherRole = [...referencedIds(dispatcher[1].Role)][0]!;
  const [nodeRole] = resourcesOfType(t, 'AWS::IAM::Role').find(([id]) => /NodeRole/.test(id))!;
  const onKey = statements(t).filter(({ st }) => referencedIds(st.Resource).has(keyId));
  const condition = { StringEquals: { 'kms:EncryptionContext:purpose': SEALED_FIELD_PURPOSE } };

  test('the media nodes may encrypt, only under the sealed-field context', () => {
    const encrypt = onKey.filter(({ roles, st }) => roles.has(nodeRole) && actionsOf(st).includes('kms:Encrypt'));
    assert.equal(encrypt.length, 1, JSON.stringify(encrypt.map((e) => e.st)));
    assert.deepEqual(actionsOf(encrypt[0]!.st), ['kms:Encrypt']);
    assert.deepEqual(encrypt[0]!.st.Condition, condition);
  });

  test('the dispatcher may decrypt, only under that context: it cannot open trunk passwords', () => {
    const mine = onKey.filter(({ roles }) => roles.has(dispatcherRole));
    assert.equal(mine.length, 1, JSON.stringify(mine.map((e) => e.st)));
    assert.deepEqual(actionsOf(mine[0]!.st), ['kms:Decrypt']);
    assert.deepEqual(mine[0]!.st.Condition, condition);
    const kmsAnywhere = statements(t).filter(
      ({ roles, st }) => roles.has(dispatcherRole) && actionsOf(st).some((a) => a.startsWith('kms:')),
    );
    assert.equal(kmsAnywhere.length, 1, 'no other KMS permission for the dispatcher');
  });

  test('no one else may decrypt under the sealed-field context', () => {
    const conditioned = onKey.filter(({ st }) => st.Condition);
    const roles = new Set(conditioned.flatMap(({ roles }) => [...roles]));
    assert.deepEqual([...roles].sort(), [dispatcherRole, nodeRole].sort());
  });

  test("a claim outlives no dispatcher, and a dead holder's event gets retries past the longest claim", () => {
    const longestClaimSec = deliveryWorstCaseMs(15_000, 5) / 1000;
    assert.ok(dispatcher[1].Timeout >= longestClaimSec, `timeout ${dispatcher[1].Timeout} s ≥ ${longestClaimSec} s`);
    const [, invoke] = resourcesOfType(t, 'AWS::Lambda::EventInvokeConfig').find(([, c]) =>
      referencedIds(c.FunctionName).has(dispatcher[0]),
    )!;
    // Lambda retries a failed asynchronous invocation after 1 min, then after 2 more: 3 min > the longest claim.
    assert.equal(invoke.MaximumRetryAttempts, 2);
    assert.ok(60 + 120 > longestClaimSec);
    // A holder that died later than (claim − 60 s) leaves a claim the first retry finds run out; one that
    // died earlier gets the second retry, at most (claim − 60 s) + 3 min after the event: still young enough.
    const secondRetryAtMost = longestClaimSec - 60 + 60 + 120;
    assert.ok(invoke.MaximumEventAgeInSeconds >= secondRetryAtMost, `${invoke.MaximumEventAgeInSeconds} s`);
  });
});

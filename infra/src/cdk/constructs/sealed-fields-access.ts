import { SEALED_FIELD_PURPOSE } from '@sipms/shared/events/sensitive-fields';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';

/** Only requests whose encryption context says "a sealed callback field" (shared/src/events/sensitive-fields.ts). */
const sealedFieldsOnly = { StringEquals: { 'kms:EncryptionContext:purpose': SEALED_FIELD_PURPOSE } };

/**
 * Callback fields a tenant marks sensitive (`dtmf.sensitive`) cross the bus sealed with the tenant-secrets
 * key: the media nodes may encrypt them, the dispatcher may decrypt them, both only under that encryption
 * context. The dispatcher cannot open trunk passwords (sealed without a context) with this grant, and no
 * one can seal a trunk password that looks like a callback field to it.
 */
export function grantSealedCallbackFields(
  key: kms.IKey,
  principals: { seal: iam.IGrantable; open: iam.IGrantable },
): { seal: iam.Grant; open: iam.Grant } {
  const statement = (grantee: iam.IGrantable, action: string) =>
    iam.Grant.addToPrincipal({
      grantee,
      actions: [action],
      resourceArns: [key.keyArn],
      conditions: sealedFieldsOnly,
    });
  return { seal: statement(principals.seal, 'kms:Encrypt'), open: statement(principals.open, 'kms:Decrypt') };
}

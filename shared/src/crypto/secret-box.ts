import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { DecryptCommand, EncryptCommand, type KMSClient } from '@aws-sdk/client-kms';

/**
 * What a sealed value is bound to: opening it needs the same pairs (AES-GCM additional data locally, the
 * KMS encryption context on AWS, which IAM conditions can name). Trunk passwords are sealed without one.
 */
export type SealContext = Readonly<Record<string, string>>;

/**
 * Secrets a tenant gives us to use later (trunk passwords), and callback fields a tenant marked sensitive
 * (`dtmf.sensitive`): sealed before they are stored or published, opened only where they are used.
 * Locally an AES-256-GCM key in the data folder; on AWS a KMS key.
 */
export interface SecretBox {
  seal(plaintext: string, context?: SealContext): Promise<string>;
  open(sealed: string, context?: SealContext): Promise<string>;
}

/** The context as AES-GCM additional data: its pairs sorted by key, as JSON (none: no additional data). */
function additionalData(context: SealContext | undefined): Buffer | undefined {
  if (!context) return undefined;
  const pairs = Object.entries(context).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return Buffer.from(JSON.stringify(pairs), 'utf8');
}

/** AES-256-GCM with a 32-byte key: `aesgcm1.<iv>.<tag>.<ciphertext>` (base64url). */
export class LocalSecretBox implements SecretBox {
  constructor(private readonly key: Buffer) {
    if (key.length !== 32) throw new Error('SECRETS_KEY must be 32 bytes (base64)');
  }

  async seal(plaintext: string, context?: SealContext): Promise<string> {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    const aad = additionalData(context);
    if (aad) cipher.setAAD(aad);
    const ct = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return ['aesgcm1', iv, cipher.getAuthTag(), ct]
      .map((p) => (typeof p === 'string' ? p : p.toString('base64url')))
      .join('.');
  }

  async open(sealed: string, context?: SealContext): Promise<string> {
    const [kind, iv, tag, ct] = sealed.split('.');
    if (kind !== 'aesgcm1' || !iv || !tag || ct === undefined) throw new Error('not a secret sealed by this key');
    const decipher = createDecipheriv('aes-256-gcm', this.key, Buffer.from(iv, 'base64url'));
    decipher.setAuthTag(Buffer.from(tag, 'base64url'));
    const aad = additionalData(context);
    if (aad) decipher.setAAD(aad);
    return Buffer.concat([decipher.update(Buffer.from(ct, 'base64url')), decipher.final()]).toString('utf8');
  }
}

/** KMS Encrypt/Decrypt: `kms1.<ciphertext blob>`; the blob names its key, so open needs no key id. */
export class KmsSecretBox implements SecretBox {
  constructor(
    private readonly kms: Pick<KMSClient, 'send'>,
    private readonly keyId: string,
  ) {}

  async seal(plaintext: string, context?: SealContext): Promise<string> {
    const res = await this.kms.send(
      new EncryptCommand({
        KeyId: this.keyId,
        Plaintext: Buffer.from(plaintext, 'utf8'),
        ...(context ? { EncryptionContext: { ...context } } : {}),
      }),
    );
    return `kms1.${Buffer.from(res.CiphertextBlob ?? new Uint8Array()).toString('base64url')}`;
  }

  async open(sealed: string, context?: SealContext): Promise<string> {
    if (!sealed.startsWith('kms1.')) throw new Error('not a secret sealed by KMS');
    const res = await this.kms.send(
      new DecryptCommand({
        CiphertextBlob: Buffer.from(sealed.slice(5), 'base64url'),
        ...(context ? { EncryptionContext: { ...context } } : {}),
      }),
    );
    return Buffer.from(res.Plaintext ?? new Uint8Array()).toString('utf8');
  }
}

/** The box the environment configures: SECRETS_KMS_KEY_ID (AWS) or SECRETS_KEY (base64, one machine). */
export function secretBoxFromEnv(
  env: { SECRETS_KMS_KEY_ID?: string | undefined; SECRETS_KEY?: string | undefined },
  kms: () => Pick<KMSClient, 'send'>,
): SecretBox | undefined {
  if (env.SECRETS_KMS_KEY_ID) return new KmsSecretBox(kms(), env.SECRETS_KMS_KEY_ID);
  if (env.SECRETS_KEY) return new LocalSecretBox(Buffer.from(env.SECRETS_KEY, 'base64'));
  return undefined;
}

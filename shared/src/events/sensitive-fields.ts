import { z } from 'zod';
import type { SealContext, SecretBox } from '../crypto/secret-box.js';

/**
 * Callback fields a tenant marked sensitive (`dtmf.sensitive: true` on the command that collected the
 * digits). They reach the tenant in the callback body, and nowhere else in the clear: the journal and the
 * logs show REDACTED, and the event on the bus (kept by the archive and the dead-letter queue) carries
 * them sealed with the deployment's SecretBox (docs/callback-delivery.md).
 */
export const SensitivePath = z.enum(['dtmfParams.digits']);
export type SensitivePath = z.infer<typeof SensitivePath>;

/** What stands in for a sensitive value everywhere but the tenant's callback. */
export const REDACTED = '***';

/** The encryption context's `purpose`: the only one the dispatcher may decrypt under (infra/src/cdk). */
export const SEALED_FIELD_PURPOSE = 'callback-field';

/** A sealed value opens only for the tenant, event and field it was sealed for. */
export function sealedFieldContext(tenantId: string, eventId: string, path: SensitivePath): SealContext {
  return { purpose: SEALED_FIELD_PURPOSE, tenantId, eventId, field: path };
}

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The string at `path`, or undefined when the payload has none there. */
function stringAt(payload: Json, path: SensitivePath): string | undefined {
  let node: unknown = payload;
  for (const key of path.split('.')) {
    if (!isObject(node)) return undefined;
    node = node[key];
  }
  return typeof node === 'string' ? node : undefined;
}

/** A copy of `payload` with `value` at `path` (the objects along the path copied, the rest shared). */
function withValue<T extends Json>(payload: T, path: SensitivePath, value: string): T {
  const [head, ...rest] = path.split('.') as [string, ...string[]];
  const set = (node: Json, key: string, keys: string[]): Json => {
    if (keys.length === 0) return { ...node, [key]: value };
    const child = node[key];
    return isObject(child) ? { ...node, [key]: set(child, keys[0]!, keys.slice(1)) } : node;
  };
  return set(payload, head, rest) as T;
}

/** The sensitive paths `payload` carries a value at. */
export function sensitivePathsIn(payload: Json, paths: readonly SensitivePath[] | undefined): SensitivePath[] {
  return (paths ?? []).filter((path) => stringAt(payload, path) !== undefined);
}

/** `payload` with REDACTED at every sensitive path it carries a string at; other fields untouched. */
export function redactPayload<T extends Json>(payload: T, paths: readonly SensitivePath[] | undefined): T {
  let out = payload;
  for (const path of paths ?? []) {
    if (stringAt(out, path) !== undefined) out = withValue(out, path, REDACTED);
  }
  return out;
}

export type SealedFields = Partial<Record<SensitivePath, string>>;
export const SealedFields = z.partialRecord(SensitivePath, z.string().min(1));

/**
 * The payload as the bus may carry it: each sensitive value replaced by REDACTED and sealed into
 * `sealed`, bound to the tenant, the event and the field. Paths the payload does not carry are skipped.
 */
export async function sealSensitiveFields<T extends Json>(
  payload: T,
  paths: readonly SensitivePath[],
  box: Pick<SecretBox, 'seal'>,
  ids: { tenantId: string; eventId: string },
): Promise<{ payload: T; sealed: SealedFields }> {
  const sealed: SealedFields = {};
  let out = payload;
  for (const path of paths) {
    const value = stringAt(payload, path);
    if (value === undefined) continue;
    sealed[path] = await box.seal(value, sealedFieldContext(ids.tenantId, ids.eventId, path));
    out = withValue(out, path, REDACTED);
  }
  return { payload: out, sealed };
}

/**
 * The payload the tenant receives: every sealed field opened back into its place. Throws when a value
 * cannot be opened (another key, another event or tenant, tampered) or its place is not in the payload.
 */
export async function openSealedFields<T extends Json>(
  payload: T,
  sealed: SealedFields | undefined,
  box: Pick<SecretBox, 'open'> | undefined,
  ids: { tenantId: string; eventId: string },
): Promise<T> {
  const entries = Object.entries(sealed ?? {}) as [SensitivePath, string][];
  if (entries.length === 0) return payload;
  if (!box) throw new Error('no secrets key configured (SECRETS_KEY or SECRETS_KMS_KEY_ID) to open sealed fields');
  let out = payload;
  for (const [path, value] of entries) {
    if (stringAt(out, path) === undefined) throw new Error(`sealed field ${path} has no place in the payload`);
    out = withValue(out, path, await box.open(value, sealedFieldContext(ids.tenantId, ids.eventId, path)));
  }
  return out;
}

import { z } from 'zod';
import { AddressPolicy } from './net/address-policy.js';
import { TRACES_EXPORTER_PATTERN } from './observability/tracing.js';

/**
 * Typed configuration read once at start-up from environment variables. A bad or missing value
 * fails fast with the variable's name.
 */
export function loadConfig<T>(schema: z.ZodType<T>, env: NodeJS.ProcessEnv = process.env): Readonly<T> {
  const result = schema.safeParse(env);
  if (!result.success) {
    const problems = result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new Error(`invalid configuration: ${problems}`);
  }
  return Object.freeze(result.data);
}

export const envBool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((v) => v === 'true' || v === '1' || v === 'yes');

export const envInt = (def: number, min = 0, max = Number.MAX_SAFE_INTEGER) =>
  z.coerce.number().int().min(min).max(max).default(def);

/** Settings the control plane and the media node share. */
/** A setting parsed by one of the domain's parsers: a bad value fails start-up naming the setting's entry. */
export const parsedSetting = <T>(parse: (spec: string) => T, def = '') =>
  z
    .string()
    .default(def)
    .transform((spec, ctx) => {
      try {
        return parse(spec);
      } catch (err) {
        ctx.issues.push({ code: 'custom', message: (err as Error).message, input: spec });
        return z.NEVER;
      }
    });

export const CommonEnv = {
  TABLE_NAME: z.string().min(3),
  SIP_DOMAIN: z.string().min(1).default('sip.localhost'),
  /** `dir:/path` (single machine) or `s3:bucket-name` (AWS). */
  PROMPT_STORE: z.string().regex(/^(dir|s3):.+$/, 'dir:<path> or s3:<bucket>'),
  /** `public-https` (AWS: https only, no private addresses) or `allow-loopback` (the local deployment). */
  CALLBACK_URL_POLICY: z.enum(['public-https', 'allow-loopback']).default('public-https'),
  /**
   * Address ranges (comma list of CIDRs) the platform may reach on a tenant's behalf although they are
   * not public: a LAN PBX, a trunk over a VPN. Applies to callbacks, `url` phrases and SIP alike.
   */
  OUTBOUND_ALLOW_CIDRS: z
    .string()
    .default('')
    .superRefine((v, ctx) => {
      try {
        AddressPolicy.fromSettings('public-https', v);
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: `comma list of CIDRs, e.g. 10.20.0.0/16: ${(err as Error).message}` });
      }
    }),
  /** Per-tenant call limits (inbound and outbound); a tenant item's `limits` attribute overrides them. */
  TENANT_MAX_CONCURRENT_CALLS: envInt(100, 1, 1_000_000),
  TENANT_CALLS_PER_SECOND: envInt(10, 1, 100_000),
  /**
   * Where this process's spans go (docs/operations.md, "Traces"): `none`, `stderr`, `file:<path>`, `otlp`
   * (OTEL_EXPORTER_OTLP_ENDPOINT) or `xray` (AWS). `npm start` writes `<DATA_DIR>/traces/<process>.jsonl`; the stack sets `xray`.
   */
  TRACES_EXPORTER: z.string().regex(TRACES_EXPORTER_PATTERN, 'none, stderr, file:<path>, otlp or xray').default('none'),
};

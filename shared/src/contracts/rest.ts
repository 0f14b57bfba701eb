import { z } from 'zod';

/** REST bodies and path parameters of SPEC.md's control-plane API. */

export const CallbackUrl = z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }).max(2000);

export const SignupRequest = z.object({
  name: z.string().trim().min(1).max(100),
  callbackUrl: CallbackUrl.optional(),
});
export type SignupRequest = z.infer<typeof SignupRequest>;

export const CODECS = ['PCMU', 'PCMA', 'G722', 'opus'] as const;

export const TenantPatch = z
  .object({
    callbackUrl: CallbackUrl.nullable().optional(),
    fallbackUrl: CallbackUrl.nullable().optional(),
    callbackTimeoutMs: z.number().int().min(100).max(15_000).optional(),
    callbackRetries: z.number().int().min(0).max(5).optional(),
    codecs: z.array(z.enum(CODECS)).min(1).max(4).optional(),
  })
  .strict();
export type TenantPatch = z.infer<typeof TenantPatch>;

/** A claimable number: E.164 (`+4930123456`) or a SIP user part. */
export const NumberParam = z
  .string()
  .min(1)
  .max(64)
  .regex(/^(\+[1-9][0-9]{3,15}|[A-Za-z0-9][A-Za-z0-9._~-]*)$/, 'E.164 number or SIP user part');

export const PromptFileName = z
  .string()
  .min(1)
  .max(200)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'letters, digits, ".", "_" and "-" only');

export interface TenantView {
  tenantId: string;
  name: string;
  domain: string;
  callbackUrl: string | null;
  fallbackUrl: string | null;
  callbackTimeoutMs: number;
  callbackRetries: number;
  codecs: string[];
  createdAt: string;
}

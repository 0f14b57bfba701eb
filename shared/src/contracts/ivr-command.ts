import { z } from 'zod';

/** The IVR command object, the reply to `getIvrCommand` (docs/ivr.md, docs/contract.md). Unknown fields are ignored. */

const fileName = z
  .string()
  .min(1)
  .max(200)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'letters, digits, ".", "_" and "-" only');

export const FilePhrase = z.object({ format: z.literal('file'), fileName });
export const UrlPhrase = z.object({ format: z.literal('url'), url: z.url({ protocol: /^https?$/ }) });
export const AwsTtsPhrase = z.object({
  format: z.literal('awstts'),
  awsTTSParameters: z.object({
    Text: z.string().min(1).max(3000),
    VoiceId: z.string().min(1).max(64).optional(),
    LanguageCode: z.string().min(2).max(16).optional(),
    Engine: z.enum(['standard', 'neural', 'long-form', 'generative']).optional(),
    TextType: z.enum(['text', 'ssml']).optional(),
    OutputFormat: z.string().optional(),
  }),
});
export const TtsPhrase = z.object({
  format: z.literal('tts'),
  text: z.string().min(1).max(3000),
  voice: z.string().max(64).optional(),
  language: z.string().min(2).max(16).optional(),
});
export const SilencePhrase = z.object({
  format: z.literal('silence'),
  durationMs: z.number().int().min(1).max(60_000),
});

export const Phrase = z.discriminatedUnion('format', [FilePhrase, UrlPhrase, AwsTtsPhrase, TtsPhrase, SilencePhrase]);
export type Phrase = z.infer<typeof Phrase>;

const dtmfKey = z.string().regex(/^[0-9*#A-D]$/, 'one of 0-9 * # A-D');

export const DtmfCollect = z.object({
  maxDigits: z.number().int().min(1).max(64).default(1),
  terminationKey: dtmfKey.optional(),
  firstDigitTimeoutMs: z.number().int().min(100).max(120_000).default(5000),
  interDigitTimeoutMs: z.number().int().min(100).max(60_000).default(3000),
  sensitive: z
    .boolean()
    .optional()
    .describe(
      'true: the digits reach the tenant in dtmfParams but are "***" in the journal, the logs and the event archive (a PIN, a card number)',
    ),
});
export type DtmfCollect = z.infer<typeof DtmfCollect>;

export const RecordSpec = z.object({
  fileName,
  maxDurationSec: z.number().int().min(1).max(3600).default(60),
  terminationKey: dtmfKey.optional(),
  beep: z.boolean().default(false),
});

export const IvrCommand = z.object({
  phrases: z.array(Phrase).max(50).default([]),
  dtmf: DtmfCollect.optional(),
  bargeIn: z.enum(['all', 'none']).default('none'),
  record: RecordSpec.optional(),
  echo: z.object({ durationSec: z.number().int().min(1).max(300) }).optional(),
  hangup: z.boolean().default(false),
});
export type IvrCommand = z.infer<typeof IvrCommand>;

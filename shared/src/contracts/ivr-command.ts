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

/** `stream`: the participant's audio to a voice bot over WebSocket, Twilio Media Streams messages (docs/streams.md). */
export const StreamSpec = z
  .object({
    url: z
      .url({ protocol: /^wss?$/ })
      .max(2048)
      .describe('wss:// (ws:// only where the deployment allows loopback callbacks)'),
    bidirectional: z.boolean().default(false).describe("true: the bot's audio is played to the caller"),
    track: z
      .enum(['inbound', 'both'])
      .default('inbound')
      .describe('inbound: the caller; both: also what the caller hears'),
    encoding: z.enum(['mulaw', 'l16']).default('mulaw'),
    sampleRate: z
      .union([z.literal(8000), z.literal(16000), z.literal(24000)])
      .optional()
      .describe('l16 only (default 8000); mulaw is 8000'),
    parameters: z
      .record(z.string().min(1).max(64), z.string().max(500))
      .refine((p) => Object.keys(p).length <= 20, 'at most 20 parameters')
      .optional()
      .describe('echoed in start.customParameters'),
    maxDurationSec: z.number().int().min(1).max(14_400).default(3600),
  })
  .refine((s) => s.encoding === 'l16' || s.sampleRate === undefined || s.sampleRate === 8000, {
    message: 'mulaw is 8000 Hz; use l16 for 16000 or 24000',
    path: ['sampleRate'],
  });
export type StreamSpec = z.infer<typeof StreamSpec>;

// ---- conference (docs/conferences.md) ------------------------------------------------------------

/** A conference's name: per tenant, the same rules as a prompt file's name, shorter. */
export const ConferenceName = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'letters, digits, ".", "_" and "-" only, starting with a letter or digit');

/** The most participants a conference can be asked for; a deployment's ceiling (CONFERENCE_MAX_PARTICIPANTS) may be lower. */
export const CONFERENCE_PARTICIPANTS_LIMIT = 1000;
/** Participants a conference takes when its creator names no `maxParticipants`. */
export const CONFERENCE_DEFAULT_PARTICIPANTS = 50;

/** `conference`: the participant joins a conference (created on first join) until it leaves or is taken out. */
export const ConferenceSpec = z.object({
  name: ConferenceName.describe('per tenant; the conference is created by its first participant'),
  muted: z.boolean().default(false).describe('this participant is not heard'),
  deaf: z.boolean().default(false).describe('this participant hears nothing'),
  beep: z.boolean().default(true).describe('a tone is played to the conference when this participant joins and leaves'),
  endOnExit: z.boolean().default(false).describe('the conference ends when this participant leaves'),
  maxParticipants: z
    .number()
    .int()
    .min(2)
    .max(CONFERENCE_PARTICIPANTS_LIMIT)
    .optional()
    .describe(
      `set by the participant who creates the conference (default ${CONFERENCE_DEFAULT_PARTICIPANTS}, at most the deployment's CONFERENCE_MAX_PARTICIPANTS); ignored for later joins`,
    ),
});
export type ConferenceSpec = z.infer<typeof ConferenceSpec>;

/** What `conference` may not be combined with: it runs until the participant leaves, so nothing can follow it. */
const NOT_WITH_CONFERENCE = ['dtmf', 'record', 'echo', 'stream', 'hangup'] as const;

export const IvrCommand = z
  .object({
    phrases: z.array(Phrase).max(50).default([]),
    dtmf: DtmfCollect.optional(),
    bargeIn: z.enum(['all', 'none']).default('none'),
    record: RecordSpec.optional(),
    echo: z.object({ durationSec: z.number().int().min(1).max(300) }).optional(),
    stream: StreamSpec.optional(),
    conference: ConferenceSpec.optional(),
    hangup: z.boolean().default(false),
  })
  .refine((c) => !c.stream || (!c.record && !c.echo), {
    message: 'stream cannot be combined with record or echo',
    path: ['stream'],
  })
  .superRefine((c, ctx) => {
    if (!c.conference) return;
    const clashing = NOT_WITH_CONFERENCE.filter((k) => (k === 'hangup' ? c.hangup : c[k] !== undefined));
    if (clashing.length === 0) return;
    ctx.addIssue({
      code: 'custom',
      message: `conference cannot be combined with ${clashing.join(', ')} (it may follow phrases; the next getIvrCommand carries conferenceResult)`,
      path: ['conference'],
    });
  });
export type IvrCommand = z.infer<typeof IvrCommand>;

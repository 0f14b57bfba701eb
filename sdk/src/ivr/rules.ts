/**
 * The rules the platform applies to an IVR command (the reply to getIvrCommand; docs/ivr.md, docs/streams.md),
 * checked in the tenant's process so a bad command fails in its code, naming the field, instead of reaching the
 * wire and turning into the defined fallback (an apology and a hang-up). They mirror the server's schema;
 * sdk/test/ivr-builders.test.ts feeds the same commands to both and requires the same verdict.
 * Unknown fields are not problems: the platform ignores them.
 */

export interface IvrProblem {
  /** Dotted path of the offending field (`phrases.2.fileName`, `stream`). */
  field: string;
  message: string;
}

export const IVR_LIMITS = {
  phrases: 50,
  text: 3000,
  silenceMs: 60_000,
  maxDigits: 64,
  firstDigitTimeoutMs: [100, 120_000],
  interDigitTimeoutMs: [100, 60_000],
  recordSec: 3600,
  echoSec: 300,
  streamSec: 14_400,
  streamUrl: 2048,
  streamParameters: 20,
  conferenceParticipants: [2, 1000],
} as const;

const FILE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const DTMF_KEY = /^[0-9*#A-D]$/;
/** What `conference` may not be combined with: it runs until the participant leaves, so nothing can follow it. */
const NOT_WITH_CONFERENCE = ['dtmf', 'record', 'echo', 'stream', 'hangup'] as const;

type Obj = Record<string, unknown>;
const isObject = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

class Checker {
  readonly problems: IvrProblem[] = [];

  add(field: string, message: string): false {
    this.problems.push({ field, message });
    return false;
  }

  object(v: unknown, field: string): v is Obj {
    return isObject(v) || this.add(field, 'must be an object');
  }

  /** Absent (undefined) passes unless required; null is a value, and a wrong one. */
  string(
    o: Obj,
    key: string,
    field: string,
    opts: { min?: number; max?: number; pattern?: RegExp; required?: boolean },
  ) {
    const v = o[key];
    const at = field ? `${field}.${key}` : key;
    if (v === undefined) return opts.required ? this.add(at, 'is required') : true;
    if (typeof v !== 'string') return this.add(at, 'must be a string');
    if (opts.min !== undefined && v.length < opts.min) return this.add(at, `must be at least ${opts.min} characters`);
    if (opts.max !== undefined && v.length > opts.max) return this.add(at, `must be at most ${opts.max} characters`);
    if (opts.pattern && !opts.pattern.test(v)) return this.add(at, `must match ${opts.pattern.source}`);
    return true;
  }

  integer(o: Obj, key: string, field: string, min: number, max: number, required = false) {
    const v = o[key];
    const at = field ? `${field}.${key}` : key;
    if (v === undefined) return required ? this.add(at, 'is required') : true;
    if (typeof v !== 'number' || !Number.isInteger(v)) return this.add(at, 'must be an integer');
    if (v < min || v > max) return this.add(at, `must be ${min}–${max}`);
    return true;
  }

  boolean(o: Obj, key: string, field: string) {
    const v = o[key];
    if (v === undefined || typeof v === 'boolean') return true;
    return this.add(`${field ? `${field}.` : ''}${key}`, 'must be true or false');
  }

  oneOf(o: Obj, key: string, field: string, values: readonly unknown[]) {
    const v = o[key];
    if (v === undefined || values.includes(v)) return true;
    return this.add(
      `${field ? `${field}.` : ''}${key}`,
      `must be one of ${values.map((x) => JSON.stringify(x)).join(', ')}`,
    );
  }

  /** A URL as the platform reads it: trimmed, parsed by the WHATWG parser, of the given schemes. */
  url(o: Obj, key: string, field: string, schemes: 'http' | 'ws', max?: number) {
    const v = o[key];
    const at = `${field}.${key}`;
    if (v === undefined) return this.add(at, 'is required');
    if (typeof v !== 'string') return this.add(at, 'must be a string');
    const trimmed = v.trim();
    const wanted = schemes === 'http' ? /^https?$/ : /^wss?$/;
    // http(s) URLs must spell out "://": "http:example.com" is a typo, not a URL.
    if (schemes === 'http' && !/^https?:\/\//i.test(trimmed)) return this.add(at, 'must be an http(s) URL');
    let url: URL;
    try {
      url = new URL(trimmed);
    } catch (error) {
      if (!(error instanceof TypeError)) throw error;
      return this.add(at, 'must be a URL');
    }
    if (!wanted.test(url.protocol.replace(/:$/, ''))) {
      return this.add(at, schemes === 'http' ? 'must be an http(s) URL' : 'must be a ws:// or wss:// URL');
    }
    if (max !== undefined && trimmed.replace(/[\t\n\r]/g, '').length > max)
      return this.add(at, `must be at most ${max} characters`);
    return true;
  }
}

function checkPhrase(c: Checker, p: unknown, field: string): void {
  if (!c.object(p, field)) return;
  switch (p.format) {
    case 'file':
      c.string(p, 'fileName', field, { min: 1, max: 200, pattern: FILE_NAME, required: true });
      return;
    case 'url':
      c.url(p, 'url', field, 'http');
      return;
    case 'awstts': {
      const at = `${field}.awsTTSParameters`;
      const a = p.awsTTSParameters;
      if (a === undefined) return void c.add(at, 'is required');
      if (!c.object(a, at)) return;
      c.string(a, 'Text', at, { min: 1, max: IVR_LIMITS.text, required: true });
      c.string(a, 'VoiceId', at, { min: 1, max: 64 });
      c.string(a, 'LanguageCode', at, { min: 2, max: 16 });
      c.oneOf(a, 'Engine', at, ['standard', 'neural', 'long-form', 'generative']);
      c.oneOf(a, 'TextType', at, ['text', 'ssml']);
      c.string(a, 'OutputFormat', at, {});
      return;
    }
    case 'tts':
      c.string(p, 'text', field, { min: 1, max: IVR_LIMITS.text, required: true });
      c.string(p, 'voice', field, { max: 64 });
      c.string(p, 'language', field, { min: 2, max: 16 });
      return;
    case 'silence':
      c.integer(p, 'durationMs', field, 1, IVR_LIMITS.silenceMs, true);
      return;
    default:
      c.add(`${field}.format`, 'must be one of "file", "url", "awstts", "tts", "silence"');
  }
}

function checkStream(c: Checker, s: unknown): void {
  if (!c.object(s, 'stream')) return;
  c.url(s, 'url', 'stream', 'ws', IVR_LIMITS.streamUrl);
  c.boolean(s, 'bidirectional', 'stream');
  c.oneOf(s, 'track', 'stream', ['inbound', 'both']);
  c.oneOf(s, 'encoding', 'stream', ['mulaw', 'l16']);
  const rateOk = c.oneOf(s, 'sampleRate', 'stream', [8000, 16000, 24000]);
  if (s.parameters !== undefined) {
    const params = s.parameters;
    if (c.object(params, 'stream.parameters')) {
      const entries = Object.entries(params);
      for (const [k, v] of entries) {
        if (k.length < 1 || k.length > 64) c.add('stream.parameters', 'names must be 1–64 characters');
        if (typeof v !== 'string') c.add(`stream.parameters.${k}`, 'must be a string');
        else if (v.length > 500) c.add(`stream.parameters.${k}`, 'must be at most 500 characters');
      }
      if (entries.length > IVR_LIMITS.streamParameters) {
        c.add('stream.parameters', `at most ${IVR_LIMITS.streamParameters} parameters`);
      }
    }
  }
  c.integer(s, 'maxDurationSec', 'stream', 1, IVR_LIMITS.streamSec);
  const encoding = s.encoding ?? 'mulaw';
  if (rateOk && encoding !== 'l16' && s.sampleRate !== undefined && s.sampleRate !== 8000) {
    c.add('stream.sampleRate', 'mulaw is 8000 Hz; use l16 for 16000 or 24000');
  }
}

function checkConference(c: Checker, conf: unknown): void {
  if (!c.object(conf, 'conference')) return;
  c.string(conf, 'name', 'conference', { min: 1, max: 64, pattern: FILE_NAME, required: true });
  for (const k of ['muted', 'deaf', 'beep', 'endOnExit']) c.boolean(conf, k, 'conference');
  const [lo, hi] = IVR_LIMITS.conferenceParticipants;
  c.integer(conf, 'maxParticipants', 'conference', lo, hi);
}

/** Every reason the platform would refuse `command`; empty when it would accept it. */
export function ivrCommandProblems(command: unknown): IvrProblem[] {
  const c = new Checker();
  if (!c.object(command, '(command)')) return c.problems;
  const cmd = command;

  if (cmd.phrases !== undefined) {
    if (!Array.isArray(cmd.phrases)) c.add('phrases', 'must be an array');
    else {
      if (cmd.phrases.length > IVR_LIMITS.phrases) c.add('phrases', `at most ${IVR_LIMITS.phrases} phrases`);
      cmd.phrases.forEach((p, i) => {
        checkPhrase(c, p, `phrases.${i}`);
      });
    }
  }
  if (cmd.dtmf !== undefined && c.object(cmd.dtmf, 'dtmf')) {
    c.integer(cmd.dtmf, 'maxDigits', 'dtmf', 1, IVR_LIMITS.maxDigits);
    c.string(cmd.dtmf, 'terminationKey', 'dtmf', { pattern: DTMF_KEY });
    c.integer(cmd.dtmf, 'firstDigitTimeoutMs', 'dtmf', ...IVR_LIMITS.firstDigitTimeoutMs);
    c.integer(cmd.dtmf, 'interDigitTimeoutMs', 'dtmf', ...IVR_LIMITS.interDigitTimeoutMs);
    c.boolean(cmd.dtmf, 'sensitive', 'dtmf');
  }
  c.oneOf(cmd, 'bargeIn', '', ['all', 'none']);
  if (cmd.record !== undefined && c.object(cmd.record, 'record')) {
    c.string(cmd.record, 'fileName', 'record', { min: 1, max: 200, pattern: FILE_NAME, required: true });
    c.integer(cmd.record, 'maxDurationSec', 'record', 1, IVR_LIMITS.recordSec);
    c.string(cmd.record, 'terminationKey', 'record', { pattern: DTMF_KEY });
    c.boolean(cmd.record, 'beep', 'record');
  }
  if (cmd.echo !== undefined && c.object(cmd.echo, 'echo')) {
    c.integer(cmd.echo, 'durationSec', 'echo', 1, IVR_LIMITS.echoSec, true);
  }
  if (cmd.stream !== undefined) checkStream(c, cmd.stream);
  if (cmd.conference !== undefined) checkConference(c, cmd.conference);
  c.boolean(cmd, 'hangup', '');

  // Combinations (docs/streams.md, docs/contract.md).
  if (cmd.stream !== undefined && (cmd.record !== undefined || cmd.echo !== undefined)) {
    c.add('stream', 'stream cannot be combined with record or echo');
  }
  if (cmd.conference !== undefined) {
    const clashing = NOT_WITH_CONFERENCE.filter((k) => (k === 'hangup' ? cmd.hangup === true : cmd[k] !== undefined));
    if (clashing.length) {
      c.add('conference', `conference cannot be combined with ${clashing.join(', ')} (it may follow phrases)`);
    }
  }
  return c.problems;
}

import type { IvrCommand } from '../generated/wire.js';
import { type IvrProblem, ivrCommandProblems } from './rules.js';

/** The parts of an IVR command, named (the generated IvrCommand declares them inline). */
export type Phrase = NonNullable<IvrCommand['phrases']>[number];
export type DtmfOptions = NonNullable<IvrCommand['dtmf']>;
export type RecordOptions = NonNullable<IvrCommand['record']>;
export type StreamOptions = NonNullable<IvrCommand['stream']>;
export type ConferenceOptions = NonNullable<IvrCommand['conference']>;
export type AwsTtsParameters = Extract<Phrase, { format: 'awstts' }>['awsTTSParameters'];

/** An IVR command the platform would refuse; `problems` names every offending field. */
export class IvrCommandError extends Error {
  constructor(readonly problems: IvrProblem[]) {
    super(`invalid IVR command: ${problems.map((p) => `${p.field}: ${p.message}`).join('; ')}`);
    this.name = 'IvrCommandError';
  }
}

/** Throws IvrCommandError unless the platform would accept `command`; returns it typed. */
export function assertIvrCommand(command: unknown): IvrCommand {
  const problems = ivrCommandProblems(command);
  if (problems.length) throw new IvrCommandError(problems);
  return command as IvrCommand;
}

/** Phrases on their own, for `ivr().phrases(...)` or a hand-written command. */
export const phrase = {
  /** A prompt file of the tenant (uploaded with `client.prompts.put`). */
  file: (fileName: string): Phrase => ({ format: 'file', fileName }),
  /** An http(s) URL, fetched and cached by the platform. */
  url: (url: string): Phrase => ({ format: 'url', url }),
  /** Text to speech. */
  tts: (text: string, options: { voice?: string; language?: string } = {}): Phrase => ({
    format: 'tts',
    text,
    ...options,
  }),
  /** Text to speech with Amazon Polly's parameters (spoken by espeak-ng on a local deployment). */
  awstts: (awsTTSParameters: AwsTtsParameters): Phrase => ({ format: 'awstts', awsTTSParameters }),
  silence: (durationMs: number): Phrase => ({ format: 'silence', durationMs }),
};

const clone = <T>(v: T): T => structuredClone(v);

/**
 * An immutable builder of one IVR command: every step returns a new builder, so a shared start
 * (`const menu = ivr().say('Press 1 for sales')`) can be reused. Each step checks the whole command at once
 * and throws IvrCommandError on the step that makes it invalid (a value out of range, `stream` after `record`,
 * `conference` after `dtmf`, …), so nothing the platform would refuse reaches the wire.
 */
export class IvrBuilder {
  private constructor(private readonly command: IvrCommand) {}

  static create(): IvrBuilder {
    return new IvrBuilder({});
  }

  private with(change: (draft: IvrCommand) => void): IvrBuilder {
    const draft = clone(this.command);
    change(draft);
    return new IvrBuilder(assertIvrCommand(draft));
  }

  /** Appends phrases, played in order. */
  phrases(...phrases: Phrase[]): IvrBuilder {
    return this.with((d) => {
      d.phrases = [...(d.phrases ?? []), ...phrases];
    });
  }

  /** Plays a prompt file of the tenant. */
  play(fileName: string): IvrBuilder {
    return this.phrases(phrase.file(fileName));
  }

  /** Plays audio from an http(s) URL. */
  playUrl(url: string): IvrBuilder {
    return this.phrases(phrase.url(url));
  }

  /** Speaks text. */
  say(text: string, options: { voice?: string; language?: string } = {}): IvrBuilder {
    return this.phrases(phrase.tts(text, options));
  }

  /** Speaks text with Amazon Polly's parameters. */
  sayAws(parameters: AwsTtsParameters): IvrBuilder {
    return this.phrases(phrase.awstts(parameters));
  }

  silence(durationMs: number): IvrBuilder {
    return this.phrases(phrase.silence(durationMs));
  }

  /** Collects digits; the next getIvrCommand carries them in `dtmfParams`. */
  dtmf(options: DtmfOptions = {}): IvrBuilder {
    return this.with((d) => {
      d.dtmf = { ...options };
    });
  }

  /** Alias of `dtmf`. */
  collect(options: DtmfOptions = {}): IvrBuilder {
    return this.dtmf(options);
  }

  /** A key press stops the phrases (`all`, the default of this method) or does not (`none`). */
  bargeIn(mode: boolean | 'all' | 'none' = 'all'): IvrBuilder {
    return this.with((d) => {
      d.bargeIn = mode === true ? 'all' : mode === false ? 'none' : mode;
    });
  }

  /** Records the caller into a prompt file; the next getIvrCommand carries `recording`. */
  record(options: RecordOptions | string): IvrBuilder {
    return this.with((d) => {
      d.record = typeof options === 'string' ? { fileName: options } : { ...options };
    });
  }

  /** Loops the caller's audio back (tests). */
  echo(durationSec: number): IvrBuilder {
    return this.with((d) => {
      d.echo = { durationSec };
    });
  }

  /** Streams the caller's audio to a voice bot over WebSocket (Twilio Media Streams messages). */
  stream(options: StreamOptions | string): IvrBuilder {
    return this.with((d) => {
      d.stream = typeof options === 'string' ? { url: options } : { ...options };
    });
  }

  /** Joins a conference (created on first join); may follow phrases, nothing else. */
  conference(options: ConferenceOptions | string): IvrBuilder {
    return this.with((d) => {
      d.conference = typeof options === 'string' ? { name: options } : { ...options };
    });
  }

  /** Hangs up after the phrases (or the stream). */
  hangup(yes = true): IvrBuilder {
    return this.with((d) => {
      d.hangup = yes;
    });
  }

  /** The command, checked: a fresh copy each time. */
  build(): IvrCommand {
    return clone(assertIvrCommand(this.command));
  }

  /** Lets a handler return the builder itself. */
  toJSON(): IvrCommand {
    return this.build();
  }
}

/** Starts an IVR command: `ivr().say('Welcome').dtmf({ maxDigits: 1 })`. */
export function ivr(): IvrBuilder {
  return IvrBuilder.create();
}

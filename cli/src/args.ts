/**
 * `sipms` command lines → what to do. Flags take `--flag value` or `--flag=value`; the environment fills
 * in the server and the API (SIPMS_SIP_SERVER, SIPMS_API_URL, SIPMS_API_KEY); flags win over it. Any
 * problem is a CallOptionsError whose field is the flag, for a one-line error.
 */

import { parseDuration } from './durations.js';
import { CallOptionsError } from './errors.js';
import type { CallOptions } from './types.js';

export type Command =
  | { kind: 'help'; topic: 'general' | 'call' }
  | { kind: 'version' }
  | { kind: 'call'; options: CallOptions; json: boolean };

/** The library field each flag sets: errors from the library name the flag the user typed. */
export const FLAG_OF: Readonly<Record<string, string>> = {
  target: '<number-or-sip-uri>',
  server: '--server',
  transport: '--transport',
  from: '--from',
  dtmf: '--dtmf',
  playWav: '--play',
  recordWav: '--record',
  hangupAfterMs: '--hangup-after',
  ringTimeoutMs: '--ring-timeout',
  'api.url': '--api-url',
  'api.apiKey': '--api-key',
  journalTimeoutMs: '--journal-timeout',
};

const VALUE_FLAGS = new Set([
  '--server',
  '--transport',
  '--from',
  '--dtmf',
  '--play',
  '--record',
  '--hangup-after',
  '--ring-timeout',
  '--api-url',
  '--api-key',
  '--journal-timeout',
]);
const BOOLEAN_FLAGS = new Set(['--json', '--help', '-h']);

export function parseArgs(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): Command {
  const [command, ...rest] = argv;
  if (command === undefined) throw new CallOptionsError('command', 'missing; try: sipms call <number> (sipms --help)');
  if (command === '--help' || command === '-h') return { kind: 'help', topic: 'general' };
  if (command === 'help') return { kind: 'help', topic: rest[0] === 'call' ? 'call' : 'general' };
  if (command === '--version' || command === '-V') return { kind: 'version' };
  if (command !== 'call') throw new CallOptionsError('command', `unknown command "${command}" (sipms --help)`);
  return parseCall(rest, env);
}

function parseCall(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): Command {
  const values = new Map<string, string[]>();
  const flags = new Set<string>();
  const positional: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      positional.push(...argv.slice(i + 1));
      break;
    }
    if (!arg.startsWith('-') || arg === '-') {
      positional.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = eq > 0 ? arg.slice(0, eq) : arg;
    if (BOOLEAN_FLAGS.has(name)) {
      if (eq > 0) throw new CallOptionsError(name, 'takes no value');
      flags.add(name === '-h' ? '--help' : name);
      continue;
    }
    if (!VALUE_FLAGS.has(name)) throw new CallOptionsError(name, 'unknown option (sipms call --help)');
    let value: string | undefined;
    if (eq > 0) value = arg.slice(eq + 1);
    else {
      value = argv[i + 1];
      if (value === undefined || value.startsWith('--')) throw new CallOptionsError(name, 'needs a value');
      i += 1;
    }
    if (values.has(name) && name !== '--dtmf') throw new CallOptionsError(name, 'given more than once');
    values.set(name, [...(values.get(name) ?? []), value]);
  }
  if (flags.has('--help')) return { kind: 'help', topic: 'call' };
  if (positional.length === 0) throw new CallOptionsError('<number-or-sip-uri>', 'missing: whom to call');
  if (positional.length > 1)
    throw new CallOptionsError(positional[1]!, 'unexpected argument: call one number at a time');
  const one = (name: string) => values.get(name)?.[0];
  const options: CallOptions = { target: positional[0]! };
  const server = one('--server') ?? nonEmpty(env.SIPMS_SIP_SERVER);
  if (server !== undefined) options.server = server;
  const transport = one('--transport');
  if (transport !== undefined) {
    if (transport !== 'udp' && transport !== 'tcp') throw new CallOptionsError('--transport', 'must be udp or tcp');
    options.transport = transport;
  }
  const from = one('--from');
  if (from !== undefined) options.from = from;
  const dtmf = values.get('--dtmf');
  if (dtmf) options.dtmf = dtmf.flatMap(parseDtmfSpec);
  const play = one('--play');
  if (play !== undefined) options.playWav = play;
  const record = one('--record');
  if (record !== undefined) options.recordWav = record;
  const hangup = one('--hangup-after');
  if (hangup !== undefined) options.hangupAfterMs = parseDuration(hangup, '--hangup-after', { min: 1 });
  const ring = one('--ring-timeout');
  if (ring !== undefined) options.ringTimeoutMs = parseDuration(ring, '--ring-timeout', { min: 100 });
  const journal = one('--journal-timeout');
  if (journal !== undefined) options.journalTimeoutMs = parseDuration(journal, '--journal-timeout');
  const apiUrl = one('--api-url') ?? nonEmpty(env.SIPMS_API_URL);
  const apiKey = one('--api-key') ?? nonEmpty(env.SIPMS_API_KEY);
  if (apiUrl !== undefined && apiKey === undefined) {
    throw new CallOptionsError('--api-key', 'is needed with --api-url (or set SIPMS_API_KEY)');
  }
  if (apiKey !== undefined && apiUrl === undefined) {
    throw new CallOptionsError('--api-url', 'is needed with --api-key (or set SIPMS_API_URL)');
  }
  if (apiUrl !== undefined && apiKey !== undefined) options.api = { url: apiUrl, apiKey };
  return { kind: 'call', options, json: flags.has('--json') };
}

/** `1@2s,23#@5.5s`: groups of keys, each at a time after the answer. */
export function parseDtmfSpec(spec: string): { atMs: number; digits: string }[] {
  const groups = spec.split(',').map((g) => g.trim());
  if (groups.some((g) => g === '')) throw new CallOptionsError('--dtmf', `"${spec}" has an empty group`);
  return groups.map((group) => {
    const at = group.lastIndexOf('@');
    if (at <= 0) throw new CallOptionsError('--dtmf', `"${group}" is not digits@time (e.g. 1@2s,23#@5.5s)`);
    const digits = group.slice(0, at).trim().toUpperCase();
    if (!/^[0-9*#A-D]{1,64}$/.test(digits)) {
      throw new CallOptionsError('--dtmf', `"${digits}" are not DTMF keys (0-9 * # A-D, at most 64)`);
    }
    return { digits, atMs: parseDuration(group.slice(at + 1), '--dtmf') };
  });
}

function nonEmpty(v: string | undefined): string | undefined {
  return v === undefined || v.trim() === '' ? undefined : v.trim();
}

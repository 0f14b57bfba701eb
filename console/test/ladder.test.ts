import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ladderRows } from '../src/ladder.js';
import type { JournalEntry } from '../src/sessions.js';

// The ladder's rows from journal entries shaped as GET /v1/sessions/{id} returns them (taken from a real call's
// journal in the console's browser test); pure function, no DOM.

const at = (ms: number) => new Date(Date.UTC(2026, 10, 30, 10, 0, 0, ms)).toISOString();
const journal: JournalEntry[] = [
  { at: at(0), kind: 'sip', event: 'invite', from: 'sip:a@x', to: 'sip:ivr@y' },
  {
    at: at(300),
    kind: 'callback',
    callback: 'newCall',
    request: { participantId: 'p1', replyId: 'r1' },
    reply: { action: 'ivr' },
    httpStatus: 200,
    attempts: [{ status: 200 }],
    latencyMs: 226,
  },
  { at: at(305), kind: 'command', callback: 'newCall', action: 'ivr', fallback: false },
  {
    at: at(3600),
    kind: 'callback',
    callback: 'getIvrCommand',
    request: {
      participantId: 'p1',
      replyId: 'r2',
      timestamp: at(3400),
      dtmfParams: { digits: '42', terminationKey: '#', reason: 'terminationKey' },
    },
    reply: { phrases: [{ format: 'file', fileName: 'hello' }], hangup: true },
    httpStatus: 200,
    attempts: [{ status: 500 }, { status: 200 }],
    latencyMs: 25,
  },
  {
    at: at(3650),
    kind: 'command',
    callback: 'getIvrCommand',
    command: { phrases: [], hangup: true },
    fallback: false,
  },
  {
    at: at(4000),
    kind: 'callback',
    callback: 'callEvent',
    request: { event: 'callingPartyDrop' },
    fallback: true,
    reason: 'timeout after 3 attempts',
    attempts: [{}, {}, {}],
    latencyMs: 9000,
  },
  { at: at(4100), kind: 'media', event: 'dtmf', digit: '5' },
  { at: at(4200), kind: 'error', event: 'ivrFailed', reason: 'file phrase skipped' },
  {
    at: at(5700),
    kind: 'sip',
    event: 'messages',
    callId: 'c1',
    messages: [
      { at: at(1), direction: 'in', firstLine: 'INVITE sip:ivr@y SIP/2.0', headers: { CSeq: '1 INVITE' } },
      { at: at(2), direction: 'out', firstLine: 'SIP/2.0 100 Trying', headers: { CSeq: '1 INVITE' } },
      { at: at(380), direction: 'out', firstLine: 'SIP/2.0 200 OK', headers: { CSeq: '1 INVITE' } },
      { at: at(5600), direction: 'out', firstLine: 'BYE sip:a@x SIP/2.0', headers: { CSeq: '2 BYE' } },
      { at: at(5650), direction: 'in', firstLine: 'SIP/2.0 486 Busy Here', headers: { CSeq: '2 BYE' } },
    ],
  },
];

test('every entry becomes rows between the right lanes, in time order, with the facts a reader needs', () => {
  const rows = ladderRows(journal);
  const lines = rows.map((r) => `${r.offsetMs} ${r.from}>${r.to} ${r.label}${r.error ? ' !' : ''}`);
  assert.deepEqual(lines, [
    '0 0>1 invite',
    '1 0>1 INVITE',
    '2 1>0 100 Trying (INVITE)',
    '300 1>2 newCall event',
    '300 2>3 POST /newCall · 1 attempt, 226 ms',
    '300 3>2 200 action=ivr',
    '305 2>1 newCall → ivr',
    '380 1>0 200 OK (INVITE)',
    '3400 0>1 DTMF 42#',
    '3600 1>2 getIvrCommand event',
    '3600 2>3 POST /getIvrCommand digits=42 (terminationKey) · 2 attempts, 25 ms',
    '3600 3>2 200 phrases+hangup',
    '3650 2>1 getIvrCommand → hangup',
    '4000 1>2 callEvent event',
    '4000 2>3 POST /callEvent callingPartyDrop · 3 attempts, 9000 ms',
    '4000 3>2 no usable reply: timeout after 3 attempts → fallback !',
    '4100 0>1 DTMF 5',
    '4200 1>1 ivrFailed: file phrase skipped !',
    '5600 1>0 BYE',
    '5650 0>1 486 Busy Here (BYE) !',
  ]);
  // Each row keeps its raw entry (a SIP message's own summary for the expanded ones).
  assert.equal(rows[1]!.entry.firstLine, 'INVITE sip:ivr@y SIP/2.0');
  assert.equal(rows[10]!.entry.callback, 'getIvrCommand');
});

test('an empty or odd journal gives rows without throwing', () => {
  assert.deepEqual(ladderRows([]), []);
  const odd = ladderRows([{ at: 'not a time', kind: 'something-new', event: 42 } as unknown as JournalEntry]);
  assert.equal(odd.length, 1);
  assert.equal(odd[0]!.offsetMs, 0);
  assert.equal(odd[0]!.from, 1);
});

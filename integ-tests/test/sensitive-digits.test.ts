import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { verifySignature } from '@sipms/shared/signing';
import { ApiClient } from '../src/api-client.js';
import { type LocalStack, startLocalStack } from '../src/local-stack.js';
import { freeSippMediaPort } from '../src/ports.js';
import { renderScenario, runSipp } from '../src/sipp.js';
import { WebhookServer } from '../src/webhook-server.js';

// `dtmf.sensitive` end to end: a SIPp caller types a PIN (RFC 4733, SIPp's sample pcaps) into the stack as
// `npm start` runs it, with debug logs. The tenant's webhook gets the PIN; the session journal
// (GET /v1/sessions/{id}), every log line of the stack and every file it keeps (the table, the local bus
// keeps no archive of events) hold only "***". RTP range: 38000-38099.
const RTP_MIN = 38000;
const RTP_MAX = 38099;
const NUMBER = 'pin-line';
const PIN = '958473';

/** SIPp actions typing `digits`, one sample pcap each, a pause between them (none after the last: BYE may follow). */
const typed = (digits: string) =>
  [...digits]
    .map((d) => `  <nop><action><exec play_pcap_audio="/usr/share/sip-tester/dtmf_2833_${d}.pcap"/></action></nop>`)
    .join('\n  <pause milliseconds="600"/>\n');

/** Every file under `dir` whose bytes contain `needle`. */
async function filesContaining(dir: string, needle: string): Promise<string[]> {
  const found: string[] = [];
  for (const name of await readdir(dir, { recursive: true })) {
    const path = join(dir, String(name));
    const bytes = await readFile(path).catch((err: NodeJS.ErrnoException) => {
      // A directory, or a file removed while we walked (a compaction): nothing to read.
      if (err.code === 'EISDIR' || err.code === 'ENOENT') return Buffer.alloc(0);
      throw err;
    });
    if (bytes.includes(needle)) found.push(path);
  }
  return found;
}

describe('sensitive digits (dtmf.sensitive) through the whole stack', () => {
  let stack: LocalStack;
  let hook: WebhookServer;
  let api: ApiClient;
  let tenant: { signingSecret: string };

  before(async () => {
    stack = await startLocalStack({ rtpPortMin: RTP_MIN, rtpPortMax: RTP_MAX, env: { LOG_LEVEL: 'debug' } });
    hook = new WebhookServer();
    await hook.start();
    api = new ApiClient(stack.apiUrl);
    tenant = await api.signup('Sensitive Digits GmbH');
    assert.equal((await api.call('PATCH', '/v1/tenant', { callbackUrl: hook.url })).status, 200);
    assert.equal((await api.call('PUT', `/v1/numbers/${NUMBER}`)).status, 201);
  });

  after(async () => {
    await hook?.close();
    const code = await stack?.stop();
    assert.equal(code, 0, 'the stack stops cleanly on SIGINT');
    hook?.assertContract();
  });

  test('the webhook gets the PIN; the journal, the logs and the data on disk show only "***"', async () => {
    hook.responder = (cb) => {
      if (cb.name === 'newCall') return { body: { action: 'ivr' } };
      if (cb.name === 'getIvrCommand' && !cb.body.dtmfParams) {
        return {
          body: {
            phrases: [{ format: 'silence', durationMs: 200 }],
            dtmf: { maxDigits: PIN.length, firstDigitTimeoutMs: 10_000, interDigitTimeoutMs: 4000, sensitive: true },
          },
        };
      }
      if (cb.name === 'getIvrCommand') return { body: { hangup: true } };
      return undefined;
    };
    const xml = await renderScenario('uac-ivr-pin.xml', { wait: 800, digits: typed(PIN) });
    const sipp = await runSipp([
      '-sf',
      xml,
      '-s',
      NUMBER,
      '-m',
      '1',
      '-mp',
      String(await freeSippMediaPort()),
      '-timeout',
      '40s',
      `${stack.sipHost}:${stack.sipPort}`,
    ]);
    const completed = await hook.waitFor('sessionCompleted');
    assert.equal(sipp.code, 0, `SIPp failed:\n${sipp.errors}\n${sipp.stderr}\n${stack.logs.slice(-15).join('\n')}`);

    // The tenant: the real digits, signed as every callback is.
    const withDigits = hook.named('getIvrCommand').filter((cb) => cb.body.dtmfParams);
    assert.equal(withDigits.length, 1);
    const cb = withDigits[0]!;
    assert.deepEqual(cb.body.dtmfParams, { digits: PIN, terminationKey: '', reason: 'maxDigits' });
    assert.ok(verifySignature(cb.headers['x-mediaserver-signature'], cb.rawBody, tenant.signingSecret).ok);

    // The journal: the callback's request with "***", the command as the tenant sent it, no PIN anywhere.
    const session = await api.call('GET', `/v1/sessions/${completed.body.sessionId}`);
    assert.equal(session.status, 200);
    const entry = session.json.journal.find(
      (e: { kind: string; callback?: string; request?: { dtmfParams?: unknown } }) =>
        e.kind === 'callback' && e.callback === 'getIvrCommand' && e.request?.dtmfParams,
    );
    assert.ok(entry, JSON.stringify(session.json.journal));
    assert.deepEqual(entry.request.dtmfParams, { digits: '***', terminationKey: '', reason: 'maxDigits' });
    assert.deepEqual(entry.redacted, ['dtmfParams.digits']);
    assert.ok(!JSON.stringify(session.json).includes(PIN), 'no PIN in GET /v1/sessions/{id}');

    // Everything the stack logged (debug level), and everything it keeps on disk (the table's files; the
    // local bus holds events in memory only and archives none).
    assert.ok(
      stack.logs.some((line) => line.includes('"level":"debug"')),
      'logged at debug level',
    );
    const leaking = stack.logs.filter((line) => line.includes(PIN));
    assert.deepEqual(leaking, [], 'no log line carries the PIN');
    assert.deepEqual(await filesContaining(stack.dataDir, PIN), [], 'no file of the stack holds the PIN');
  });
});

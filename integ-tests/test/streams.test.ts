import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import type { IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { verifySignature } from '@sipms/shared/signing';
import { type WebSocket, WebSocketServer } from 'ws';
import { ApiClient } from '../src/api-client.js';
import { toneWav } from '../src/audio.js';
import { Baresip, requireBaresip, soxStat } from '../src/baresip.js';
import { type LocalStack, startLocalStack } from '../src/local-stack.js';
import { type ReceivedCallback, WebhookServer } from '../src/webhook-server.js';

// The `stream` IVR command against real voice bots (WebSocket servers in this process) and a real softphone
// (baresip, which records what it hears): Twilio Media Streams messages, the caller's audio to the bot, the
// bot's audio to the caller, marks, clear, DTMF, and bots that fail. RTP: rtpengine 39700-39799, baresip
// 39800-39899.
const RTP_MIN = 39700;
const RTP_MAX = 39799;
const NUMBER = 'stream-bot';

requireBaresip();

// biome-ignore lint/suspicious/noExplicitAny: the node's JSON messages, read field by field by the tests
type BotMessage = { event: string; [field: string]: any };

/** A bot: records what the node sends; `script` runs per connection. */
class Bot {
  private server!: WebSocketServer;
  url = '';
  readonly received: BotMessage[] = [];
  handshake: IncomingMessage | undefined;
  closedByNode: { code: number; reason: string } | undefined;
  script: (ws: WebSocket, bot: Bot) => void = () => undefined;

  async start(): Promise<void> {
    this.server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await new Promise<void>((r) => this.server.once('listening', () => r()));
    this.url = `ws://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    this.server.on('connection', (ws, req) => {
      this.handshake = req;
      ws.on('message', (data) =>
        this.received.push({ ...(JSON.parse(String(data)) as BotMessage), receivedAt: Date.now() }),
      );
      ws.on('close', (code, reason) => {
        this.closedByNode = { code, reason: reason.toString() };
      });
      this.script(ws, this);
    });
  }

  reset(script: Bot['script']): void {
    this.received.length = 0;
    this.handshake = undefined;
    this.closedByNode = undefined;
    this.script = script;
  }

  ofEvent(event: string): BotMessage[] {
    return this.received.filter((m) => m.event === event);
  }

  async waitFor(event: string, count = 1, timeoutMs = 10_000): Promise<void> {
    const until = Date.now() + timeoutMs;
    while (this.ofEvent(event).length < count) {
      if (Date.now() > until) throw new Error(`bot: fewer than ${count} ${event} within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  async close(): Promise<void> {
    for (const c of this.server.clients) c.terminate();
    await new Promise((r) => this.server.close(r));
  }
}

/** `sox stat`'s rough frequency of a part of a recording (Hz). */
function roughFrequency(file: string, start: number, length: number): number {
  const out = spawnSync('sox', [file, '-n', 'trim', String(start), String(length), 'stat'], {
    encoding: 'utf8',
  }).stderr;
  return Number(/Rough\s+frequency:\s+(\d+)/.exec(out)?.[1] ?? Number.NaN);
}

/** 16-bit little-endian samples of a tone, as a bot sends L16. */
function l16Tone(ms: number, hz: number, rate: number, amplitude = 0.5): Buffer {
  const n = Math.round((ms * rate) / 1000);
  const b = Buffer.alloc(n * 2);
  for (let i = 0; i < n; i++)
    b.writeInt16LE(Math.round(amplitude * 32767 * Math.sin((2 * Math.PI * hz * i) / rate)), i * 2);
  return b;
}

describe('audio streams to voice bots (Twilio Media Streams)', () => {
  let stack: LocalStack;
  let hook: WebhookServer;
  let bot: Bot;
  let secret: string;
  let tenantId: string;
  let api: ApiClient;

  before(async () => {
    stack = await startLocalStack({ rtpPortMin: RTP_MIN, rtpPortMax: RTP_MAX });
    hook = new WebhookServer();
    await hook.start();
    bot = new Bot();
    await bot.start();
    api = new ApiClient(stack.apiUrl);
    const tenant = await api.signup('Voice bots GmbH');
    secret = tenant.signingSecret;
    tenantId = tenant.tenantId;
    await api.call('PATCH', '/v1/tenant', { callbackUrl: hook.url });
    await api.call('PUT', `/v1/numbers/${NUMBER}`);
  });

  after(async () => {
    await bot?.close();
    await hook?.close();
    await stack?.stop();
    hook?.assertContract();
  });

  /** One call from a fresh baresip playing `tone` Hz; the IVR runs `commands` in turn, then hangs up. */
  async function call(
    commands: ((previous: ReceivedCallback) => unknown)[],
    opts: { tone?: number; keys?: { afterMs: number; keys: string } } = {},
  ): Promise<{ turns: ReceivedCallback[]; heard: string | undefined; phone: Baresip; sessionId: string }> {
    hook.received.length = 0;
    const turns: ReceivedCallback[] = [];
    hook.responder = (cb) => {
      if (cb.name === 'newCall') return { body: { action: 'ivr' } };
      if (cb.name !== 'getIvrCommand') return undefined;
      turns.push(cb);
      const next = commands[turns.length - 1];
      return { body: next ? next(cb) : { hangup: true } };
    };
    const phone = new Baresip();
    await phone.start({ sourceWav: toneWav(30_000, opts.tone ?? 1000, 0.4), rtpPorts: [39800, 39899] });
    try {
      phone.dial(`sip:${NUMBER}@${stack.sipHost}:${stack.sipPort}`);
      await phone.waitFor('CALL_ESTABLISHED');
      if (opts.keys) {
        await new Promise((r) => setTimeout(r, opts.keys!.afterMs));
        await phone.type(opts.keys.keys);
      }
      await phone.waitFor('CALL_CLOSED', 30_000);
      await new Promise((r) => setTimeout(r, 300));
      const heard = await phone.heardFile();
      const sessionId = String(turns[0]?.body.sessionId);
      return { turns, heard: heard ? `${heard}` : undefined, phone, sessionId };
    } catch (err) {
      await phone.stop();
      throw err;
    }
  }

  test('an echo bot: the caller hears its own tone back; start, media and the signed handshake as Twilio sends them', async () => {
    bot.reset((ws) => {
      ws.on('message', (data) => {
        const m = JSON.parse(String(data)) as { event: string; media?: { payload: string } };
        if (m.event === 'media')
          ws.send(JSON.stringify({ event: 'media', streamSid: 'x', media: { payload: m.media!.payload } }));
      });
      setTimeout(() => ws.send(JSON.stringify({ event: 'stop' })), 3000);
    });
    const url = `${bot.url}/echo?token=t0k3n`;
    const { turns, heard, phone, sessionId } = await call([
      () => ({ stream: { url, bidirectional: true, parameters: { lang: 'de' } } }),
    ]);
    try {
      // The handshake is signed over the URL with the tenant's secret.
      const signature = bot.handshake?.headers['x-mediaserver-signature'];
      assert.ok(verifySignature(String(signature), url, secret).ok, `signature ${signature}`);
      const [connected, start] = bot.received;
      const { receivedAt: _at, ...connectedMessage } = connected!;
      assert.deepEqual(connectedMessage, { event: 'connected', protocol: 'Call', version: '1.0.0' });
      const s = start!.start;
      assert.equal(start?.event, 'start');
      assert.equal(s.accountSid, tenantId);
      assert.equal(s.callSid, sessionId);
      assert.deepEqual(s.tracks, ['inbound']);
      assert.deepEqual(s.customParameters, { lang: 'de' });
      assert.deepEqual(s.mediaFormat, { encoding: 'audio/x-mulaw', sampleRate: 8000, channels: 1 });
      assert.equal(s.streamSid, start!.streamSid);
      assert.equal(bot.handshake?.headers['x-mediaserver-event-id'], s.streamSid);
      const media = bot.ofEvent('media');
      // 3 s of the caller at 50 packets a second, each 20 ms of μ-law.
      assert.ok(media.length >= 120, `${media.length} media messages in 3 s`);
      assert.equal(Buffer.from(media[0]!.media.payload, 'base64').length, 160);
      assert.equal(media[0]!.media.track, 'inbound');
      assert.deepEqual(
        media.slice(0, 5).map((m) => Number(m.media.chunk)),
        [1, 2, 3, 4, 5],
      );
      const seqs = bot.received.slice(1).map((m) => Number(m.sequenceNumber));
      assert.ok(
        seqs.every((n, i) => n === i + 1),
        'sequence numbers count every message from 1',
      );
      const lastTs = Number(media.at(-1)!.media.timestamp);
      assert.ok(lastTs >= 2500 && lastTs <= 3600, `last media timestamp ${lastTs} ms`);
      // The next getIvrCommand tells why and how long.
      const result = turns[1]?.body.streamResult as { reason: string; durationMs: number };
      assert.equal(result.reason, 'stopped');
      assert.ok(result.durationMs >= 2800 && result.durationMs < 5000, `durationMs ${result.durationMs}`);
      // The caller heard its own 1 kHz tone, loud.
      assert.ok(heard, 'baresip recorded what it heard');
      const all = soxStat(heard);
      assert.ok(all.seconds >= 2, `heard ${all.seconds} s`);
      const middle = soxStat(heard, { start: 0.8, length: 1.2 });
      assert.ok(middle.rms > 0.1, `echo RMS ${middle.rms}`);
      const hz = roughFrequency(heard, 0.8, 1.2);
      assert.ok(Math.abs(hz - 1000) < 60, `echo frequency ${hz} Hz`);
      // The stream's start and end are in the journal.
      const journal = (await api.call('GET', `/v1/sessions/${sessionId}`)).json.journal as {
        event?: string;
        reason?: string;
      }[];
      assert.ok(journal.some((e) => e.event === 'streamStarted'));
      assert.ok(journal.some((e) => e.event === 'streamEnded' && e.reason === 'stopped'));
    } finally {
      await phone.stop();
    }
  });

  test('an L16 16 kHz bot: its tone is played, clear silences it at once, and the pending mark comes back', async (t) => {
    let clearedAt = 0;
    let sentAt = 0;
    bot.reset((ws) => {
      // 5 s of 600 Hz as 16 kHz L16, sent at once in 100 ms chunks (faster than real time, as bots do), with a
      // mark after the first 0.5 s and one at the end.
      const tone = l16Tone(5000, 600, 16_000);
      sentAt = Date.now();
      for (let off = 0; off < tone.length; off += 3200) {
        const chunk = tone.subarray(off, off + 3200).toString('base64');
        ws.send(JSON.stringify({ event: 'media', media: { payload: chunk } }));
        if (off + 3200 === 16_000) ws.send(JSON.stringify({ event: 'mark', mark: { name: 'half-second' } }));
      }
      ws.send(JSON.stringify({ event: 'mark', mark: { name: 'after-tone' } }));
      setTimeout(() => {
        clearedAt = Date.now();
        ws.send(JSON.stringify({ event: 'clear' }));
      }, 1500);
      setTimeout(() => ws.send(JSON.stringify({ event: 'stop' })), 3000);
    });
    const { turns, heard, phone } = await call([
      () => ({ stream: { url: `${bot.url}/l16`, bidirectional: true, encoding: 'l16', sampleRate: 16000 } }),
    ]);
    try {
      const start = bot.ofEvent('start')[0]!;
      assert.deepEqual(start.start.mediaFormat, { encoding: 'audio/l16', sampleRate: 16000, channels: 1 });
      const media = bot.ofEvent('media');
      assert.equal(Buffer.from(media[0]!.media.payload, 'base64').length, 640, '20 ms of 16 kHz L16');
      // The first mark comes back once its half second has been played; the last was cleared before it was
      // played: it comes back when clear runs, not after the 5 s.
      const marks = bot.ofEvent('mark');
      assert.deepEqual(
        marks.map((m) => m.mark.name),
        ['half-second', 'after-tone'],
      );
      // The bars tell "played" from "sent" (≥ 400 ms) and "cleared" from "played to the end" (3.5 s later),
      // with room for a loaded machine's round trips: the latencies themselves are bench:streams' figures.
      const played = marks[0]!.receivedAt - sentAt;
      assert.ok(clearedAt > 0);
      const cleared = marks[1]!.receivedAt - clearedAt;
      t.diagnostic(`half-second mark after ${played} ms; cleared mark ${cleared} ms after clear`);
      assert.ok(played >= 400 && played <= 1400, `the half-second mark came back after ${played} ms`);
      assert.ok(cleared >= 0 && cleared < 1000, `the cleared mark came back ${cleared} ms after clear`);
      assert.equal((turns[1]!.body.streamResult as { reason: string }).reason, 'stopped');
      assert.ok(heard);
      // About 1.5 s of the bot's 600 Hz, then silence once cleared.
      const toneSecs = soxStat(heard, { start: 0.4, length: 0.8 });
      assert.ok(toneSecs.rms > 0.1, `bot tone RMS ${toneSecs.rms}`);
      const hz = roughFrequency(heard, 0.4, 0.8);
      assert.ok(Math.abs(hz - 600) < 40, `bot tone ${hz} Hz`);
      // The phone's recording holds only the audio that arrived: the tone until clear, none of the 3.5 s cleared.
      const all = soxStat(heard);
      assert.ok(all.seconds > 1.0 && all.seconds < 2.2, `heard ${all.seconds} s of a 5 s tone cleared after 1.5 s`);
    } finally {
      await phone.stop();
    }
  });

  test('bots that fail: garbage, no server, a crash; each gives streamResult and the call goes on', async () => {
    const closedPort = await (async () => {
      const s = new WebSocketServer({ host: '127.0.0.1', port: 0 });
      await new Promise<void>((r) => s.once('listening', () => r()));
      const port = (s.address() as AddressInfo).port;
      await new Promise((r) => s.close(r));
      return port;
    })();
    bot.reset((ws, b) => {
      const path = b.handshake?.url ?? '';
      if (path.startsWith('/garbage')) ws.send('this is not json');
      if (path.startsWith('/crash')) setTimeout(() => ws.close(1011, 'bot crashed'), 300);
    });
    const { turns, phone } = await call([
      () => ({ stream: { url: `${bot.url}/garbage`, bidirectional: true } }),
      () => ({ stream: { url: `ws://127.0.0.1:${closedPort}/nobody` } }),
      () => ({ stream: { url: `${bot.url}/crash` } }),
    ]);
    try {
      const results = turns.slice(1).map((t) => t.body.streamResult as { reason: string; error?: string });
      assert.equal(results.length, 3, JSON.stringify(turns.map((t) => t.body)));
      assert.equal(results[0]!.reason, 'failed');
      assert.match(results[0]!.error ?? '', /bot message 1 is not JSON/);
      assert.equal(results[1]!.reason, 'failed');
      assert.match(results[1]!.error ?? '', /^cannot connect to the bot/);
      assert.equal(results[2]!.reason, 'closed');
      assert.match(results[2]!.error ?? '', /code 1011: bot crashed/);
      // A stream that could not start is an IVR failure the tenant hears about.
      const failed = hook.received.filter((c) => c.name === 'callNotify' && c.body.event === 'ivrFailed');
      assert.equal(failed.length, 1, JSON.stringify(failed.map((f) => f.body)));
      assert.match(String(failed[0]!.body.reason), /stream failed: cannot connect/);
    } finally {
      await phone.stop();
    }
  });

  test('digits go to the bot as dtmf, and a dtmf collection ends the stream with dtmfParams', async () => {
    bot.reset(() => undefined);
    const { turns, phone } = await call([() => ({ stream: { url: `${bot.url}/keys` }, dtmf: { maxDigits: 2 } })], {
      keys: { afterMs: 1500, keys: '42' },
    });
    try {
      const dtmf = bot.ofEvent('dtmf');
      assert.deepEqual(
        dtmf.map((d) => d.dtmf.digit),
        ['4', '2'],
      );
      assert.equal(dtmf[0]!.dtmf.track, 'inbound_track');
      const next = turns[1]?.body;
      assert.equal((next!.streamResult as { reason: string }).reason, 'dtmf');
      assert.deepEqual(next?.dtmfParams, { digits: '42', terminationKey: '', reason: 'maxDigits' });
      assert.ok(bot.ofEvent('stop').length === 1, 'the node sent stop');
      assert.equal(bot.closedByNode?.code, 1000);
    } finally {
      await phone.stop();
    }
  });
});

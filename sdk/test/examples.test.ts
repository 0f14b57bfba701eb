// The README's examples (sdk/examples/*.ts) against the real local deployment with real SIP calls: each example
// runs as its own process (its node:http server is a tenant's callback URL), SIPp places the calls and answers as
// the agent, and the session journal is read back with the SDK's REST client.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type LocalStack, repoRoot, startLocalStack } from '@sipms/integ-tests/local-stack';
import { freeSippMediaPort, freeTcpPort } from '@sipms/integ-tests/ports';
import { renderScenario, runSipp, scenario, startSippCallee } from '@sipms/integ-tests/sipp';
import WebSocket from 'ws';
import { SipmsClient } from '../src/client/client.js';
import type { CallEventCallback, GetIvrCommandCallback, IvrCommand, SessionDetail } from '../src/generated/wire.js';
import { signPayload } from '../src/signature.js';

// rtpengine ports of this file (the SDK's range is 32400-32999: rest-client 32400-32499, testkit 32900-32999).
const RTP_MIN = 32500;
const RTP_MAX = 32899;

/** One example as a tenant runs it: its own process, its own tenant, its number and callback URL. */
class RunningExample {
  readonly lines: string[] = [];
  private child: ChildProcess | undefined;
  url = '';
  client!: SipmsClient;
  tenant!: { tenantId: string; domain: string; apiKey: string; signingSecret: string };

  constructor(
    private readonly file: string,
    readonly number: string,
  ) {}

  async start(stack: LocalStack, env: Record<string, string> = {}) {
    this.tenant = await new SipmsClient({ baseUrl: stack.apiUrl }).signup({ name: `SDK example ${this.number}` });
    this.client = new SipmsClient({ baseUrl: stack.apiUrl, apiKey: this.tenant.apiKey, domain: this.tenant.domain });
    await this.client.numbers.claim(this.number);
    await this.launch(stack, env);
  }

  /** Starts (or restarts, e.g. with other settings) the example process and points the callback URL at it. */
  async launch(stack: LocalStack, env: Record<string, string> = {}) {
    await this.stop();
    const port = await freeTcpPort();
    // `-C development` resolves @sipms/sdk to its TypeScript source, as in this repository (sdk/package.json).
    this.child = spawn(process.execPath, ['-C', 'development', '--import', 'tsx', join('sdk/examples', this.file)], {
      cwd: repoRoot,
      env: {
        ...process.env,
        PORT: String(port),
        SIPMS_SIGNING_SECRET: this.tenant.signingSecret,
        SIPMS_API_URL: stack.apiUrl,
        SIPMS_API_KEY: this.tenant.apiKey,
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const onData = (d: Buffer) => this.lines.push(...d.toString('utf8').split('\n').filter(Boolean));
    this.child.stdout!.on('data', onData);
    this.child.stderr!.on('data', onData);
    this.url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.file} not listening: ${this.lines.join('\n')}`)), 20_000);
      const check = () => {
        const line = this.lines.find((l) => l.startsWith('listening on '));
        if (!line) return;
        clearTimeout(timer);
        this.child!.stdout!.off('data', check);
        resolve(/listening on (\S+?),?$/.exec(line.split(' ').slice(0, 3).join(' '))![1]!);
      };
      this.child!.stdout!.on('data', check);
      this.child!.once('exit', (code) =>
        reject(new Error(`${this.file} exited with ${code}: ${this.lines.join('\n')}`)),
      );
    });
    await this.client.tenant.update({ callbackUrl: this.url });
  }

  async stop() {
    const child = this.child;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await exited;
  }

  /** The one session of this example's number once it has completed, read with the SDK's client. */
  async completedSession(timeoutMs = 15_000): Promise<SessionDetail> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const { sessions } = await this.client.sessions.list({ number: this.number });
      const latest = sessions[0];
      if (latest) {
        const detail = await this.client.sessions.get(latest.sessionId);
        if (callbacks(detail).some((c) => c.callback === 'sessionCompleted')) return detail;
      }
      if (Date.now() > until) throw new Error(`no completed session for ${this.number}: ${this.lines.join('\n')}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

type CallbackEntry = {
  callback: string;
  request: Partial<GetIvrCommandCallback> & Partial<CallEventCallback> & { participantId: string };
  reply?: IvrCommand & { action?: string; destination?: string };
  httpStatus?: number;
  fallback?: boolean;
};
const callbacks = (s: SessionDetail) => s.journal.filter((e) => e.kind === 'callback') as unknown as CallbackEntry[];

async function renderSteps(steps: string[], byeTimeoutMs: number): Promise<string> {
  let xml = await readFile(scenario('ivr/uac-steps.xml'), 'utf8');
  xml = xml.replace('{{steps}}', steps.join('\n  ')).replace('{{byeTimeout}}', String(byeTimeoutMs));
  const file = join(await mkdtemp(join(tmpdir(), 'sdk-scenario-')), 'uac-steps.xml');
  await writeFile(file, xml);
  return file;
}
const pause = (ms: number) => `<pause milliseconds="${ms}"/>`;
const digit = (name: string) =>
  `<nop><action><exec play_pcap_audio="/usr/share/sip-tester/dtmf_2833_${name}.pcap"/></action></nop>`;

describe('the SDK examples with real SIP calls', () => {
  let stack: LocalStack;
  const examples: RunningExample[] = [];

  before(async () => {
    stack = await startLocalStack({ rtpPortMin: RTP_MIN, rtpPortMax: RTP_MAX });
  });

  after(async () => {
    for (const e of examples) await e.stop();
    const code = await stack?.stop();
    assert.equal(code, 0, 'the stack stops cleanly');
  });

  const sipp = async (args: string[]) =>
    runSipp([...args, '-m', '1', '-mp', String(await freeSippMediaPort()), `${stack.sipHost}:${stack.sipPort}`]);

  test('ivr-menu: welcome, menu (2 = support), customer number 42#, goodbye; the journal has it in order', async () => {
    const example = new RunningExample('ivr-menu.ts', 'sdk-ivr');
    examples.push(example);
    await example.start(stack);
    const xml = await renderSteps(
      [pause(3000), digit('2'), pause(3000), digit('4'), pause(700), digit('2'), pause(700), digit('pound')],
      30_000,
    );
    const run = await sipp(['-sf', xml, '-s', example.number, '-timeout', '60s']);
    assert.equal(run.code, 0, `SIPp: ${run.errors}\n${example.lines.join('\n')}\n${stack.logs.slice(-10).join('\n')}`);

    const session = await example.completedSession();
    const cbs = callbacks(session);
    assert.deepEqual(
      cbs.map((c) => c.callback).filter((n) => n !== 'callNotify' && n !== 'callAnswered'),
      ['newCall', 'getIvrCommand', 'getIvrCommand', 'getIvrCommand', 'sessionCompleted'],
      JSON.stringify(cbs.map((c) => c.callback)),
    );
    for (const c of cbs) assert.equal(c.fallback, undefined, `${c.callback} answered by the example, not the fallback`);
    const commands = cbs.filter((c) => c.callback === 'getIvrCommand');
    assert.equal(commands[0]!.request.dtmfParams, undefined);
    assert.deepEqual(commands[1]!.request.dtmfParams, { digits: '2', terminationKey: '', reason: 'maxDigits' });
    assert.deepEqual(commands[2]!.request.dtmfParams, { digits: '42', terminationKey: '#', reason: 'terminationKey' });
    // The replies are the example's builders, rendered.
    assert.deepEqual(commands[0]!.reply!.phrases?.[0], { format: 'tts', text: 'Welcome to Example Corporation.' });
    assert.equal(commands[1]!.reply!.dtmf?.terminationKey, '#');
    assert.deepEqual(commands[2]!.reply, {
      phrases: [{ format: 'tts', text: 'You entered 4 2. Thank you for calling. Goodbye.' }],
      bargeIn: 'none',
      hangup: true,
    });
    assert.deepEqual(cbs[0]!.reply, { action: 'ivr' });
    assert.equal(session.endReason ?? cbs.at(-1)!.request.reason, 'hangup');
    assert.ok(
      example.lines.some((l) => l === `session ${session.sessionId} ended: hangup`),
      example.lines.join('\n'),
    );
  });

  test('forward-to-agent (connect): IVR, placeivrcall of the agent into the session, connect; the caller hangs up', async () => {
    const agent = await startSippCallee({ calls: 1, timeoutSec: 40 });
    const example = new RunningExample('forward-to-agent.ts', 'sdk-forward');
    examples.push(example);
    await example.start(stack, { AGENT: agent.uri() });
    const xml = await renderScenario('uac-bridge.xml', { talk: 9000 });
    const caller = await sipp(['-sf', xml, '-s', example.number, '-timeout', '40s']);
    const said = () => `\n${example.lines.join('\n')}\n${stack.logs.slice(-10).join('\n')}`;
    assert.equal(caller.code, 0, `caller: ${caller.errors}${said()}`);
    const agentRun = await agent.run;
    assert.equal(agentRun.code, 0, `agent: ${agentRun.errors}${said()}`);

    const session = await example.completedSession();
    const cbs = callbacks(session);
    const participants = Object.keys(session.participants);
    assert.equal(participants.length, 2, 'the caller and the agent, one session');
    const [first] = cbs;
    assert.equal(first!.callback, 'newCall');
    const callerId = first!.request.participantId as string;
    const commands = cbs.filter((c) => c.callback === 'getIvrCommand');
    // The journal keeps the reply as the platform read it (defaults filled in).
    assert.deepEqual(commands[0]!.reply!.phrases, [
      { format: 'tts', text: 'Please hold, we are connecting you to an agent.' },
    ]);
    const agentId = participants.find((p) => p !== callerId)!;
    assert.ok(
      commands.some((c) => c.request.participantId === agentId),
      'the agent entered IVR once answered',
    );
    const connected = session.journal.find((e) => e.event === 'connected');
    assert.ok(
      connected,
      `a connection in the journal: ${JSON.stringify(session.journal.map((e) => e.event ?? e.kind))}`,
    );
    assert.deepEqual([...(connected.participantIds as string[])].sort(), [callerId, agentId].sort());
    assert.ok(
      example.lines.some((l) => l === `connected ${connected.connectionId}`),
      said(),
    );
    // The agent's answer (default handling: it enters IVR), then the caller's hang-up, which ends the session.
    const events = cbs.filter((c) => c.callback === 'callEvent').map((c) => [c.request.event, c.request.participantId]);
    assert.deepEqual(events, [
      ['calledPartyAnswered', agentId],
      ['callingPartyDrop', callerId],
    ]);
  });

  test('forward-to-agent (call): newCall answers {action:"call"} and the platform bridges caller and agent', async () => {
    const agent = await startSippCallee({ calls: 1, timeoutSec: 30 });
    // A tenant of its own: the platform caches a tenant's settings briefly, so a moved callback URL is not
    // seen at once by the next call.
    const example = new RunningExample('forward-to-agent.ts', 'sdk-forward-call');
    examples.push(example);
    await example.start(stack, { AGENT: agent.uri(), FORWARD_MODE: 'call' });
    const xml = await renderScenario('uac-bridge.xml', { talk: 3000 });
    const caller = await sipp(['-sf', xml, '-s', example.number, '-timeout', '30s']);
    assert.equal(caller.code, 0, `caller: ${caller.errors}\n${example.lines.join('\n')}`);
    assert.equal((await agent.run).code, 0);
    const session = await example.completedSession();
    const cbs = callbacks(session);
    assert.deepEqual(cbs[0]!.reply, { action: 'call', destination: agent.uri(), timeoutSec: 30 });
    assert.equal(cbs.filter((c) => c.callback === 'getIvrCommand').length, 0, 'no IVR: a direct forward');
    assert.equal(Object.keys(session.participants).length, 2);
  });

  test('voice-bot-stream: the stream command reaches the bot (signed handshake), the bot stops it, goodbye', async () => {
    const example = new RunningExample('voice-bot-stream.ts', 'sdk-bot');
    examples.push(example);
    await example.start(stack, { BOT_SECONDS: '3' });
    const xml = await renderSteps([pause(1000)], 30_000);
    const run = await sipp(['-sf', xml, '-s', example.number, '-timeout', '45s']);
    assert.equal(run.code, 0, `SIPp: ${run.errors}\n${example.lines.join('\n')}\n${stack.logs.slice(-10).join('\n')}`);
    const session = await example.completedSession();
    const commands = callbacks(session).filter((c) => c.callback === 'getIvrCommand');
    assert.equal(commands.length, 2);
    const botUrl = `ws://127.0.0.1:${new URL(example.url).port}/media`;
    assert.deepEqual(commands[0]!.reply!.stream, {
      url: botUrl,
      bidirectional: true,
      track: 'inbound',
      encoding: 'mulaw',
      parameters: { language: 'en' },
      maxDurationSec: 60,
    });
    assert.equal(commands[1]!.request.streamResult?.reason, 'stopped');
    assert.ok(
      (commands[1]!.request.streamResult?.durationMs ?? 0) >= 2500,
      JSON.stringify(commands[1]!.request.streamResult),
    );
    assert.ok(session.journal.some((e) => e.event === 'streamStarted'));
    assert.ok(example.lines.includes('bot: start {"language":"en"}'), example.lines.join('\n'));
    assert.ok(example.lines.some((l) => l.startsWith('stream ended: stopped after')));

    // The bot refuses a handshake that is not signed with the tenant's secret, and takes one that is.
    const attempt = (signature: string) =>
      new Promise<number>((resolve, reject) => {
        const ws = new WebSocket(botUrl, { headers: { 'x-mediaserver-signature': signature } });
        ws.once('open', () => {
          ws.close();
          resolve(101);
        });
        ws.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
        ws.once('error', reject);
      });
    assert.equal(await attempt(signPayload(botUrl, 'whsec_not_the_tenants')), 401);
    assert.equal(await attempt(signPayload(botUrl, example.tenant.signingSecret)), 101);
  });
});

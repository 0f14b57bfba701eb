// The callback handler: real node:http servers (plain, and an Express-style pre-read body), real Fetch-API
// Request/Response objects, and for Fastify a recording fake of the four methods the plugin calls (Fastify is not
// installed in this repository; the fake is named FakeFastify below). Bodies are signed with the server's signer.
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { CALLBACK_BODIES, CallEventReply, NewCallReply } from '@sipms/shared/contracts/callbacks';
import { IvrCommand as ServerIvrCommand } from '@sipms/shared/contracts/ivr-command';
import { signatureHeader } from '@sipms/shared/signing';
import {
  type CallbackHandler,
  createCallbackHandler,
  type FastifyInstanceLike,
  type FastifyReplyLike,
  type FastifyRequestLike,
} from '../src/callbacks/adapters.js';
import type { CallbackContext } from '../src/callbacks/handler.js';
import { ivr } from '../src/ivr/builder.js';

type ErrorJson = { error: { code: string; message: string } };

const SECRET = 'whsec_handler_test';
const OLD = 'whsec_handler_old';
const common = { sessionId: 's-1', seq: 1, timestamp: '2025-06-01T10:00:00.000Z' };
const BODIES = {
  newCall: {
    ...common,
    participantId: 'p-1',
    replyId: 'r-1',
    sipCallId: 'c@x',
    from: { uri: 'sip:alice@example.com', user: 'alice' },
    to: { uri: 'sip:100@acme.sip.localhost', user: '100' },
    requestUri: 'sip:100@acme.sip.localhost',
    headers: { 'X-Customer': '42' },
    sourceAddress: '127.0.0.1',
    transport: 'udp',
  },
  getIvrCommand: { ...common, participantId: 'p-1', replyId: 'r-2' },
  callAnswered: { ...common, participantId: 'p-1', replyId: 'r-3' },
  callNotify: { ...common, participantId: 'p-1', event: 'ringing' },
  callEvent: { ...common, participantId: 'p-1', event: 'callingPartyDrop' },
  sessionCompleted: { ...common, sessionDuration: 12.5, reason: 'hangup' },
};

function signed(body: unknown, opts: { secrets?: string[]; t?: number } = {}) {
  const raw = typeof body === 'string' ? body : JSON.stringify(body);
  const t = opts.t ?? Math.floor(Date.now() / 1000);
  return {
    raw,
    headers: {
      'content-type': 'application/json',
      'x-mediaserver-signature': signatureHeader(opts.secrets ?? [SECRET], raw, t),
      'x-mediaserver-event-id': 'evt-1',
      'x-mediaserver-attempt': '2',
    },
  };
}

async function listen(server: Server): Promise<string> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function makeHandler(overrides: Partial<Parameters<typeof createCallbackHandler>[0]> = {}) {
  const seen: { name: string; body: unknown; context: CallbackContext }[] = [];
  const errors: unknown[] = [];
  const record =
    <R>(result: R) =>
    (body: unknown, context: CallbackContext) => {
      seen.push({ name: context.name, body, context });
      return result;
    };
  const handler = createCallbackHandler({
    secrets: [SECRET, OLD],
    onError: (e) => errors.push(e),
    handlers: {
      newCall: record({ action: 'ivr' } as const),
      getIvrCommand: (body, context) => {
        seen.push({ name: 'getIvrCommand', body, context });
        if (body.dtmfParams?.digits === 'boom') throw new Error('database password is hunter2');
        return body.dtmfParams ? ivr().say(`You pressed ${body.dtmfParams.digits}`).hangup() : ivr().say('Hi').dtmf();
      },
      callAnswered: record({ ignored: true }),
      callNotify: record(undefined),
      callEvent: (body, context) => {
        seen.push({ name: 'callEvent', body, context });
        return body.event === 'calledPartyAnswered'
          ? { action: 'bridge', participantIds: ['p-1', body.participantId] }
          : {};
      },
      sessionCompleted: record(undefined),
    },
    ...overrides,
  });
  return { handler, seen, errors };
}

describe('callback handler on node:http', () => {
  let server: Server;
  let url: string;
  let h: ReturnType<typeof makeHandler>;

  before(async () => {
    h = makeHandler();
    server = createServer(h.handler.node);
    url = `${await listen(server)}/hooks`;
  });
  after(() => new Promise((r) => server.close(r)));

  async function post(name: string, body: unknown, opts: Parameters<typeof signed>[1] & { headers?: object } = {}) {
    const s = signed(body, opts);
    const res = await fetch(`${url}/${name}`, {
      method: 'POST',
      headers: { ...s.headers, ...opts.headers },
      body: s.raw,
    });
    return { status: res.status, json: (await res.json()) as ErrorJson & Record<string, unknown> };
  }

  test('each callback reaches its function with the body, event id and attempt; replies are what the server accepts', async () => {
    const replies: Record<string, unknown> = {};
    for (const [name, body] of Object.entries(BODIES)) {
      // The fixtures are bodies the server could send.
      assert.ok(CALLBACK_BODIES[name as keyof typeof CALLBACK_BODIES].strict().safeParse(body).success, name);
      const r = await post(name, body);
      assert.equal(r.status, 200, `${name}: ${JSON.stringify(r.json)}`);
      replies[name] = r.json;
    }
    assert.deepEqual(
      h.seen.map((s) => s.name),
      Object.keys(BODIES),
    );
    assert.deepEqual(h.seen[0]!.body, BODIES.newCall);
    assert.deepEqual(h.seen[0]!.context, {
      name: 'newCall',
      eventId: 'evt-1',
      attempt: 2,
      signedAt: h.seen[0]!.context.signedAt,
    });
    assert.deepEqual(replies.newCall, { action: 'ivr' });
    assert.ok(NewCallReply.safeParse(replies.newCall).success);
    assert.deepEqual(replies.getIvrCommand, { phrases: [{ format: 'tts', text: 'Hi' }], dtmf: {} });
    assert.ok(ServerIvrCommand.safeParse(replies.getIvrCommand).success);
    assert.deepEqual(replies.callEvent, {});
    assert.ok(CallEventReply.safeParse(replies.callEvent).success);
    // Ignored callbacks answer {} whatever their function returned.
    assert.deepEqual(replies.callAnswered, {});
    assert.deepEqual(replies.sessionCompleted, {});
  });

  test('a builder, a bridge and digits: the reply is the rendered object', async () => {
    const digits = await post('getIvrCommand', {
      ...BODIES.getIvrCommand,
      dtmfParams: { digits: '42', terminationKey: '#', reason: 'terminationKey' },
    });
    assert.deepEqual(digits.json, { phrases: [{ format: 'tts', text: 'You pressed 42' }], hangup: true });
    const bridge = await post('callEvent', { ...BODIES.callEvent, event: 'calledPartyAnswered', participantId: 'p-2' });
    assert.deepEqual(bridge.json, { action: 'bridge', participantIds: ['p-1', 'p-2'] });
  });

  test('unknown fields, events and reasons reach the function untouched (forward compatible)', async () => {
    h.seen.length = 0;
    const future = {
      ...BODIES.callEvent,
      event: 'calledPartyTeleported',
      reason: 'a reason from the future',
      newField: { nested: [1, 2] },
    };
    const r = await post('callEvent', future);
    assert.equal(r.status, 200);
    assert.deepEqual(h.seen[0]!.body, future);
    const notify = await post('callNotify', { ...BODIES.callNotify, event: 'somethingNew', extra: true });
    assert.equal(notify.status, 200);
    const digits = await post('getIvrCommand', {
      ...BODIES.getIvrCommand,
      dtmfParams: { digits: '1', terminationKey: '', reason: 'aNewReason' },
    });
    assert.equal(digits.status, 200);
  });

  test('signatures: the old secret during a rotation verifies; a wrong, missing or stale one is 401', async () => {
    assert.equal((await post('callNotify', BODIES.callNotify, { secrets: [OLD] })).status, 200);
    assert.equal((await post('callNotify', BODIES.callNotify, { secrets: ['whsec_new_unknown', OLD] })).status, 200);
    const wrong = await post('newCall', BODIES.newCall, { secrets: ['whsec_attacker'] });
    assert.equal(wrong.status, 401);
    assert.deepEqual(wrong.json, { error: { code: 'unauthorized', message: 'signature does not match' } });
    const stale = await post('newCall', BODIES.newCall, { t: Math.floor(Date.now() / 1000) - 301 });
    assert.equal(stale.status, 401);
    assert.match(stale.json.error.message, /more than 300 s/);
    const res = await fetch(`${url}/newCall`, { method: 'POST', body: JSON.stringify(BODIES.newCall) });
    assert.equal(res.status, 401);
    // The body was signed, then changed on the way.
    const s = signed(BODIES.newCall);
    const tampered = await fetch(`${url}/newCall`, {
      method: 'POST',
      headers: s.headers,
      body: s.raw.replace('alice', 'mallory'),
    });
    assert.equal(tampered.status, 401);
  });

  test('bad JSON is 400, a JSON non-object is 400, an unknown callback is 404, GET is 405', async () => {
    const bad = await post('newCall', '{"sessionId": ');
    assert.equal(bad.status, 400);
    assert.deepEqual(bad.json, { error: { code: 'bad_request', message: 'the body is not JSON' } });
    const array = await post('newCall', '[1,2]');
    assert.equal(array.status, 400);
    assert.equal(array.json.error.code, 'bad_request');
    const unknown = await post('callTeleported', BODIES.callNotify);
    assert.equal(unknown.status, 404);
    assert.deepEqual(unknown.json, { error: { code: 'not_found', message: 'unknown callback "callTeleported"' } });
    const get = await fetch(`${url}/newCall`);
    assert.equal(get.status, 405);
    assert.equal(((await get.json()) as ErrorJson).error.code, 'method_not_allowed');
  });

  test('a handler that throws is 500 without its error text; onError gets the error', async () => {
    h.errors.length = 0;
    const r = await post('getIvrCommand', {
      ...BODIES.getIvrCommand,
      dtmfParams: { digits: 'boom', terminationKey: '', reason: 'timeout' },
    });
    assert.equal(r.status, 500);
    assert.deepEqual(r.json, { error: { code: 'internal', message: 'the getIvrCommand handler failed' } });
    assert.doesNotMatch(JSON.stringify(r.json), /hunter2/);
    assert.equal(h.errors.length, 1);
    assert.match(String(h.errors[0]), /hunter2/);
  });

  test('a body over maxBodyBytes is 413 and the connection closes', async () => {
    const small = makeHandler({ maxBodyBytes: 1000 });
    const s2 = createServer(small.handler.node);
    const base = await listen(s2);
    try {
      const big = JSON.stringify({ ...BODIES.callNotify, reason: 'x'.repeat(5000) });
      const s = signed(big);
      const res = await fetch(`${base}/hooks/callNotify`, { method: 'POST', headers: s.headers, body: s.raw });
      assert.equal(res.status, 413);
      assert.equal(((await res.json()) as ErrorJson).error.code, 'payload_too_large');
      assert.equal(small.seen.length, 0);
    } finally {
      s2.closeAllConnections();
      await new Promise((r) => s2.close(r));
    }
  });
});

describe('callbacks without a function, and secrets', () => {
  test('newCall and getIvrCommand without a function are 404 (the platform runs its fallback); the others {}', async () => {
    const handler = createCallbackHandler({ secrets: SECRET, handlers: {} });
    for (const [name, body] of Object.entries(BODIES)) {
      const s = signed(body);
      const r = await handler.handle({ name, header: (k) => (s.headers as Record<string, string>)[k], rawBody: s.raw });
      if (name === 'newCall' || name === 'getIvrCommand') {
        assert.equal(r.status, 404, name);
        assert.deepEqual(JSON.parse(r.body), { error: { code: 'not_found', message: `no handler for ${name}` } });
      } else {
        assert.equal(r.status, 200, name);
        assert.equal(r.body, '{}');
      }
    }
  });

  test('an empty secret is refused when the handler is made; secrets may come from a function', async () => {
    assert.throws(() => createCallbackHandler({ secrets: '', handlers: {} }), /secrets is empty/);
    assert.throws(() => createCallbackHandler({ secrets: [''], handlers: {} }), /secrets is empty/);
    let current = ['whsec_a'];
    const handler = createCallbackHandler({
      secrets: async () => current,
      handlers: { newCall: () => ({ action: 'ivr' }) },
    });
    const s = signed(BODIES.newCall, { secrets: ['whsec_b'] });
    const req = { name: 'newCall', header: (k: string) => (s.headers as Record<string, string>)[k], rawBody: s.raw };
    assert.equal((await handler.handle(req)).status, 401);
    current = ['whsec_b', 'whsec_a'];
    assert.equal((await handler.handle(req)).status, 200);
  });

  test('a reply that is not an object is a 500 (a bug in the app), not a malformed reply on the wire', async () => {
    const errors: unknown[] = [];
    const handler = createCallbackHandler({
      secrets: SECRET,
      onError: (e) => errors.push(e),
      handlers: { newCall: () => 'ivr' as never },
    });
    const s = signed(BODIES.newCall);
    const r = await handler.handle({
      name: 'newCall',
      header: (k) => (s.headers as Record<string, string>)[k],
      rawBody: s.raw,
    });
    assert.equal(r.status, 500);
    assert.match(String(errors[0]), /must be an object/);
  });
});

describe('Express-style servers: a body read before the handler', () => {
  test('express.raw(): req.body holds the bytes; the handler verifies and answers', async () => {
    const { handler, seen } = makeHandler();
    // What express.raw({ type: '*/*' }) does: read the stream, leave the Buffer on req.body.
    const server = createServer(async (req: IncomingMessage & { body?: unknown }, res: ServerResponse) => {
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      req.body = Buffer.concat(chunks);
      await handler.express(req, res);
    });
    const base = await listen(server);
    try {
      const s = signed(BODIES.newCall);
      const res = await fetch(`${base}/app/hooks/newCall`, { method: 'POST', headers: s.headers, body: s.raw });
      assert.equal(res.status, 200);
      assert.deepEqual(await res.json(), { action: 'ivr' });
      assert.equal(seen.length, 1);
    } finally {
      await new Promise((r) => server.close(r));
    }
  });

  test('express.json() ran first: the raw bytes are gone, 500 with a message saying how to mount it', async () => {
    const { handler, errors } = makeHandler();
    const server = createServer(async (req: IncomingMessage & { body?: unknown }, res: ServerResponse) => {
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      req.body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      await handler.express(req, res);
    });
    const base = await listen(server);
    try {
      const s = signed(BODIES.newCall);
      const res = await fetch(`${base}/hooks/newCall`, { method: 'POST', headers: s.headers, body: s.raw });
      assert.equal(res.status, 500);
      assert.match(String(errors[0]), /express\.raw/);
    } finally {
      await new Promise((r) => server.close(r));
    }
  });
});

describe('Fetch API: Request → Response', () => {
  const { handler } = makeHandler();
  const request = (name: string, body: unknown, init: { secrets?: string[]; method?: string } = {}) => {
    const s = signed(body, init);
    return new Request(`https://app.example.com/hooks/${name}?x=1`, {
      method: init.method ?? 'POST',
      headers: s.headers,
      ...(init.method === 'GET' ? {} : { body: s.raw }),
    });
  };

  test('verifies, dispatches and answers', async () => {
    const res = await handler.fetch(request('newCall', BODIES.newCall));
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'application/json; charset=utf-8');
    assert.deepEqual(await res.json(), { action: 'ivr' });
  });

  test('401, 404, 405 and 413 as on node:http', async () => {
    assert.equal((await handler.fetch(request('newCall', BODIES.newCall, { secrets: ['x'] }))).status, 401);
    assert.equal((await handler.fetch(request('nope', BODIES.newCall))).status, 404);
    assert.equal((await handler.fetch(request('newCall', BODIES.newCall, { method: 'GET' }))).status, 405);
    const small = makeHandler({ maxBodyBytes: 100 }).handler;
    assert.equal(
      (await small.fetch(request('callNotify', { ...BODIES.callNotify, reason: 'x'.repeat(500) }))).status,
      413,
    );
  });
});

/** A recording fake of the Fastify methods the plugin uses (Fastify itself is not installed here). */
class FakeFastify implements FastifyInstanceLike {
  parsers: { type: string; options: unknown; parser: Parameters<FastifyInstanceLike['addContentTypeParser']>[2] }[] =
    [];
  routes = new Map<string, (request: FastifyRequestLike, reply: FastifyReplyLike) => Promise<unknown>>();
  removedAll = false;
  removeAllContentTypeParsers() {
    this.removedAll = true;
  }
  addContentTypeParser(type: string, options: unknown, parser: FakeFastify['parsers'][number]['parser']) {
    this.parsers.push({ type, options, parser });
  }
  post(path: string, handler: (request: FastifyRequestLike, reply: FastifyReplyLike) => Promise<unknown>) {
    this.routes.set(path, handler);
  }
}

describe('Fastify plugin (FakeFastify)', () => {
  test('registers a raw-bytes parser and POST /:name; the route verifies and answers', async () => {
    const { handler }: { handler: CallbackHandler } = makeHandler();
    const app = new FakeFastify();
    let doneCalled = false;
    handler.fastify(app, {}, () => {
      doneCalled = true;
    });
    assert.ok(doneCalled && app.removedAll);
    assert.deepEqual(
      app.parsers.map((p) => [p.type, p.options]),
      [['*', { parseAs: 'buffer', bodyLimit: 1024 * 1024 }]],
    );
    // The parser hands the buffer through untouched.
    const s = signed(BODIES.newCall);
    let parsed: unknown;
    app.parsers[0]!.parser({}, Buffer.from(s.raw), (_e, b) => {
      parsed = b;
    });
    const sent: { status?: number; headers?: Record<string, string>; body?: string } = {};
    const reply: FastifyReplyLike = {
      code(status) {
        sent.status = status;
        return reply;
      },
      headers(values) {
        sent.headers = values;
        return reply;
      },
      send(payload) {
        sent.body = payload;
        return reply;
      },
    };
    await app.routes.get('/:name')!({ params: { name: 'newCall' }, headers: s.headers, body: parsed }, reply);
    assert.equal(sent.status, 200);
    assert.deepEqual(JSON.parse(sent.body!), { action: 'ivr' });
    await app.routes.get('/:name')!({ params: { name: 'newCall' }, headers: {}, body: parsed }, reply);
    assert.equal(sent.status, 401);
  });
});

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Validator } from '@seriousme/openapi-schema-validator';
import { methodAndPath } from '@sipms/shared/api/route-definition';
import { ROUTES } from '@sipms/shared/api/routes';
import { buildOpenApiDocument } from '@sipms/shared/openapi/document';
import { ApiClient } from '../src/api-client.js';
import { toneWav } from '../src/audio.js';
import { type LocalStack, startLocalStack } from '../src/local-stack.js';

// The published contract against the running deployment: the served OpenAPI document is the one generated
// from the schemas, it validates, and it lists exactly the routes that are served; every input the schemas
// describe, made invalid in each field, answers 400 naming that field.

type Schema = {
  type?: string | string[];
  anyOf?: Schema[];
  pattern?: string;
  format?: string;
  maxLength?: number;
  maximum?: number;
  properties?: Record<string, Schema>;
  required?: string[];
  $ref?: string;
};
type Parameter = { name: string; in: 'path' | 'query'; required: boolean; schema: Schema };
type Operation = {
  parameters?: Parameter[];
  requestBody?: { content: Record<string, { schema: Schema; example?: Record<string, unknown> }> };
};

const doc = buildOpenApiDocument() as {
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, Schema> };
};
const deref = (s: Schema): Schema => (s.$ref ? doc.components.schemas[s.$ref.split('/').pop()!]! : s);
const typeOf = (s: Schema): string | undefined =>
  Array.isArray(s.type)
    ? s.type.find((t) => t !== 'null')
    : (s.type ?? s.anyOf?.map(typeOf).find((t) => t && t !== 'null'));

/** A value of the wrong kind for a JSON body field. */
function wrongJson(s: Schema): unknown {
  const t = typeOf(s);
  return t === 'string' ? 12345 : t === 'number' || t === 'integer' || t === 'boolean' ? 'x' : t === 'array' ? 'x' : 7;
}

/** A string a path or query parameter's schema refuses. */
function wrongParam(s: Schema): string {
  const t = typeOf(s);
  if (t === 'integer' || t === 'number') return s.maximum !== undefined ? String(s.maximum + 1) : 'abc';
  if (s.format === 'date' || s.format === 'date-time') return 'not-a-date';
  if (s.pattern) {
    // The first of these the pattern refuses (JSON Schema patterns are ECMAScript regular expressions).
    const refused = ['!!', 'a b', '', '\u00e9'].find((v) => !new RegExp(s.pattern!, 'u').test(v));
    if (refused !== undefined) return refused;
  }
  return 'x'.repeat((s.maxLength ?? 1000) + 1);
}

interface Case {
  routeKey: string;
  what: string;
  field: string;
  params: Record<string, string>;
  query: Record<string, string>;
  body: unknown;
}

describe('the published contract', () => {
  let stack: LocalStack;
  let api: ApiClient;
  /** The operator, for the admin routes (a tenant key is 401 there). */
  let admin: ApiClient;
  let tenant: { domain: string; tenantId: string };
  /** Valid values for every path parameter, so only the field under test is wrong. */
  let valid: Record<string, string>;

  before(async () => {
    stack = await startLocalStack({ rtpPortMin: 37200, rtpPortMax: 37299 });
    api = new ApiClient(stack.apiUrl);
    admin = new ApiClient(stack.apiUrl, stack.adminToken);
    tenant = await api.signup('Contract Co');
    valid = {
      domain: tenant.domain,
      filename: 'hello',
      number: '+4940888001',
      keyId: '000000000000',
      sessionId: 'sunknown',
      name: 'room-1',
      participantId: 'p0123',
      tenantId: tenant.tenantId,
      from: '2030-01-01',
      to: '2030-01-02',
    };
  });
  after(async () => {
    await stack?.stop();
  });

  test('GET /v1/openapi.json (no auth) serves the generated document, which is valid OpenAPI 3.1', async () => {
    const res = await new ApiClient(stack.apiUrl).call('GET', '/v1/openapi.json');
    assert.equal(res.status, 200);
    assert.deepEqual(res.json, buildOpenApiDocument());
    const result = await new Validator().validate(res.json);
    assert.equal(result.valid, true, JSON.stringify(result.errors));
  });

  test('every documented operation is served, and nothing else is', async () => {
    const anon = new ApiClient(stack.apiUrl);
    const documented = Object.entries(doc.paths).flatMap(([p, ops]) =>
      Object.keys(ops).map((m) => `${m.toUpperCase()} ${p}`),
    );
    assert.deepEqual(documented.sort(), ROUTES.map((r) => r.routeKey).sort());
    for (const route of ROUTES) {
      const { method, path } = methodAndPath(route.routeKey);
      const url = path.replace(/\{(\w+)\}/g, (_, p: string) => encodeURIComponent(valid[p]!));
      const res = await anon.call(method, url, method === 'POST' || method === 'PATCH' ? {} : undefined);
      // A route's handler answered (the adapter's own "no route" answers carry no request id).
      assert.ok(res.headers.get('x-request-id'), `${route.routeKey} is served`);
      assert.equal(res.status, route.auth ? 401 : route.routeKey === 'POST /v1/tenants' ? 400 : 200, route.routeKey);
    }
    for (const [method, path] of [
      ['GET', '/v1/tenants'],
      ['POST', '/v1/tenant'],
      ['GET', '/v1/admin'],
    ] as const) {
      const res = await anon.call(method, path);
      assert.ok([404, 405].includes(res.status), `${method} ${path} is not served: ${res.status}`);
    }
  });

  test('invalid inputs generated from the schemas answer 400 naming the field', async () => {
    const cases: Case[] = [];
    for (const route of ROUTES) {
      const { method, path } = methodAndPath(route.routeKey);
      const op = doc.paths[path]![method.toLowerCase()]!;
      const params = Object.fromEntries(
        (op.parameters ?? []).filter((p) => p.in === 'path').map((p) => [p.name, valid[p.name]!]),
      );
      const query = Object.fromEntries(
        (op.parameters ?? []).filter((p) => p.in === 'query' && p.required).map((p) => [p.name, valid[p.name]!]),
      );
      const json = op.requestBody?.content['application/json'];
      const example = json?.example;
      const base = { routeKey: route.routeKey, params, query, body: example };
      for (const p of op.parameters ?? []) {
        const bad = wrongParam(p.schema);
        if (p.in === 'path')
          cases.push({
            ...base,
            what: `path ${p.name}=${bad.slice(0, 12)}`,
            field: p.name,
            params: { ...params, [p.name]: bad },
          });
        else {
          cases.push({
            ...base,
            what: `query ${p.name}=${bad.slice(0, 12)}`,
            field: p.name,
            query: { ...query, [p.name]: bad },
          });
          if (p.required) {
            const { [p.name]: _dropped, ...rest } = query;
            cases.push({ ...base, what: `query without ${p.name}`, field: p.name, query: rest });
          }
        }
      }
      if (json) {
        assert.ok(example, `${route.routeKey} declares an example body`);
        const schema = deref(json.schema);
        for (const [name, prop] of Object.entries(schema.properties ?? {})) {
          cases.push({
            ...base,
            what: `body ${name} of the wrong type`,
            field: name,
            body: { ...example, [name]: wrongJson(prop) },
          });
        }
        for (const name of schema.required ?? []) {
          const { [name]: _dropped, ...rest } = example!;
          cases.push({ ...base, what: `body without ${name}`, field: name, body: rest });
        }
      }
    }
    const withInputs = ROUTES.filter((r) => r.params || r.query || (r.body && !('kind' in r.body)));
    assert.deepEqual(
      [...new Set(cases.map((c) => c.routeKey))].sort(),
      withInputs.map((r) => r.routeKey).sort(),
      'every route with inputs has generated cases',
    );
    assert.ok(cases.length >= 30, `${cases.length} cases`);

    for (const c of cases) {
      const { method, path } = methodAndPath(c.routeKey as (typeof ROUTES)[number]['routeKey']);
      const url =
        path.replace(/\{(\w+)\}/g, (_, p: string) => encodeURIComponent(c.params[p]!)) +
        (Object.keys(c.query).length ? `?${new URLSearchParams(c.query)}` : '');
      const body = c.routeKey.startsWith('PUT /mediaservice') ? toneWav(20) : c.body;
      const client = ROUTES.find((r) => r.routeKey === c.routeKey)!.auth === 'admin' ? admin : api;
      const res = await client.call(method, url, body);
      const label = `${c.routeKey}: ${c.what} → ${res.status} ${JSON.stringify(res.json)}`;
      assert.equal(res.status, 400, label);
      assert.equal(res.json.error.code, 'validation_failed', label);
      assert.equal(res.json.error.field, c.field, label);
    }
    // Bodies that are not JSON at all.
    for (const route of ROUTES.filter((r) => r.body && !('kind' in r.body) && r.auth)) {
      const { method, path } = methodAndPath(route.routeKey);
      const url = path.replace(/\{(\w+)\}/g, (_, p: string) => encodeURIComponent(valid[p]!));
      const bearer = route.auth === 'admin' ? admin.apiKey : api.apiKey;
      const res = await fetch(stack.apiUrl + url, {
        method,
        headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/json' },
        body: '{"unterminated',
      });
      assert.equal(res.status, 400, route.routeKey);
      assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'bad_request');
    }
    // Nothing the invalid requests carried was applied.
    assert.equal((await api.call('GET', '/v1/tenant')).json.callbackTimeoutMs, 5000);
    assert.deepEqual((await api.call('GET', '/v1/api-keys')).json.apiKeys.length, 1);
    assert.equal((await admin.call('GET', '/v1/admin/settings')).json.signup, 'open');
    const me = (await admin.call('GET', `/v1/admin/tenants/${tenant.tenantId}`)).json;
    assert.deepEqual([me.state, me.limits.maxNumbers], ['active', null]);
  });
});

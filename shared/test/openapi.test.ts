import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { Validator } from '@seriousme/openapi-schema-validator';
import { methodAndPath } from '../src/api/route-definition.js';
import { ROUTES } from '../src/api/routes.js';
import { CALLBACK_NAMES } from '../src/contracts/callbacks.js';
import { buildOpenApiDocument } from '../src/openapi/document.js';

const committed = new URL('../../docs/openapi.json', import.meta.url);
type Doc = { paths: Record<string, Record<string, { operationId: string }>>; webhooks: Record<string, unknown> };

test('docs/openapi.json is current (regenerate: node --import tsx shared/src/openapi/write-openapi.ts)', async () => {
  const onDisk = JSON.parse(await readFile(committed, 'utf8'));
  assert.deepEqual(onDisk, buildOpenApiDocument(), 'docs/openapi.json is stale: regenerate it');
});

test('the document is valid OpenAPI 3.1', async () => {
  const result = await new Validator().validate(buildOpenApiDocument());
  assert.equal(result.valid, true, JSON.stringify(result.errors, null, 2));
});

test('every route is in the document and every operation is a route', () => {
  const doc = buildOpenApiDocument() as unknown as Doc;
  const documented = Object.entries(doc.paths).flatMap(([path, ops]) =>
    Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`),
  );
  assert.deepEqual([...documented].sort(), ROUTES.map((r) => r.routeKey).sort());
  const ids = ROUTES.map((r) => r.operationId);
  assert.equal(new Set(ids).size, ids.length, 'operationIds are unique');
  for (const r of ROUTES) {
    const { method, path } = methodAndPath(r.routeKey);
    assert.equal(doc.paths[path]![method.toLowerCase()]!.operationId, r.operationId);
  }
});

test('every callback is a webhook; the getIvrCommand reply is the IVR command', () => {
  const doc = buildOpenApiDocument() as unknown as Doc & { components: { schemas: Record<string, unknown> } };
  assert.deepEqual(Object.keys(doc.webhooks).sort(), [...CALLBACK_NAMES].sort());
  const reply = JSON.stringify((doc.webhooks.getIvrCommand as { post: unknown }).post);
  assert.match(reply, /#\/components\/schemas\/IvrCommand/);
  assert.ok(doc.components.schemas.IvrCommand);
  assert.ok(doc.components.schemas.NewCallReply);
});

test('path parameters in the route keys match the declared params schemas', () => {
  for (const r of ROUTES) {
    const inPath = [...r.routeKey.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();
    assert.deepEqual(Object.keys(r.params?.shape ?? {}).sort(), inPath, r.routeKey);
  }
});

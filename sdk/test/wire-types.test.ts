// The SDK's wire types (sdk/src/generated/wire.ts) cannot drift from the server: the committed file is what the
// generator makes of the OpenAPI document the server builds now, the document's operations and callbacks are all
// there, and the types fit the server's zod schemas (sdk/test/types/conformance.ts, compiled here on its own, with
// a broken copy that must fail to compile).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { CALLBACKS_WITH_REPLY, CALLBACK_NAMES as SERVER_CALLBACK_NAMES } from '@sipms/shared/contracts/callbacks';
import { buildOpenApiDocument } from '@sipms/shared/openapi/document';
import { generateWireSource, repoRoot, WIRE_FILE } from '../scripts/generate-types.js';
import { componentDirections, renderWireTypes, tenantOperations, typeName } from '../scripts/wire-codegen.js';
import { CALLBACK_NAMES, OPERATIONS, CALLBACKS_WITH_REPLY as SDK_WITH_REPLY } from '../src/generated/wire.js';

const committed = readFileSync(join(repoRoot, WIRE_FILE), 'utf8');
const typesDir = fileURLToPath(new URL('./types/', import.meta.url));

describe('generated wire types', () => {
  test('the committed file is what the generator makes of the current OpenAPI document', () => {
    const fresh = generateWireSource();
    if (fresh !== committed) {
      const a = fresh.split('\n');
      const b = committed.split('\n');
      const line = a.findIndex((l, i) => l !== b[i]);
      assert.fail(
        `${WIRE_FILE} is stale: run \`npm run generate -w @sipms/sdk\`. First difference at line ${line + 1}:\n` +
          `generated: ${a[line]}\ncommitted: ${b[line]}`,
      );
    }
  });

  test('every tenant operation of the document is in OPERATIONS with its method, path and auth; no admin route', () => {
    const doc = buildOpenApiDocument();
    const expected = Object.fromEntries(
      tenantOperations(doc).map(({ id, method, path, op }) => [
        id,
        { method, path, auth: ((op.security as unknown[] | undefined) ?? []).length > 0 },
      ]),
    );
    const actual = Object.fromEntries(
      Object.entries(OPERATIONS).map(([id, o]) => [id, { method: o.method, path: o.path, auth: o.auth }]),
    );
    assert.deepEqual(actual, expected);
    assert.ok(Object.keys(actual).length >= 30, `only ${Object.keys(actual).length} operations`);
    assert.ok(!Object.values(OPERATIONS).some((o) => o.path.startsWith('/v1/admin')));
    for (const id of ['placeIvrCall', 'connect', 'getSession', 'listSessions', 'putPromptFile', 'signup']) {
      assert.ok(id in OPERATIONS, id);
    }
  });

  test('the callbacks are the server’s, in its order, with the same reply-bearing set', () => {
    assert.deepEqual([...CALLBACK_NAMES], [...SERVER_CALLBACK_NAMES]);
    assert.deepEqual([...SDK_WITH_REPLY].sort(), [...CALLBACKS_WITH_REPLY].sort());
  });

  test('every schema the tenant sends or receives is declared; received ones keep unknown fields', () => {
    const doc = buildOpenApiDocument();
    const directions = componentDirections(doc);
    assert.ok(directions.size > 20);
    for (const [id, dir] of directions) {
      const name = typeName(id);
      const decl = new RegExp(`^export (interface ${name} \\{|type ${name} =)`, 'm').exec(committed);
      assert.ok(decl, `no declaration of ${name}`);
      assert.match(
        committed.slice(decl.index - 200, decl.index),
        new RegExp(`\\(${dir}\\) \\*/\\s*$`),
        `${name} is marked ${dir}`,
      );
    }
    assert.equal(directions.get('NewCallCallback'), 'received');
    assert.equal(directions.get('IvrCommand'), 'sent');
    assert.equal(directions.get('NewCallReply'), 'sent');
  });
});

describe('the generator', () => {
  const doc = {
    info: { title: 'T', version: '1' },
    paths: {
      '/v1/things/{id}': {
        post: {
          operationId: 'makeThing',
          summary: 'Make a thing',
          security: [{ apiKey: [] }],
          parameters: [
            { name: 'id', in: 'path', required: true, schema: { type: 'string' } },
            { name: 'limit', in: 'query', required: false, schema: { type: 'integer', minimum: 1 } },
          ],
          requestBody: { content: { 'application/json': { schema: { $ref: '#/components/schemas/ThingRequest' } } } },
          responses: {
            '201': { content: { 'application/json': { schema: { $ref: '#/components/schemas/Thing' } } } },
            '400': { content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } },
          },
        },
      },
      '/v1/admin/x': {
        get: { operationId: 'adminX', security: [{ adminToken: [] }], responses: {} },
      },
    },
    webhooks: {
      ping: {
        post: {
          requestBody: { content: { 'application/json': { schema: { $ref: '#/components/schemas/PingCallback' } } } },
          responses: {
            '200': { content: { 'application/json': { schema: { $ref: '#/components/schemas/PingReply' } } } },
          },
        },
      },
    },
    components: {
      schemas: {
        ThingRequest: {
          type: 'object',
          properties: {
            color: { type: 'string', enum: ['red', 'blue'] },
            pair: { type: 'array', prefixItems: [{ type: 'string' }, { type: 'number' }], items: false },
          },
          required: ['color'],
        },
        Thing: {
          type: 'object',
          properties: { color: { type: 'string', enum: ['red', 'blue'] }, note: { type: ['string', 'null'] } },
          required: ['color', 'note'],
          additionalProperties: false,
        },
        Error: { type: 'object', properties: { error: { type: 'object', properties: { code: { type: 'string' } } } } },
        PingCallback: {
          type: 'object',
          properties: { tags: { type: 'object', additionalProperties: { type: 'string' } } },
        },
        PingReply: {
          anyOf: [
            { type: 'object', properties: { action: { const: 'go' } }, required: ['action'] },
            { type: 'object', properties: { action: { not: {} } } },
          ],
        },
      },
    },
  };
  /** The raw output, whitespace collapsed (the committed file is formatted by biome afterwards). */
  const out = renderWireTypes(doc).replace(/\s+/g, ' ');

  test('received types are open (unknown fields, unknown enum values); sent types are exact', () => {
    assert.match(
      out,
      /export interface Thing \{[^}]*color: 'red' \| 'blue' \| \(string & \{\}\);[^}]*\[key: string\]: unknown;/,
    );
    assert.match(out, /export interface ThingRequest \{[^}]*color: 'red' \| 'blue';/);
    assert.doesNotMatch(/export interface ThingRequest \{[^}]*\}/.exec(out)![0], /\[key: string\]/);
  });

  test('nullable, tuples, records, consts, "absent" and the Error rename', () => {
    assert.match(out, /note: string \| null;/);
    assert.match(out, /pair\?: \[string, number\];/);
    assert.match(out, /tags\?: \{ \[key: string\]: string; \};/);
    assert.match(out, /action: 'go';/);
    assert.match(out, /action\?: never;/);
    assert.match(out, /export interface ErrorResponse \{/);
  });

  test('operations: params, query, body and response; admin routes left out', () => {
    assert.ok(
      out.includes(
        "makeThing: { method: 'POST'; path: '/v1/things/{id}'; params: { id: string; }; query: { /** (an integer; at least 1) */ limit?: number; }; body: ThingRequest; response: Thing; };",
      ),
      out,
    );
    assert.ok(
      out.includes(
        "makeThing: { method: 'POST', path: '/v1/things/{id}', auth: true, body: 'json', response: 'json', success: [201] },",
      ),
    );
    assert.doesNotMatch(out, /adminX/);
    assert.match(out, /export const CALLBACK_NAMES = \['ping'\] as const;/);
    assert.match(out, /export interface CallbackReplies \{ ping: PingReply; \}/);
  });
});

describe('the types fit the server’s schemas (tsc)', () => {
  const tsc = join(repoRoot, 'node_modules/typescript/bin/tsc');

  function compile(dir: string, conformanceSource: string, wireSource: string) {
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'wire.ts'), wireSource);
    writeFileSync(
      join(dir, 'conformance.ts'),
      conformanceSource.replace("'../../src/generated/wire.js'", "'./wire.js'"),
    );
    writeFileSync(
      join(dir, 'tsconfig.json'),
      JSON.stringify({
        extends: join(repoRoot, 'tsconfig.json'),
        include: ['*.ts'],
        compilerOptions: { noEmit: true },
      }),
    );
    return spawnSync(process.execPath, [tsc, '-p', join(dir, 'tsconfig.json')], { cwd: repoRoot, encoding: 'utf8' });
  }

  const conformance = readFileSync(join(typesDir, 'conformance.ts'), 'utf8');
  const scratch = join(typesDir, `.tmp-${process.pid}`);

  test('the conformance checks compile against the committed types', () => {
    try {
      const r = compile(join(scratch, 'ok'), conformance, committed);
      assert.equal(r.status, 0, r.stdout + r.stderr);
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
  });

  test('and fail on a type that no longer fits: a changed body field, a narrowed reply, a lost operation', () => {
    /** Replaces `from` with `to` inside one declaration of the generated file. */
    const inDeclaration = (name: string, from: string, to: string) => (s: string) => {
      const start = s.search(new RegExp(`^export (interface|type) ${name}\\b`, 'm'));
      const end = s.indexOf('\n}', start);
      return s.slice(0, start) + s.slice(start, end).replace(from, to) + s.slice(end);
    };
    const broken: [string, (s: string) => string, RegExp][] = [
      ['newCall.seq as a string', inDeclaration('NewCallCallback', 'seq: number;', 'seq: string;'), /"newCall"/],
      [
        'callEvent without its optional connectionId',
        inDeclaration('CallEventCallback', 'connectionId?: string;', ''),
        /"callEvent"/,
      ],
      ['IvrCommand without stream', inDeclaration('IvrCommand', 'stream?: {', 'streamX?: {'), /"getIvrCommand"/],
      [
        'placeIvrCall without timeoutSec',
        inDeclaration('PlaceIvrCallRequest', 'timeoutSec?: number;', ''),
        /"placeIvrCall"/,
      ],
      ['a Tenant response without domain', inDeclaration('Tenant', 'domain: string;', ''), /"getTenant"/],
    ];
    try {
      for (const [name, mutate, expected] of broken) {
        const wire = mutate(committed);
        assert.notEqual(wire, committed, `the mutation "${name}" changed nothing`);
        const r = compile(join(scratch, name.replace(/\W+/g, '-')), conformance, wire);
        assert.notEqual(r.status, 0, `${name}: compiled`);
        assert.match(r.stdout, expected, `${name}:\n${r.stdout}`);
      }
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
  });
});

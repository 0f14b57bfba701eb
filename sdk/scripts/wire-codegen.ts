/**
 * Turns the server's OpenAPI document into the SDK's wire types (src/generated/wire.ts). A pure function of the
 * document, so a test can regenerate in memory and compare with the committed file.
 *
 * Two directions, two styles:
 * - received (callback bodies, API responses): every object keeps unknown fields (`[key: string]: unknown`) and
 *   every enum is open (`'a' | 'b' | (string & {})`), so a newer server never breaks an older tenant's types;
 * - sent (callback replies, request bodies, the IVR command): exact objects and closed enums, so a typo or a
 *   value the server refuses is a compile error in the tenant's code rather than a fallback at run time.
 * The operator's admin routes are left out: the SDK is for tenants.
 */

type Json = Record<string, unknown>;
type Schema = Json | boolean;
type Direction = 'sent' | 'received';

const REF = '#/components/schemas/';
/** Component ids that would shadow a global of the same name. */
const RENAMES: Record<string, string> = { Error: 'ErrorResponse' };
const METHODS = ['get', 'put', 'post', 'patch', 'delete'] as const;

export const typeName = (id: string) => RENAMES[id] ?? id;

interface Operation {
  id: string;
  method: string;
  path: string;
  op: Json;
}

/** The tenant's operations: every path operation not secured by the operator's admin token. */
export function tenantOperations(doc: Json): Operation[] {
  const out: Operation[] = [];
  for (const [path, item] of Object.entries(doc.paths as Record<string, Json>)) {
    for (const method of METHODS) {
      const op = item[method] as Json | undefined;
      if (!op) continue;
      const security = (op.security as Json[] | undefined) ?? [];
      if (security.some((s) => 'adminToken' in s)) continue;
      out.push({ id: op.operationId as string, method: method.toUpperCase(), path, op });
    }
  }
  return out.sort((a, b) => a.id.localeCompare(b.id));
}

const jsonContent = (c: Json | undefined) => (c?.content as Json | undefined)?.['application/json'] as Json | undefined;
const refId = (s: Json | undefined) =>
  typeof s?.$ref === 'string' && s.$ref.startsWith(REF) ? s.$ref.slice(REF.length) : undefined;

function successResponses(op: Json): [string, Json][] {
  return Object.entries(op.responses as Record<string, Json>).filter(([status]) => /^2|^3/.test(status));
}

/** The component ids reachable from `roots`, following $refs. */
function reachable(roots: Schema[], components: Record<string, Json>): Set<string> {
  const seen = new Set<string>();
  const visit = (s: unknown): void => {
    if (Array.isArray(s)) {
      s.forEach(visit);
      return;
    }
    if (!s || typeof s !== 'object') return;
    const id = refId(s as Json);
    if (id && !seen.has(id)) {
      seen.add(id);
      if (!components[id]) throw new Error(`$ref to unknown component ${id}`);
      visit(components[id]);
    }
    for (const v of Object.values(s)) visit(v);
  };
  roots.forEach(visit);
  return seen;
}

/** Which component is sent and which is received; one used both ways is rendered as received (the looser form). */
export function componentDirections(doc: Json): Map<string, Direction> {
  const components = (doc.components as Json).schemas as Record<string, Json>;
  const sent: Schema[] = [];
  const received: Schema[] = [];
  for (const { op } of tenantOperations(doc)) {
    const body = jsonContent(op.requestBody as Json | undefined);
    if (body) sent.push(body.schema as Json);
    for (const param of (op.parameters as Json[] | undefined) ?? []) sent.push(param.schema as Json);
    for (const [, r] of Object.entries(op.responses as Record<string, Json>)) {
      const content = jsonContent(r);
      if (content) received.push(content.schema as Json);
    }
  }
  for (const hook of Object.values(doc.webhooks as Record<string, Json>)) {
    const post = hook.post as Json;
    received.push(jsonContent(post.requestBody as Json)!.schema as Json);
    const reply = jsonContent((post.responses as Record<string, Json>)['200']);
    if (reply) sent.push(reply.schema as Json);
  }
  if (components.IvrCommand) sent.push({ $ref: `${REF}IvrCommand` });
  const out = new Map<string, Direction>();
  for (const id of reachable(sent, components)) out.set(id, 'sent');
  for (const id of reachable(received, components)) out.set(id, 'received');
  return new Map([...out].sort(([a], [b]) => a.localeCompare(b)));
}

// ---- schema → TypeScript ---------------------------------------------------------------------------------------

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;
const propertyKey = (k: string) => (IDENTIFIER.test(k) ? k : JSON.stringify(k));
const literal = (v: unknown) =>
  typeof v === 'string' ? `'${v.replaceAll('\\', '\\\\').replaceAll("'", "\\'")}'` : JSON.stringify(v);

function union(members: string[]): string {
  const unique = [...new Set(members)];
  if (unique.includes('unknown')) return 'unknown';
  return unique.length === 1 ? unique[0]! : unique.map((m) => (m.includes('=>') ? `(${m})` : m)).join(' | ');
}

/** What a reader needs that the type cannot say: the description, the default, the bounds. */
function docLines(s: Json): string[] {
  const lines: string[] = [];
  if (typeof s.description === 'string') lines.push(s.description);
  const notes: string[] = [];
  if (s.default !== undefined) notes.push(`default ${JSON.stringify(s.default)}`);
  if (s.type === 'integer') notes.push('an integer');
  const range = (lo: unknown, hi: unknown, unit: string) => {
    if (lo !== undefined && lo === hi) notes.push(`exactly ${lo}${unit}`);
    else if (lo !== undefined && hi !== undefined) notes.push(`${lo}–${hi}${unit}`);
    else if (lo !== undefined) notes.push(`at least ${lo}${unit}`);
    else if (hi !== undefined) notes.push(`at most ${hi}${unit}`);
  };
  range(s.minimum, s.maximum, '');
  range(s.minLength, s.maxLength, ' characters');
  range(s.minItems, s.maxItems, ' items');
  if (typeof s.pattern === 'string' && s.pattern.length <= 80) notes.push(`matches ${s.pattern}`);
  if (s.format === 'uri') notes.push('a URL');
  if (notes.length) lines.push(`(${notes.join('; ')})`);
  return lines;
}

function jsdoc(lines: string[]): string {
  if (!lines.length) return '';
  const text = lines.join(' ').replaceAll('*/', '*\\/');
  return `/** ${text} */\n`;
}

class Renderer {
  constructor(private readonly dir: Direction) {}

  type(schema: Schema): string {
    if (schema === true) return 'unknown';
    if (schema === false) return 'never';
    const s = schema;
    const ref = refId(s);
    if (ref) return typeName(ref);
    if (s.const !== undefined) return literal(s.const);
    // `not: {}` admits nothing: as an optional property, "absent".
    if (isObject(s.not) && Object.keys(s.not).length === 0) return 'never';
    if (Array.isArray(s.enum)) {
      const values = (s.enum as unknown[]).map(literal);
      return this.dir === 'received' && s.enum.every((v) => typeof v === 'string')
        ? `${values.join(' | ')} | (string & {})`
        : values.join(' | ');
    }
    const alternatives = (s.oneOf ?? s.anyOf) as Schema[] | undefined;
    if (alternatives) return union(alternatives.map((a) => this.type(a)));
    if (Array.isArray(s.type)) return union(s.type.map((t) => this.type({ ...s, type: t })));
    switch (s.type) {
      case 'string':
        return 'string';
      case 'number':
      case 'integer':
        return 'number';
      case 'boolean':
        return 'boolean';
      case 'null':
        return 'null';
      case 'array':
        return this.array(s);
      case 'object':
        return this.object(s);
      case undefined:
        if (s.properties) return this.object(s);
        return 'unknown';
      default:
        throw new Error(`unsupported schema type ${JSON.stringify(s.type)}`);
    }
  }

  private array(s: Json): string {
    if (Array.isArray(s.prefixItems)) {
      const items = (s.prefixItems as Schema[]).map((i) => this.type(i));
      return s.items === false ? `[${items.join(', ')}]` : `[${items.join(', ')}, ...unknown[]]`;
    }
    const item = this.type((s.items as Schema | undefined) ?? true);
    return /^[\w$.]+$/.test(item) ? `${item}[]` : `Array<${item}>`;
  }

  private object(s: Json): string {
    const properties = (s.properties as Record<string, Json> | undefined) ?? {};
    const required = new Set((s.required as string[] | undefined) ?? []);
    const fields = Object.entries(properties).map(
      ([name, p]) => `${jsdoc(docLines(p))}${propertyKey(name)}${required.has(name) ? '' : '?'}: ${this.type(p)};`,
    );
    const extra = s.additionalProperties as Schema | undefined;
    if (Object.keys(properties).length === 0 && extra && extra !== true && Object.keys(extra).length > 0) {
      // A record: { [key]: T }.
      fields.push(`[key: string]: ${this.type(extra)};`);
    } else if (this.dir === 'received' || extra === true || (extra && Object.keys(extra).length === 0)) {
      fields.push('[key: string]: unknown;');
    }
    return fields.length ? `{\n${fields.join('\n')}\n}` : 'Record<string, never>';
  }
}

// ---- the module ------------------------------------------------------------------------------------------------

function declaration(id: string, schema: Json, dir: Direction): string {
  const body = new Renderer(dir).type(schema);
  const doc = jsdoc([...docLines({ description: schema.description }), `(${dir})`]);
  return body.startsWith('{') && !schema.oneOf && !schema.anyOf
    ? `${doc}export interface ${typeName(id)} ${body}`
    : `${doc}export type ${typeName(id)} = ${body};`;
}

function parameterType(op: Json, where: 'path' | 'query'): string {
  const params = ((op.parameters as Json[] | undefined) ?? []).filter((p) => p.in === where);
  if (!params.length) return 'never';
  const r = new Renderer('sent');
  const fields = params.map(
    (p) =>
      `${jsdoc(docLines({ ...(p.schema as Json), description: p.description }))}${propertyKey(p.name as string)}${p.required ? '' : '?'}: ${r.type(p.schema as Json)};`,
  );
  return `{\n${fields.join('\n')}\n}`;
}

function bodyKind(op: Json): 'none' | 'json' | 'raw' {
  const body = op.requestBody as Json | undefined;
  if (!body) return 'none';
  return jsonContent(body) ? 'json' : 'raw';
}

function responseKind(op: Json): 'json' | 'raw' {
  return successResponses(op).some(([, r]) => jsonContent(r)) ? 'json' : 'raw';
}

function operationEntry({ id, method, path, op }: Operation): { type: string; value: string } {
  const body = bodyKind(op);
  const bodyType =
    body === 'json'
      ? typeName(refId(jsonContent(op.requestBody as Json)!.schema as Json)!)
      : body === 'raw'
        ? 'Uint8Array'
        : 'never';
  const responses = successResponses(op)
    .map(([, r]) => jsonContent(r))
    .filter((c): c is Json => !!c)
    .map((c) => typeName(refId(c.schema as Json)!));
  const responseType = responseKind(op) === 'json' ? union(responses) : 'Uint8Array';
  const auth = ((op.security as Json[] | undefined) ?? []).length > 0;
  const statuses = successResponses(op).map(([s]) => Number(s));
  const type = `${jsdoc([op.summary as string])}${id}: {
    method: '${method}';
    path: '${path}';
    params: ${parameterType(op, 'path')};
    query: ${parameterType(op, 'query')};
    body: ${bodyType};
    response: ${responseType};
  };`;
  const contentTypes =
    body === 'raw' ? `, contentTypes: ${JSON.stringify(Object.keys((op.requestBody as Json).content as Json))}` : '';
  const value = `${id}: { method: '${method}', path: '${path}', auth: ${auth}, body: '${body}', response: '${responseKind(op)}', success: [${statuses.join(', ')}]${contentTypes} },`;
  return { type, value };
}

export function renderWireTypes(doc: Json): string {
  const components = (doc.components as Json).schemas as Record<string, Json>;
  const directions = componentDirections(doc);
  const out: string[] = [
    `// Generated by sdk/scripts/generate-types.ts from the server's OpenAPI document (${(doc.info as Json).title} ${(doc.info as Json).version}). Do not edit: run \`npm run generate -w @sipms/sdk\`.`,
    '// Received types (callback bodies, API responses) keep unknown fields and take unknown enum values; sent types',
    '// (callback replies, request bodies, the IVR command) are exact. See sdk/scripts/wire-codegen.ts.',
    '',
  ];
  for (const [id, dir] of directions) out.push(declaration(id, components[id]!, dir), '');

  const webhooks = Object.entries(doc.webhooks as Record<string, Json>);
  const bodies = webhooks.map(([name, hook]) => {
    const post = hook.post as Json;
    return `${name}: ${typeName(refId(jsonContent(post.requestBody as Json)!.schema as Json)!)};`;
  });
  const replies = webhooks.flatMap(([name, hook]) => {
    const reply = jsonContent(((hook.post as Json).responses as Record<string, Json>)['200']);
    return reply ? [`${name}: ${typeName(refId(reply.schema as Json)!)};`] : [];
  });
  out.push(
    '/** The callbacks, in the order the contract lists them: `POST <callbackUrl>/<name>`. */',
    `export const CALLBACK_NAMES = [${webhooks.map(([n]) => literal(n)).join(', ')}] as const;`,
    'export type CallbackName = (typeof CALLBACK_NAMES)[number];',
    '',
    '/** The body of each callback. */',
    `export interface CallbackBodies {\n${bodies.join('\n')}\n}`,
    '',
    '/** The reply each callback that steers the call expects; the others ignore the reply. */',
    `export interface CallbackReplies {\n${replies.join('\n')}\n}`,
    '',
    `/** The callbacks whose reply steers the call. */`,
    `export const CALLBACKS_WITH_REPLY = [${webhooks
      .filter(([, h]) => jsonContent(((h.post as Json).responses as Record<string, Json>)['200']))
      .map(([n]) => literal(n))
      .join(', ')}] as const;`,
    '',
  );

  const ops = tenantOperations(doc).map(operationEntry);
  out.push(
    "/** The tenant's REST operations by operationId: method, path, inputs and the success response. */",
    `export interface Operations {\n${ops.map((o) => o.type).join('\n')}\n}`,
    '',
    'export type OperationId = keyof Operations;',
    '',
    '/** What the client needs at run time to call an operation. */',
    'export interface OperationInfo {',
    "  method: 'GET' | 'PUT' | 'POST' | 'PATCH' | 'DELETE';",
    '  path: string;',
    '  /** true: Authorization: Bearer <apiKey>. */',
    '  auth: boolean;',
    "  body: 'none' | 'json' | 'raw';",
    "  response: 'json' | 'raw';",
    '  success: readonly number[];',
    '  contentTypes?: readonly string[];',
    '}',
    '',
    `export const OPERATIONS = {\n${ops.map((o) => o.value).join('\n')}\n} as const satisfies Record<OperationId, OperationInfo>;`,
    '',
  );
  return out.join('\n');
}

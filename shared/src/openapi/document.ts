import { z } from 'zod';
import { isJsonResponse, isRawBody, methodAndPath, type RouteDefinition } from '../api/route-definition.js';
import { ROUTES } from '../api/routes.js';
import { CALLBACK_BODIES, CALLBACK_NAMES, CALLBACK_REPLIES, type CallbackName } from '../contracts/callbacks.js';
import { IvrCommand } from '../contracts/ivr-command.js';
import { ErrorResponse } from '../contracts/rest.js';
import { ERROR_STATUS, type ErrorCode } from '../errors.js';

/**
 * The OpenAPI 3.1 document, generated from the same zod schemas the handlers validate with: every route
 * of ROUTES, every callback as a webhook, the IVR command. Deterministic, so docs/openapi.json can be
 * checked to be current.
 */

type Json = Record<string, unknown>;
type Io = 'input' | 'output';

const SAFE_INT_BOUNDS = new Set([Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER]);
const COMPONENT_REF = '#/components/schemas/';

const jsonSchemaParams = {
  unrepresentable: 'any' as const,
  // z.number().int() adds ±2^53 bounds: true, but noise in a document meant for people.
  override: ({ jsonSchema }: { jsonSchema: Json }) => {
    for (const k of ['minimum', 'maximum']) if (SAFE_INT_BOUNDS.has(jsonSchema[k] as number)) delete jsonSchema[k];
  },
};

/** Collects the named (component) schemas of one direction, then converts them together. */
class Components {
  private readonly registry = z.registry<{ id: string }>();
  private readonly ids = new Map<z.ZodType, string>();

  constructor(private readonly io: Io) {}

  ref(schema: z.ZodType, fallbackId: string): Json {
    let id = this.ids.get(schema);
    if (!id) {
      id = (z.globalRegistry.get(schema)?.id as string | undefined) ?? fallbackId;
      this.ids.set(schema, id);
      this.registry.add(schema, { id });
    }
    return { $ref: COMPONENT_REF + id };
  }

  convert(): Record<string, Json> {
    const { schemas } = z.toJSONSchema(this.registry, {
      ...jsonSchemaParams,
      io: this.io,
      uri: (id) => COMPONENT_REF + id,
    }) as unknown as { schemas: Record<string, Json> };
    const out: Record<string, Json> = {};
    for (const [id, schema] of Object.entries(schemas)) {
      const { $schema: _s, $id: _i, $defs, ...rest } = schema;
      if (id === '__shared') Object.assign(out, $defs as Record<string, Json>);
      else out[id] = $defs ? { ...rest, $defs } : rest;
    }
    // Schemas that carry a global id but were not registered here land in "__shared": point at them directly.
    return JSON.parse(JSON.stringify(out).replaceAll(`${COMPONENT_REF}__shared#/$defs/`, COMPONENT_REF));
  }
}

function inlineSchema(schema: z.ZodType): Json {
  const { $schema: _s, ...rest } = z.toJSONSchema(schema, { ...jsonSchemaParams, io: 'output' }) as Json;
  return rest;
}

function isOptional(schema: z.ZodType): boolean {
  return schema.safeParse(undefined).success;
}

function parameters(route: RouteDefinition): Json[] {
  const out: Json[] = [];
  for (const [where, obj] of [
    ['path', route.params],
    ['query', route.query],
  ] as const) {
    for (const [name, schema] of Object.entries(obj?.shape ?? {}) as [string, z.ZodType][]) {
      const json = inlineSchema(schema);
      const { description, ...rest } = json;
      out.push({
        name,
        in: where,
        required: where === 'path' || !isOptional(schema),
        ...(description ? { description } : {}),
        schema: rest,
      });
    }
  }
  return out;
}

function errorResponses(route: RouteDefinition, errorRef: Json): Json {
  const codes = new Set<ErrorCode>(route.errors);
  if (route.params || route.query || (route.body && !isRawBody(route.body))) codes.add('validation_failed');
  if (route.body && !isRawBody(route.body)) codes.add('bad_request');
  if (route.body && isRawBody(route.body)) codes.add('bad_request');
  if (route.auth) codes.add('unauthorized');
  // Any tenant route answers 403 tenant_suspended while the operator has suspended the caller's tenant.
  if (route.auth === true) codes.add('tenant_suspended');
  codes.add('internal');
  const byStatus = new Map<number, ErrorCode[]>();
  for (const code of codes) byStatus.set(ERROR_STATUS[code], [...(byStatus.get(ERROR_STATUS[code]) ?? []), code]);
  const out: Json = {};
  for (const [status, list] of [...byStatus].sort(([a], [b]) => a - b)) {
    out[String(status)] = {
      description: `error: ${list.sort().join(' or ')}`,
      headers: { 'x-request-id': { $ref: '#/components/headers/RequestId' } },
      content: { 'application/json': { schema: errorRef } },
    };
  }
  return out;
}

function operation(route: RouteDefinition, input: Components, output: Components): Json {
  const op: Json = {
    operationId: route.operationId,
    summary: route.summary,
    ...(route.description ? { description: route.description } : {}),
    tags: [...route.tags],
    security: route.auth === 'admin' ? [{ adminToken: [] }] : route.auth ? [{ apiKey: [] }] : [],
  };
  const params = parameters(route);
  if (params.length) op.parameters = params;
  if (route.body) {
    op.requestBody = isRawBody(route.body)
      ? {
          required: true,
          description: route.body.description,
          content: Object.fromEntries(
            route.body.contentTypes.map((t) => [t, { schema: { type: 'string', contentMediaType: t } }]),
          ),
        }
      : {
          required: true,
          content: {
            'application/json': {
              schema: input.ref(route.body, `${capitalise(route.operationId)}Request`),
              ...(route.example === undefined ? {} : { example: route.example }),
            },
          },
        };
  }
  const responses: Json = {};
  for (const [status, r] of Object.entries(route.responses)) {
    responses[status] = {
      description: r.description,
      headers: { 'x-request-id': { $ref: '#/components/headers/RequestId' } },
      content: isJsonResponse(r)
        ? { 'application/json': { schema: output.ref(r.schema, `${capitalise(route.operationId)}Response`) } }
        : Object.fromEntries(r.contentTypes.map((t) => [t, { schema: { type: 'string', contentMediaType: t } }])),
    };
  }
  Object.assign(responses, errorResponses(route, output.ref(ErrorResponse, 'Error')));
  op.responses = responses;
  return op;
}

function capitalise(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

const CALLBACK_HEADERS: Json[] = [
  {
    name: 'X-Mediaserver-Event-Id',
    in: 'header',
    required: true,
    description: 'unique per event, stable across retries',
    schema: { type: 'string' },
  },
  {
    name: 'X-Mediaserver-Attempt',
    in: 'header',
    required: true,
    description: '1, 2, … counted across the callback URL and the fallback URL',
    schema: { type: 'string', pattern: '^[1-9][0-9]*$' },
  },
  {
    name: 'X-Mediaserver-Signature',
    in: 'header',
    required: true,
    description: 't=<unix seconds>,v1=<hex HMAC-SHA256(secret, t + "." + raw body)>; one v1= per active secret',
    schema: { type: 'string' },
  },
];

function webhook(name: CallbackName, input: Components, output: Components): Json {
  const reply = CALLBACK_REPLIES[name as keyof typeof CALLBACK_REPLIES] as z.ZodType | undefined;
  const replyId = name === 'getIvrCommand' ? 'IvrCommand' : `${capitalise(name)}Reply`;
  return {
    post: {
      operationId: `${name}Callback`,
      summary: `POST <callbackUrl>/${name}`,
      tags: ['callbacks'],
      parameters: CALLBACK_HEADERS,
      requestBody: {
        required: true,
        content: { 'application/json': { schema: output.ref(CALLBACK_BODIES[name], `${capitalise(name)}Callback`) } },
      },
      responses: {
        '200': reply
          ? {
              description:
                'the reply steers the call; unknown fields are ignored; an invalid reply counts as a failed attempt',
              content: { 'application/json': { schema: input.ref(reply, replyId) } },
            }
          : { description: 'any 2xx; the body is ignored' },
        default: {
          description: 'network errors, timeouts and 5xx are retried (callbackRetries), then fallbackUrl once',
        },
      },
    },
  };
}

export function buildOpenApiDocument(routes: readonly RouteDefinition[] = ROUTES): Json {
  const input = new Components('input');
  const output = new Components('output');
  const paths: Record<string, Json> = {};
  for (const route of routes) {
    const { method, path } = methodAndPath(route.routeKey);
    paths[path] ??= {};
    paths[path]![method.toLowerCase()] = operation(route, input, output);
  }
  const webhooks: Json = {};
  for (const name of CALLBACK_NAMES) webhooks[name] = webhook(name, input, output);
  input.ref(IvrCommand, 'IvrCommand');

  const inSchemas = input.convert();
  const outSchemas = output.convert();
  for (const [id, schema] of Object.entries(inSchemas)) {
    if (outSchemas[id] && JSON.stringify(outSchemas[id]) !== JSON.stringify(schema)) {
      throw new Error(`schema "${id}" differs as request and as response: give the two uses distinct ids`);
    }
  }
  const schemas = Object.fromEntries(
    Object.entries({ ...outSchemas, ...inSchemas }).sort(([a], [b]) => a.localeCompare(b)),
  );
  const sortedPaths = Object.fromEntries(Object.entries(paths).sort(([a], [b]) => a.localeCompare(b)));

  return {
    openapi: '3.1.0',
    info: {
      title: 'SIP Mediaserver API',
      version: '1.0.0',
      description:
        'Control plane of the SIP Mediaserver: tenancy, numbers, API keys, prompt files, the session journal ' +
        "and usage; the operator's admin API; the callbacks it sends (webhooks). Generated from " +
        'shared/src/contracts; see docs/api.md.',
      license: { name: 'Apache-2.0', identifier: 'Apache-2.0' },
    },
    servers: [{ url: 'http://127.0.0.1:8080', description: 'the local deployment (npm start)' }],
    tags: ['tenant', 'numbers', 'api keys', 'prompts', 'sessions', 'usage', 'contract', 'callbacks', 'admin'].map(
      (name) => ({ name }),
    ),
    paths: sortedPaths,
    webhooks,
    components: {
      schemas,
      securitySchemes: {
        apiKey: { type: 'http', scheme: 'bearer', description: 'Authorization: Bearer <apiKey> (msk_…)' },
        adminToken: {
          type: 'http',
          scheme: 'bearer',
          description:
            "Authorization: Bearer <admin token>: the operator's token (the ADMIN_TOKEN setting or DATA_DIR/run/admin-token locally, the AdminTokenSecretArn secret on AWS); never a tenant key",
        },
      },
      headers: {
        RequestId: { description: 'the request id; also in every log line', schema: { type: 'string' } },
      },
    },
  };
}

/** The document as committed in docs/openapi.json (2-space JSON, trailing newline). */
export function renderOpenApiDocument(): string {
  return `${JSON.stringify(buildOpenApiDocument(), null, 2)}\n`;
}

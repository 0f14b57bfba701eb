import type { z } from 'zod';
import type { ErrorCode } from '../errors.js';

/**
 * What a route is, declared once next to its request and response schemas: the CDK stack creates one API
 * Gateway route per definition (integrated with the Lambda of its group), the local adapter matches the
 * same route keys, the API handler validates inputs and responses with the schemas, and the OpenAPI
 * document is generated from them. Adding a route means adding one definition to a route list.
 */
export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
export type RouteKey = `${HttpMethod} /${string}`;

/** One Lambda per group; lambdas/src/handlers/<group>.ts exports its `handler`. */
export type RouteGroup = 'tenants' | 'api-keys' | 'media' | 'calls' | 'sessions' | 'usage' | 'openapi' | 'admin';

/**
 * Who may call a route: `true` a tenant (`Authorization: Bearer <apiKey>`), `'admin'` the operator
 * (`Authorization: Bearer <admin token>`, never a tenant key), `false` anyone.
 */
export type RouteAuth = boolean | 'admin';

/** A body that is not JSON (audio): handed to the handler as bytes. */
export interface RawBody {
  kind: 'raw';
  contentTypes: readonly string[];
  description: string;
}

export interface JsonResponse {
  description: string;
  schema: z.ZodType;
}

export interface RawResponse {
  description: string;
  contentTypes: readonly string[];
}

export interface RouteDefinition {
  routeKey: RouteKey;
  group: RouteGroup;
  /** false only for signup and the OpenAPI document; 'admin' for the operator's routes under /v1/admin. */
  auth: RouteAuth;
  operationId: string;
  summary: string;
  description?: string;
  tags: readonly string[];
  /** Path parameters, one key per `{name}` in the path. */
  params?: z.ZodObject;
  query?: z.ZodObject;
  body?: z.ZodType | RawBody;
  /** Success responses by status. Errors: 400 (if there is any input), 401 (auth) and 500 are implied. */
  responses: Readonly<Record<number, JsonResponse | RawResponse>>;
  /** Further error codes this route answers with (e.g. not_found, conflict, rate_limited). */
  errors: readonly ErrorCode[];
  /** A valid JSON body: the OpenAPI example, and the base of the generated invalid-body test cases. */
  example?: unknown;
}

export function isRawBody(body: RouteDefinition['body']): body is RawBody {
  return typeof body === 'object' && body !== null && (body as RawBody).kind === 'raw';
}

export function isJsonResponse(r: JsonResponse | RawResponse): r is JsonResponse {
  return 'schema' in r;
}

/** Keeps the literal types of a definition so the handler implementing it gets typed inputs. */
export function defineRoute<const R extends RouteDefinition>(route: R): R {
  return route;
}

type Parsed<T> = T extends z.ZodType ? z.output<T> : Record<string, never>;

/** What the API handler hands a route's implementation after validation. */
export interface RouteInput<R extends RouteDefinition> {
  params: Parsed<R['params']>;
  query: Parsed<R['query']>;
  body: R['body'] extends z.ZodType ? z.output<R['body']> : Buffer;
}

export function methodAndPath(routeKey: RouteKey): { method: HttpMethod; path: string } {
  const [method, path] = routeKey.split(' ') as [HttpMethod, string];
  return { method, path };
}

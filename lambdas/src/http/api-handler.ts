import {
  isJsonResponse,
  isRawBody,
  type RouteDefinition,
  type RouteGroup,
  type RouteInput,
} from '@sipms/shared/api/route-definition';
import { ROUTES } from '@sipms/shared/api/routes';
import { parseOrThrow } from '@sipms/shared/contracts/validate';
import type { IdempotencyStore } from '@sipms/shared/data/idempotency-store';
import type { Principal } from '@sipms/shared/domain/tenant';
import { AppError, errorBody, UnauthorizedError, ValidationError } from '@sipms/shared/errors';
import { sha256Hex } from '@sipms/shared/util/ids';
import type { Logger } from '@sipms/shared/util/logger';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import type { ApiMetrics } from '../observability/metrics.js';

export interface ApiRequest {
  routeKey: string;
  /** Path parameters as sent (URL-decoded); the validated ones are in the route input. */
  path: Record<string, string>;
  headers: Record<string, string>;
  query: Record<string, string>;
  /** Raw body bytes (base64 bodies decoded). */
  body: Buffer;
  requestId: string;
  sourceIp: string;
  /** Set for authenticated routes. */
  tenantId: string;
  /** The API key the request was authenticated with (authenticated routes). */
  keyId: string;
  /** True on admin routes, once the admin token was verified. */
  admin: boolean;
  /** A logger whose every line carries the request id and route. */
  log: Logger;
  /** The body parsed as JSON; a 400 if it is not JSON. */
  json(): unknown;
}

export interface ApiResult {
  status: number;
  json?: unknown;
  bytes?: Buffer;
  contentType?: string;
  headers?: Record<string, string>;
}

/** A route definition bound to the function that implements it. */
export interface BoundRoute {
  route: RouteDefinition;
  run(req: ApiRequest, input: RouteInput<RouteDefinition>): Promise<ApiResult>;
  /**
   * false: an `Idempotency-Key` is ignored and every request runs, because replaying means storing the response
   * and this one carries a secret that must never be stored (the softphone's SIP credential).
   */
  replayable?: false;
}

/** Binds an implementation to its route; the implementation gets the route's validated, typed inputs. */
export function implement<const R extends RouteDefinition>(
  route: R,
  run: (req: ApiRequest, input: RouteInput<R>) => Promise<ApiResult>,
  options: { replayable?: false } = {},
): BoundRoute {
  return { route, run: run as unknown as BoundRoute['run'], ...options };
}

export interface ApiDeps {
  /** A tenant API key's principal, or undefined; throws (e.g. 403 tenant_suspended) to refuse a valid key. */
  authenticate(apiKey: string): Promise<Principal | undefined>;
  /** Admin routes only: true for the deployment's admin token. Without it every admin route answers 401. */
  authenticateAdmin?(token: string): Promise<boolean>;
  /** Makes authenticated POSTs with an `Idempotency-Key` header run once (every POST: docs/contract.md). */
  idempotency?: Pick<IdempotencyStore, 'run'>;
  logger: Logger;
  /** Counts each request by route group and status class, flushed as the request ends; none by default. */
  metrics?: ApiMetrics & { flush(): void };
}

const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;
const BEARER = /^Bearer\s+(\S+)\s*$/i;
/** The idempotency scope of admin requests (tenant ids start with "t", so the two never meet). */
const ADMIN_SCOPE = '@admin';

/** Parses the inputs a route declares; a failure names the field (path and query names are top-level). */
function parseInputs(route: RouteDefinition, req: ApiRequest): RouteInput<RouteDefinition> {
  const params = route.params ? parseOrThrow(route.params, req.path) : {};
  const query = route.query ? parseOrThrow(route.query, req.query) : {};
  const body = route.body && !isRawBody(route.body) ? parseOrThrow(route.body, req.json()) : req.body;
  return { params, query, body } as RouteInput<RouteDefinition>;
}

/**
 * The response passes through its declared schema: what is not in the contract (an internal field, a
 * secret) is stripped, and a response that breaks the contract is a bug, answered as 500 and logged.
 */
function checkResponse(route: RouteDefinition, result: ApiResult, log: Logger): ApiResult {
  const spec = route.responses[result.status];
  if (!spec) {
    log.error({ status: result.status }, 'handler answered a status its route does not declare');
    throw new AppError('internal', 'internal error');
  }
  if (!isJsonResponse(spec) || result.json === undefined) return result;
  const parsed = spec.schema.safeParse(result.json);
  if (!parsed.success) {
    log.error({ issues: parsed.error.issues.slice(0, 3) }, 'response does not match its declared schema');
    throw new AppError('internal', 'internal error');
  }
  return { ...result, json: parsed.data };
}

/**
 * Builds one Lambda handler (payload format 2.0) for a route group: auth, input validation from the
 * route's schemas, response checking, errors and request ids. Every route of the group in ROUTES must be
 * implemented, and only those.
 */
export function createApiHandler(
  group: RouteGroup,
  routes: readonly BoundRoute[],
  deps: () => Promise<ApiDeps> | ApiDeps,
) {
  const byKey = new Map(routes.map((r) => [r.route.routeKey, r]));
  const declared = ROUTES.filter((r) => r.group === group).map((r) => r.routeKey);
  const missing = declared.filter((k) => !byKey.has(k));
  const extra = [...byKey.keys()].filter((k) => !declared.includes(k));
  if (missing.length || extra.length || routes.some((r) => r.route.group !== group)) {
    throw new Error(
      `route group ${group}: not implemented ${missing.join(', ') || '-'}; undeclared ${extra.join(', ') || '-'}`,
    );
  }

  return handle;

  async function handle(event: APIGatewayProxyEventV2, context?: Context): Promise<APIGatewayProxyStructuredResultV2> {
    const requestId = event.requestContext?.requestId ?? 'unknown';
    const started = Date.now();
    const { authenticate, authenticateAdmin, idempotency, logger, metrics } = await deps();
    // The handler's lines carry Lambda's awsRequestId next to API Gateway's requestId. Passed down, not kept
    // in AsyncLocalStorage: its promise hooks would tax every request of a process (the local one runs all).
    const awsRequestId = context?.awsRequestId;
    const log = logger.child({ requestId, routeKey: event.routeKey, ...(awsRequestId ? { awsRequestId } : {}) });
    let status = 500;
    let code: string | undefined;
    let tenantId = '';
    try {
      const bound = byKey.get(event.routeKey as RouteDefinition['routeKey']);
      if (!bound) throw new AppError('not_found', `no route for ${event.routeKey}`);
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(event.headers ?? {})) if (v !== undefined) headers[k.toLowerCase()] = v;
      let keyId = '';
      let admin = false;
      const bearer = BEARER.exec(headers.authorization ?? '')?.[1];
      if (bound.route.auth === 'admin') {
        // The admin token only: a tenant key (or anything else) is 401 here, as the admin token is on tenant routes.
        admin = Boolean(bearer && authenticateAdmin && (await authenticateAdmin(bearer)));
        if (!admin) throw new UnauthorizedError('missing or invalid admin token');
      } else if (bound.route.auth) {
        const principal = bearer ? await authenticate(bearer) : undefined;
        if (!principal) throw new UnauthorizedError();
        ({ tenantId, keyId } = principal);
      }
      const body = event.body ? Buffer.from(event.body, event.isBase64Encoded ? 'base64' : 'utf8') : Buffer.alloc(0);
      const path: Record<string, string> = {};
      for (const [k, v] of Object.entries(event.pathParameters ?? {})) {
        try {
          path[k] = decodeURIComponent(v ?? '');
        } catch (err) {
          // Not %-encoded as it should be (a lone `%`): the route sees the raw text and validates it.
          log.debug({ err, param: k }, 'path parameter kept undecoded');
          path[k] = v ?? '';
        }
      }
      const req: ApiRequest = {
        routeKey: event.routeKey,
        path,
        headers,
        query: Object.fromEntries(Object.entries(event.queryStringParameters ?? {}).map(([k, v]) => [k, v ?? ''])),
        body,
        requestId,
        sourceIp: event.requestContext?.http?.sourceIp ?? '',
        tenantId,
        keyId,
        admin,
        log: tenantId ? log.child({ tenantId }) : admin ? log.child({ admin: true }) : log,
        json() {
          if (body.length === 0) return {};
          try {
            return JSON.parse(body.toString('utf8'));
          } catch (err) {
            throw new AppError('bad_request', 'request body is not valid JSON', { cause: err });
          }
        },
      };
      const execute = async () =>
        checkResponse(bound.route, await bound.run(req, parseInputs(bound.route, req)), req.log);
      const idempotencyKey = headers['idempotency-key'];
      let result: ApiResult;
      const scope = tenantId || (admin ? ADMIN_SCOPE : '');
      const replayable = bound.replayable !== false && event.routeKey.startsWith('POST ');
      if (idempotencyKey !== undefined && idempotency && scope && replayable) {
        if (!IDEMPOTENCY_KEY.test(idempotencyKey)) {
          throw new ValidationError('Idempotency-Key', 'must be 1 to 255 visible ASCII characters');
        }
        // Same key, same request: the stored first result; the fingerprint tells a reused key apart.
        const fingerprint = sha256Hex(`${event.routeKey}\n${JSON.stringify(path)}\n${body.toString('base64')}`);
        const stored = await idempotency.run(scope, event.routeKey, idempotencyKey, fingerprint, async () => {
          const r = await execute();
          return { status: r.status, body: r.json ?? null };
        });
        result = { status: stored.status, ...(stored.body === null ? {} : { json: stored.body }) };
      } else {
        result = await execute();
      }
      status = result.status;
      return toResponse(result, requestId);
    } catch (err) {
      const { status: s, body, headers } = errorBody(err, requestId);
      status = s;
      code = body.error.code as string;
      if (s >= 500) log.error({ err, cause: (err as { cause?: unknown })?.cause }, 'request failed');
      return toResponse({ status: s, json: body, headers }, requestId);
    } finally {
      log.info(
        { status, ...(code ? { code } : {}), ...(tenantId ? { tenantId } : {}), ms: Date.now() - started },
        'request',
      );
      metrics?.apiRequest({ routeGroup: group, status, requestId });
      metrics?.flush();
    }
  }
}

function toResponse(result: ApiResult, requestId: string): APIGatewayProxyStructuredResultV2 {
  // Responses carry keys and tenant data: no shared cache may keep them.
  const headers: Record<string, string> = { 'x-request-id': requestId, 'cache-control': 'no-store', ...result.headers };
  if (result.bytes) {
    headers['content-type'] = result.contentType ?? 'application/octet-stream';
    return { statusCode: result.status, headers, body: result.bytes.toString('base64'), isBase64Encoded: true };
  }
  if (result.json === undefined) return { statusCode: result.status, headers };
  headers['content-type'] = 'application/json';
  return { statusCode: result.status, headers, body: JSON.stringify(result.json) };
}

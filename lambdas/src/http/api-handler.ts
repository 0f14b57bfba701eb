import { ROUTES } from '@sipms/shared/api/routes';
import { AppError, errorBody, UnauthorizedError } from '@sipms/shared/errors';
import type { Logger } from '@sipms/shared/util/logger';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';

export interface ApiRequest {
  routeKey: string;
  path: Record<string, string>;
  headers: Record<string, string>;
  query: Record<string, string>;
  /** Raw body bytes (base64 bodies decoded). */
  body: Buffer;
  requestId: string;
  sourceIp: string;
  /** Set for authenticated routes. */
  tenantId: string;
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

export type RouteHandler = (req: ApiRequest) => Promise<ApiResult>;

export interface ApiDeps {
  authenticate(apiKey: string): Promise<string | undefined>;
  logger: Logger;
}

const AUTH_FREE = new Set<string>(ROUTES.filter((r) => !r.auth).map((r) => r.routeKey));

/** Builds one Lambda handler (payload format 2.0) for a group of routes: auth, parsing, errors, request ids. */
export function createApiHandler(routes: Record<string, RouteHandler>, deps: () => Promise<ApiDeps> | ApiDeps) {
  return async (event: APIGatewayProxyEventV2): Promise<APIGatewayProxyStructuredResultV2> => {
    const requestId = event.requestContext?.requestId ?? 'unknown';
    const started = Date.now();
    const { authenticate, logger } = await deps();
    let status = 500;
    try {
      const route = routes[event.routeKey];
      if (!route) throw new AppError('not_found', `no route for ${event.routeKey}`);
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(event.headers ?? {})) if (v !== undefined) headers[k.toLowerCase()] = v;
      let tenantId = '';
      if (!AUTH_FREE.has(event.routeKey)) {
        const m = /^Bearer\s+(\S+)\s*$/i.exec(headers.authorization ?? '');
        const found = m ? await authenticate(m[1]!) : undefined;
        if (!found) throw new UnauthorizedError();
        tenantId = found;
      }
      const body = event.body ? Buffer.from(event.body, event.isBase64Encoded ? 'base64' : 'utf8') : Buffer.alloc(0);
      const req: ApiRequest = {
        routeKey: event.routeKey,
        path: Object.fromEntries(
          Object.entries(event.pathParameters ?? {}).map(([k, v]) => [k, decodeURIComponent(v ?? '')]),
        ),
        headers,
        query: Object.fromEntries(Object.entries(event.queryStringParameters ?? {}).map(([k, v]) => [k, v ?? ''])),
        body,
        requestId,
        sourceIp: event.requestContext?.http?.sourceIp ?? '',
        tenantId,
        json() {
          if (body.length === 0) return {};
          try {
            return JSON.parse(body.toString('utf8'));
          } catch {
            throw new AppError('bad_request', 'request body is not valid JSON');
          }
        },
      };
      const result = await route(req);
      status = result.status;
      return toResponse(result, requestId);
    } catch (err) {
      const { status: s, body } = errorBody(err, requestId);
      status = s;
      if (s >= 500) logger.error({ requestId, routeKey: event.routeKey, err }, 'request failed');
      return toResponse({ status: s, json: body }, requestId);
    } finally {
      logger.info({ requestId, routeKey: event.routeKey, status, ms: Date.now() - started }, 'request');
    }
  };
}

function toResponse(result: ApiResult, requestId: string): APIGatewayProxyStructuredResultV2 {
  const headers: Record<string, string> = { 'x-request-id': requestId, ...(result.headers ?? {}) };
  if (result.bytes) {
    headers['content-type'] = result.contentType ?? 'application/octet-stream';
    return { statusCode: result.status, headers, body: result.bytes.toString('base64'), isBase64Encoded: true };
  }
  if (result.json === undefined) return { statusCode: result.status, headers };
  headers['content-type'] = 'application/json';
  return { statusCode: result.status, headers, body: JSON.stringify(result.json) };
}

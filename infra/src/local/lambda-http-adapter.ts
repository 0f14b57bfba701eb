import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { RouteDefinition, RouteGroup } from '@sipms/shared/api/routes';
import type { Logger } from '@sipms/shared/util/logger';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';

export type ApiLambda = (event: APIGatewayProxyEventV2, context: Context) => Promise<APIGatewayProxyStructuredResultV2>;

/** Serves `<prefix><rest>` outside API Gateway's routes (the local stand-in for S3's presigned URLs, the console). */
export interface ObjectEndpoint {
  prefix: string;
  handle(req: IncomingMessage, res: ServerResponse, token: string): Promise<void>;
}

const MAX_BODY_BYTES = 10 * 1024 * 1024; // API Gateway HTTP API's payload limit
const TEXT_TYPES = /^(application\/(json|x-www-form-urlencoded)|text\/)/i;

interface CompiledRoute {
  def: RouteDefinition;
  method: string;
  regex: RegExp;
  params: string[];
}

function compile(def: RouteDefinition): CompiledRoute {
  const [method, path] = def.routeKey.split(' ') as [string, string];
  const params: string[] = [];
  const pattern = path
    .split('/')
    .map((seg) => {
      const m = /^\{(\w+)(\+?)\}$/.exec(seg);
      if (!m) return seg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      params.push(m[1]!);
      return m[2] ? '(.+)' : '([^/]+)';
    })
    .join('/');
  return { def, method, regex: new RegExp(`^${pattern}$`), params };
}

/**
 * API Gateway HTTP API (payload format 2.0) in front of the same Lambda handlers that are deployed:
 * routes from the shared route table, events built as API Gateway builds them, results mapped back.
 */
export class LambdaHttpAdapter {
  private server: Server | undefined;
  private readonly routes: CompiledRoute[];
  /** Paths served outside API Gateway's routes: the local object URLs and the console's files. */
  private readonly endpoints: readonly ObjectEndpoint[];

  constructor(
    routes: readonly RouteDefinition[],
    private readonly handlers: Record<RouteGroup, ApiLambda>,
    private readonly logger: Logger,
    objects?: ObjectEndpoint | readonly ObjectEndpoint[],
  ) {
    this.routes = routes.map(compile);
    this.endpoints = objects === undefined ? [] : Array.isArray(objects) ? objects : [objects as ObjectEndpoint];
  }

  async start(host: string, port: number): Promise<void> {
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((err) => {
        this.logger.error({ err }, 'local API adapter failure');
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { code: 'internal', message: 'internal error' } }));
      });
    });
    this.server.keepAliveTimeout = 30_000;
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(port, host, () => resolve());
    });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://local');
    const path = url.pathname;
    // On AWS these are S3's URLs and CloudFront's console, never the API's: no Lambda, no API key.
    for (const endpoint of this.endpoints) {
      const rest = path.slice(endpoint.prefix.length);
      if (path.startsWith(endpoint.prefix) && (rest === '' || rest.startsWith('/') || endpoint.prefix.endsWith('/'))) {
        return endpoint.handle(req, res, rest);
      }
    }
    let match: { route: CompiledRoute; values: string[] } | undefined;
    let pathMatched = false;
    for (const route of this.routes) {
      const m = route.regex.exec(path);
      if (!m) continue;
      pathMatched = true;
      if (route.method === req.method) {
        match = { route, values: m.slice(1) };
        break;
      }
    }
    const json = (status: number, body: unknown): void => {
      res
        .writeHead(status, { 'content-type': 'application/json', 'x-request-id': randomUUID() })
        .end(JSON.stringify(body));
    };
    if (!match) {
      // API Gateway answers unmatched routes itself, without invoking a Lambda.
      return pathMatched
        ? json(405, { error: { code: 'method_not_allowed', message: `${req.method} is not allowed on ${path}` } })
        : json(404, { error: { code: 'not_found', message: `no route for ${req.method} ${path}` } });
    }
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req) {
      size += (chunk as Buffer).length;
      if (size > MAX_BODY_BYTES) {
        return json(413, {
          error: { code: 'payload_too_large', message: `request bodies are limited to ${MAX_BODY_BYTES} bytes` },
        });
      }
      chunks.push(chunk as Buffer);
    }
    const raw = Buffer.concat(chunks);
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) {
      if (v !== undefined && k !== 'cookie') headers[k] = Array.isArray(v) ? v.join(',') : v;
    }
    const isText = TEXT_TYPES.test(headers['content-type'] ?? '');
    const now = Date.now();
    const requestId = randomUUID();
    const { route, values } = match;
    const event: APIGatewayProxyEventV2 = {
      version: '2.0',
      routeKey: route.def.routeKey,
      rawPath: path,
      rawQueryString: url.search.slice(1),
      headers,
      ...(url.search ? { queryStringParameters: Object.fromEntries(url.searchParams) } : {}),
      ...(route.params.length
        ? { pathParameters: Object.fromEntries(route.params.map((p, i) => [p, values[i]!])) }
        : {}),
      ...(raw.length ? { body: isText ? raw.toString('utf8') : raw.toString('base64') } : {}),
      isBase64Encoded: raw.length > 0 && !isText,
      requestContext: {
        accountId: '000000000000',
        apiId: 'local',
        domainName: headers.host ?? 'localhost',
        domainPrefix: 'local',
        requestId,
        routeKey: route.def.routeKey,
        stage: '$default',
        time: new Date(now).toISOString(),
        timeEpoch: now,
        http: {
          method: req.method ?? 'GET',
          path,
          protocol: `HTTP/${req.httpVersion}`,
          sourceIp: req.socket.remoteAddress ?? '',
          userAgent: headers['user-agent'] ?? '',
        },
      },
    };
    const context = { awsRequestId: requestId, functionName: `local-${route.def.group}` } as Context;
    const out = await this.handlers[route.def.group](event, context);
    const body = out.body ? Buffer.from(out.body, out.isBase64Encoded ? 'base64' : 'utf8') : undefined;
    res.writeHead(out.statusCode ?? 200, out.headers as Record<string, string>).end(body);
  }

  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    server.closeIdleConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

/**
 * The media node's `GET /metrics` (Prometheus text format) on METRICS_HOST:METRICS_PORT; every other path is 404.
 * Meant for loopback or the VPC, never the internet: there is no authentication, so config.ts refuses a
 * wildcard METRICS_HOST unless METRICS_PUBLIC=true (docs/operations.md, "Metrics").
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '@sipms/shared/util/logger';

/** What the server exposes: the text exposition and its content type (PrometheusMetrics). */
export interface MetricsSource {
  text(): Promise<string>;
  readonly contentType: string;
}

export interface RunningMetricsServer {
  host: string;
  port: number;
  /** `http://host:port/metrics` (IPv6 hosts in brackets). */
  url: string;
  close(): Promise<void>;
}

/** Addresses that listen on every interface. */
export function isWildcardHost(host: string): boolean {
  const h = host.trim().replace(/^\[(.*)\]$/, '$1');
  return h === '' || h === '0.0.0.0' || /^[0:]+$/.test(h);
}

/** Starts listening; rejects with an error naming METRICS_HOST/METRICS_PORT when it cannot bind. */
export async function startMetricsServer(opts: {
  host: string;
  port: number;
  metrics: MetricsSource;
  logger: Logger;
}): Promise<RunningMetricsServer> {
  const { metrics, logger } = opts;
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('not found: try /metrics\n');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' }).end();
      return;
    }
    metrics.text().then(
      (body) => {
        res.writeHead(200, { 'content-type': metrics.contentType, 'cache-control': 'no-store' });
        res.end(req.method === 'HEAD' ? undefined : body);
      },
      (err: unknown) => {
        logger.warn({ err }, 'collecting metrics failed');
        res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' }).end('collecting metrics failed\n');
      },
    );
  });
  // A scraper sends one small request; slow or idle clients are not kept.
  server.headersTimeout = 10_000;
  server.requestTimeout = 10_000;
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      reject(
        new Error(
          err.code === 'EADDRINUSE'
            ? `TCP ${opts.host}:${opts.port} is already in use: set METRICS_PORT to a free port (0 turns /metrics off)`
            : `cannot serve metrics on ${opts.host}:${opts.port} (METRICS_HOST/METRICS_PORT): ${err.message}`,
          { cause: err },
        ),
      );
    };
    server.once('error', onError);
    server.listen(opts.port, opts.host, () => {
      server.off('error', onError);
      resolve();
    });
  });
  server.on('error', (err) => logger.warn({ err }, 'metrics server error'));
  const { address, port } = server.address() as AddressInfo;
  const host = address.includes(':') ? `[${address}]` : address;
  return {
    host: address,
    port,
    url: `http://${host}:${port}/metrics`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close((err) => {
          if (err) logger.debug({ err }, 'metrics server already closed');
          resolve();
        });
        server.closeAllConnections();
      }),
  };
}

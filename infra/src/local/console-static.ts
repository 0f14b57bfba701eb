import { readFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import { isNotFound } from '@sipms/shared/util/fs-errors';
import type { ObjectEndpoint } from './lambda-http-adapter.js';

export const CONSOLE_PATH = '/console';

/** The console's files: a fixed list, so no request path ever reaches the file system. */
const FILES: Record<string, string> = {
  '': 'index.html',
  'index.html': 'index.html',
  'app.js': 'app.js',
  'app.js.map': 'app.js.map',
  'app.css': 'app.css',
};
const TYPES: Record<string, string> = {
  html: 'text/html; charset=utf-8',
  js: 'text/javascript; charset=utf-8',
  css: 'text/css; charset=utf-8',
  map: 'application/json',
};

/**
 * What the page may load: only this origin (the API is here too; prompt download URLs are `/_objects/…`
 * on the same origin), plus the softphone's SIP WebSocket. No inline script or style, no framing. The CDK
 * console's response-headers policy says the same with the API's, S3's and the nodes' WSS origins added.
 */
export function localConsoleCsp(softphoneWsUrl?: string): string {
  const connect = softphoneWsUrl ? `'self' ${new URL(softphoneWsUrl).origin}` : "'self'";
  return (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; media-src 'self'; " +
    `connect-src ${connect}; form-action 'self'; base-uri 'none'; frame-ancestors 'none'`
  );
}

function securityHeaders(softphoneWsUrl?: string): Record<string, string> {
  return {
    'content-security-policy': localConsoleCsp(softphoneWsUrl),
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
    'x-frame-options': 'DENY',
    'cache-control': 'no-store',
  };
}

export function consoleEndpoint(dir: string, softphoneWsUrl?: string): ObjectEndpoint {
  const SECURITY_HEADERS = securityHeaders(softphoneWsUrl);
  return {
    prefix: CONSOLE_PATH,
    async handle(req: IncomingMessage, res: ServerResponse, rest: string): Promise<void> {
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405, { 'content-type': 'application/json', allow: 'GET, HEAD' });
        res.end(
          JSON.stringify({
            error: { code: 'method_not_allowed', message: `${req.method} is not allowed on the console` },
          }),
        );
        return;
      }
      // `/console` → `/console/`, so the page's relative URLs (app.js, config.json) resolve under it.
      if (rest === '') {
        res.writeHead(308, { location: `${CONSOLE_PATH}/` }).end();
        return;
      }
      const name = rest.slice(1);
      if (!rest.startsWith('/') || (name !== 'config.json' && FILES[name] === undefined)) {
        res.writeHead(404, { 'content-type': 'application/json', ...SECURITY_HEADERS });
        res.end(JSON.stringify({ error: { code: 'not_found', message: `no console file ${rest}` } }));
        return;
      }
      if (name === 'config.json') {
        res.writeHead(200, { 'content-type': 'application/json', ...SECURITY_HEADERS });
        res.end(req.method === 'HEAD' ? undefined : JSON.stringify({ apiUrl: '' }));
        return;
      }
      const file = FILES[name]!;
      let body: Buffer;
      try {
        body = await readFile(join(dir, file));
      } catch (err) {
        if (!isNotFound(err)) throw err;
        res.writeHead(503, { 'content-type': 'application/json' });
        res.end(
          JSON.stringify({ error: { code: 'unavailable', message: 'the console is not built (npm start builds it)' } }),
        );
        return;
      }
      res.writeHead(200, { 'content-type': TYPES[file.split('.').pop()!]!, ...SECURITY_HEADERS });
      res.end(req.method === 'HEAD' ? undefined : body);
    },
  };
}

import { createHash, randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { pipeline } from 'node:stream/promises';
import { verifyObjectToken } from '../crypto/object-token.js';
import type { Logger } from '../util/logger.js';
import type { FsPromptStore } from './fs-prompt-store.js';

export interface LocalObjectServerOptions {
  store: FsPromptStore;
  /** The key FsPromptStore signs its object URLs with. */
  key: Buffer;
  logger: Logger;
  /** Epoch ms; tests move it. */
  now?: () => number;
}

/** Beyond this, a refused request's body is not read to its end: the connection is closed instead. */
const DRAIN_MAX_BYTES = 256 * 1024 * 1024;

/**
 * Reads and discards what is left of a refused request's body, so the client (still sending) reads the error
 * rather than a reset connection (EPIPE), as it does from S3.
 */
async function drain(req: IncomingMessage): Promise<boolean> {
  if (req.complete) return true;
  if (req.destroyed) return false;
  let seen = 0;
  for await (const chunk of req) {
    seen += (chunk as Buffer).length;
    if (seen > DRAIN_MAX_BYTES) return false;
  }
  return true;
}

/** S3's error document, so a client handles a refused URL the same way on both deployments. */
async function s3Error(req: IncomingMessage, res: ServerResponse, status: number, code: string, message: string) {
  const requestId = randomUUID();
  const body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message><RequestId>${requestId}</RequestId></Error>`;
  const drained = await drain(req);
  res
    .writeHead(status, {
      'content-type': 'application/xml',
      'content-length': String(Buffer.byteLength(body)),
      'x-request-id': requestId,
      ...(drained ? {} : { connection: 'close' }),
    })
    .end(body);
}

/**
 * The local deployment's S3 for presigned URLs: `PUT|GET /_objects/<token>` on the local API's server. It
 * refuses what S3 refuses for a presigned URL: a bad signature, another method, an expired URL, and for a PUT
 * any Content-Length or Content-Type but the signed ones (403, S3's codes); a PUT is stored through the same
 * folder store as the API's (written aside and renamed), a GET streams the file.
 */
export function localObjectHandler(opts: LocalObjectServerOptions) {
  const now = opts.now ?? Date.now;
  return async function handle(req: IncomingMessage, res: ServerResponse, token: string): Promise<void> {
    const claims = verifyObjectToken(opts.key, token);
    if (!claims) {
      return s3Error(req, res, 403, 'SignatureDoesNotMatch', 'The request signature does not match the URL');
    }
    // The method is part of what is signed: a GET URL never uploads, a PUT URL never reads.
    if (req.method !== claims.m) {
      return s3Error(req, res, 403, 'SignatureDoesNotMatch', `This URL is for ${claims.m}, not ${req.method}`);
    }
    if (now() > claims.e) return s3Error(req, res, 403, 'AccessDenied', 'Request has expired');
    // A valid signature over a name outside the tenant's folder would be our bug: it still opens nothing.
    if (!opts.store.safePath(claims.t, claims.n)) return s3Error(req, res, 403, 'AccessDenied', 'Access Denied');
    const log = opts.logger.child({ tenantId: claims.t, name: claims.n, method: claims.m });

    if (claims.m === 'GET') {
      const file = await opts.store.stored(claims.t, claims.n);
      if (!file) return s3Error(req, res, 404, 'NoSuchKey', 'The specified key does not exist.');
      res.writeHead(200, {
        'content-type': file.contentType,
        'content-length': String(file.size),
        'cache-control': 'no-store',
      });
      await pipeline(createReadStream(file.path), res);
      return;
    }

    const declared = claims.s ?? 0;
    const lengthHeader = req.headers['content-length'];
    if (lengthHeader === undefined) {
      return s3Error(req, res, 411, 'MissingContentLength', 'You must provide the Content-Length HTTP header.');
    }
    if (lengthHeader.trim() !== String(declared)) {
      return s3Error(req, res, 403, 'SignatureDoesNotMatch', `Content-Length must be ${declared}, as signed`);
    }
    if ((req.headers['content-type'] ?? '').trim() !== claims.c) {
      return s3Error(req, res, 403, 'SignatureDoesNotMatch', `Content-Type must be ${claims.c}, as signed`);
    }
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req) {
      size += (chunk as Buffer).length;
      // HTTP framing stops at Content-Length; this guards the declared size whatever the parser does.
      if (size > declared) return s3Error(req, res, 413, 'EntityTooLarge', `The body is larger than ${declared} bytes`);
      chunks.push(chunk as Buffer);
    }
    if (size !== declared) return s3Error(req, res, 400, 'IncompleteBody', `The body has ${size} of ${declared} bytes`);
    const body = Buffer.concat(chunks, size);
    await opts.store.put(claims.t, claims.n, body, claims.c ?? 'application/octet-stream');
    log.info({ bytes: size }, 'object URL upload stored');
    res.writeHead(200, { etag: `"${createHash('md5').update(body).digest('hex')}"`, 'content-length': '0' }).end();
  };
}

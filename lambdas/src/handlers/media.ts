import { PROMPT_INLINE_MAX_BYTES, PROMPT_URL_TTL_SEC, mediaRoutes as r } from '@sipms/shared/api/media-routes';
import { PromptFileName } from '@sipms/shared/contracts/rest';
import { AppError, NotFoundError, ValidationError } from '@sipms/shared/errors';
import { sniffAudio } from '@sipms/shared/media/audio-format';
import { apiDeps, controlPlane } from '../composition-root.js';
import { createApiHandler, implement } from '../http/api-handler.js';
import { ownDomain } from '../http/own-domain.js';

/** The 413 of a file over PROMPT_MAX_BYTES, whichever way it comes. */
function tooLarge(limit: number): AppError {
  return new AppError('payload_too_large', `prompt files are limited to ${limit} bytes`, { details: { limit } });
}

// Prompt-list cursors are the last name of the previous page, base64url-encoded (opaque to tenants).
const encodeCursor = (name: string) => Buffer.from(name, 'utf8').toString('base64url');
function decodeCursor(cursor: string): string {
  const name = Buffer.from(cursor, 'base64url').toString('utf8');
  if (!PromptFileName.safeParse(name).success) throw new ValidationError('cursor', 'not a cursor this API returned');
  return name;
}

/** Media routes under /mediaservice/{domain}: prompt files. */
export const handler = createApiHandler(
  'media',
  [
    implement(r.listPrompts, async (req, { params, query }) => {
      await ownDomain(req, params.domain);
      const page = await controlPlane().prompts.list(req.tenantId, {
        limit: query.limit,
        cursor: query.cursor === undefined ? undefined : decodeCursor(query.cursor),
      });
      return {
        status: 200,
        json: { prompts: page.prompts, ...(page.nextCursor ? { nextCursor: encodeCursor(page.nextCursor) } : {}) },
      };
    }),

    implement(r.putPrompt, async (req, { params, body }) => {
      const cp = controlPlane();
      await ownDomain(req, params.domain);
      if (body.length === 0) throw new AppError('bad_request', 'the request body must be the audio file');
      if (body.length > cp.config.PROMPT_MAX_BYTES) throw tooLarge(cp.config.PROMPT_MAX_BYTES);
      // The same limit on both deployments, though only AWS's payload limit makes it: a file the local API would
      // take must not fail in production.
      if (body.length > PROMPT_INLINE_MAX_BYTES) {
        throw new AppError(
          'payload_too_large',
          `a direct upload carries at most ${PROMPT_INLINE_MAX_BYTES} bytes: ask POST …/promptfile/{filename}/upload-url for an upload URL`,
          { details: { limit: PROMPT_INLINE_MAX_BYTES } },
        );
      }
      const format = sniffAudio(body);
      if (!format) throw new AppError('unsupported_media_type', 'the body is not a WAV or MP3 file');
      await cp.prompts.put(req.tenantId, params.filename, body, format.contentType);
      return { status: 200, json: { success: true } };
    }),

    implement(r.getPrompt, async (req, { params }) => {
      await ownDomain(req, params.domain);
      const { prompts } = controlPlane();
      const link = async () => {
        const found = await prompts.downloadUrl(req.tenantId, params.filename, { expiresInSec: PROMPT_URL_TTL_SEC });
        if (!found) throw new NotFoundError('prompt file');
        return found;
      };
      // A file larger than a Lambda response can carry answers 302 to its download URL, locally too.
      const first = await link();
      if (first.size > PROMPT_INLINE_MAX_BYTES) return { status: 302, headers: { location: first.url } };
      const file = await prompts.get(req.tenantId, params.filename);
      if (!file) throw new NotFoundError('prompt file');
      // Replaced by a large file since its size was read: redirect rather than overflow the response.
      if (file.bytes.length > PROMPT_INLINE_MAX_BYTES)
        return { status: 302, headers: { location: (await link()).url } };
      return { status: 200, bytes: file.bytes, contentType: file.contentType };
    }),

    implement(r.uploadUrl, async (req, { params, body }) => {
      const cp = controlPlane();
      await ownDomain(req, params.domain);
      if (body.bytes > cp.config.PROMPT_MAX_BYTES) throw tooLarge(cp.config.PROMPT_MAX_BYTES);
      const upload = await cp.prompts.uploadUrl(req.tenantId, params.filename, {
        contentType: body.contentType,
        bytes: body.bytes,
        expiresInSec: PROMPT_URL_TTL_SEC,
      });
      req.log.info({ filename: params.filename, bytes: body.bytes }, 'prompt upload URL issued');
      return { status: 200, json: upload };
    }),

    implement(r.downloadUrl, async (req, { params }) => {
      await ownDomain(req, params.domain);
      const link = await controlPlane().prompts.downloadUrl(req.tenantId, params.filename, {
        expiresInSec: PROMPT_URL_TTL_SEC,
      });
      if (!link) throw new NotFoundError('prompt file');
      return { status: 200, json: link };
    }),

    implement(r.deletePrompt, async (req, { params }) => {
      await ownDomain(req, params.domain);
      if (!(await controlPlane().prompts.delete(req.tenantId, params.filename))) throw new NotFoundError('prompt file');
      return { status: 200, json: { success: true } };
    }),
  ],
  apiDeps,
);

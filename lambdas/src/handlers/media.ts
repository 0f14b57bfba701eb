import { mediaRoutes as r } from '@sipms/shared/api/media-routes';
import { PromptFileName } from '@sipms/shared/contracts/rest';
import { AppError, NotFoundError, ValidationError } from '@sipms/shared/errors';
import { sniffAudio } from '@sipms/shared/media/audio-format';
import { apiDeps, controlPlane } from '../composition-root.js';
import { createApiHandler, implement } from '../http/api-handler.js';
import { ownDomain } from '../http/own-domain.js';

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
      if (body.length > cp.config.PROMPT_MAX_BYTES) {
        throw new AppError('payload_too_large', `prompt files are limited to ${cp.config.PROMPT_MAX_BYTES} bytes`, {
          details: { limit: cp.config.PROMPT_MAX_BYTES },
        });
      }
      const format = sniffAudio(body);
      if (!format) throw new AppError('unsupported_media_type', 'the body is not a WAV or MP3 file');
      await cp.prompts.put(req.tenantId, params.filename, body, format.contentType);
      return { status: 200, json: { success: true } };
    }),

    implement(r.getPrompt, async (req, { params }) => {
      await ownDomain(req, params.domain);
      const file = await controlPlane().prompts.get(req.tenantId, params.filename);
      if (!file) throw new NotFoundError('prompt file');
      return { status: 200, bytes: file.bytes, contentType: file.contentType };
    }),

    implement(r.deletePrompt, async (req, { params }) => {
      await ownDomain(req, params.domain);
      if (!(await controlPlane().prompts.delete(req.tenantId, params.filename))) throw new NotFoundError('prompt file');
      return { status: 200, json: { success: true } };
    }),
  ],
  apiDeps,
);

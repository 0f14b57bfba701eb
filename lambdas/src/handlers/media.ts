import { PromptFileName } from '@sipms/shared/contracts/rest';
import { parseOrThrow } from '@sipms/shared/contracts/validate';
import { AppError, NotFoundError } from '@sipms/shared/errors';
import { sniffAudio } from '@sipms/shared/media/audio-format';
import { apiDeps, controlPlane } from '../composition-root.js';
import { type ApiRequest, createApiHandler } from '../http/api-handler.js';

/** The domain in the path must be the caller's own; any other answers exactly like an unknown one. */
async function ownDomain(req: ApiRequest): Promise<void> {
  const tenant = await controlPlane().tenants.require(req.tenantId);
  if (tenant.domain.toLowerCase() !== (req.path.domain ?? '').toLowerCase()) throw new NotFoundError('domain');
}

/** Media routes under /mediaservice/{domain}: prompt files. */
export const handler = createApiHandler(
  {
    'PUT /mediaservice/{domain}/promptfile/{filename}': async (req) => {
      const cp = controlPlane();
      await ownDomain(req);
      const name = parseOrThrow(PromptFileName, req.path.filename, 'filename');
      if (req.body.length === 0) throw new AppError('bad_request', 'the request body must be the audio file');
      if (req.body.length > cp.config.PROMPT_MAX_BYTES) {
        throw new AppError('payload_too_large', `prompt files are limited to ${cp.config.PROMPT_MAX_BYTES} bytes`, {
          details: { limit: cp.config.PROMPT_MAX_BYTES },
        });
      }
      const format = sniffAudio(req.body);
      if (!format) throw new AppError('unsupported_media_type', 'the body is not a WAV or MP3 file');
      await cp.prompts.put(req.tenantId, name, req.body, format.contentType);
      return { status: 200, json: { success: true } };
    },

    'GET /mediaservice/{domain}/promptfile/{filename}': async (req) => {
      await ownDomain(req);
      const name = parseOrThrow(PromptFileName, req.path.filename, 'filename');
      const file = await controlPlane().prompts.get(req.tenantId, name);
      if (!file) throw new NotFoundError('prompt file');
      return { status: 200, bytes: file.bytes, contentType: file.contentType };
    },

    'DELETE /mediaservice/{domain}/promptfile/{filename}': async (req) => {
      await ownDomain(req);
      const name = parseOrThrow(PromptFileName, req.path.filename, 'filename');
      if (!(await controlPlane().prompts.delete(req.tenantId, name))) throw new NotFoundError('prompt file');
      return { status: 200, json: { success: true } };
    },
  },
  apiDeps,
);

import { z } from 'zod';
import {
  DomainParam,
  PageQuery,
  PromptDownloadUrl,
  PromptFileName,
  PromptList,
  PromptUploadUrl,
  PromptUploadUrlRequest,
  Success,
} from '../contracts/rest.js';
import { defineRoute } from './route-definition.js';

const AUDIO = ['audio/wav', 'audio/mpeg'] as const;
const promptParams = z.object({ domain: DomainParam, filename: PromptFileName });

/**
 * The most audio bytes one API request or response carries. API Gateway hands Lambda (and takes back) at most
 * 6 MB, with binary bodies base64'd (4/3) plus the event's envelope: 4 MB of audio leaves room. Larger files
 * move through upload and download URLs (S3's presigned URLs on AWS, the local API's /_objects/ locally).
 */
export const PROMPT_INLINE_MAX_BYTES = 4_000_000;

/** How long upload and download URLs (and the GET's redirect) stay valid. */
export const PROMPT_URL_TTL_SEC = 15 * 60;

/** Media routes under /mediaservice/{domain}: prompt files. A domain not the caller's answers 404. */
export const mediaRoutes = {
  listPrompts: defineRoute({
    routeKey: 'GET /mediaservice/{domain}/promptfile',
    group: 'media',
    auth: true,
    operationId: 'listPromptFiles',
    summary: 'List prompt files, by name, a page at a time',
    tags: ['prompts'],
    params: z.object({ domain: DomainParam }),
    query: PageQuery,
    responses: { 200: { description: 'one page', schema: PromptList } },
    errors: ['not_found'],
  }),
  putPrompt: defineRoute({
    routeKey: 'PUT /mediaservice/{domain}/promptfile/{filename}',
    group: 'media',
    auth: true,
    operationId: 'putPromptFile',
    summary: 'Upload or replace a prompt file (WAV or MP3, recognised by content)',
    description: `For files up to ${PROMPT_INLINE_MAX_BYTES} bytes; larger ones go through uploadPromptFileUrl.`,
    tags: ['prompts'],
    params: promptParams,
    body: {
      kind: 'raw',
      contentTypes: [...AUDIO, 'application/octet-stream'],
      description: `the audio file; at most ${PROMPT_INLINE_MAX_BYTES} bytes (and PROMPT_MAX_BYTES)`,
    },
    responses: { 200: { description: 'stored', schema: Success } },
    errors: ['not_found', 'payload_too_large', 'unsupported_media_type'],
  }),
  getPrompt: defineRoute({
    routeKey: 'GET /mediaservice/{domain}/promptfile/{filename}',
    group: 'media',
    auth: true,
    operationId: 'getPromptFile',
    summary: 'Download a prompt file, with its content type',
    description:
      `A file over ${PROMPT_INLINE_MAX_BYTES} bytes (more than an API response carries) answers 302 to its ` +
      `download URL (valid ${PROMPT_URL_TTL_SEC} s); follow it without the Authorization header.`,
    tags: ['prompts'],
    params: promptParams,
    responses: {
      200: { description: 'the file', contentTypes: AUDIO },
      302: {
        description: 'a large file: `Location` is its download URL, as getPromptFileDownloadUrl gives',
        contentTypes: [],
      },
    },
    errors: ['not_found'],
  }),
  uploadUrl: defineRoute({
    routeKey: 'POST /mediaservice/{domain}/promptfile/{filename}/upload-url',
    group: 'media',
    auth: true,
    operationId: 'uploadPromptFileUrl',
    summary: 'A URL to PUT a prompt file of any size up to PROMPT_MAX_BYTES to, bypassing the API',
    description:
      `The URL (valid ${PROMPT_URL_TTL_SEC} s) accepts one PUT of exactly \`bytes\` bytes with the returned ` +
      'headers (Content-Type) and no Authorization header; any other size or type is refused (403). The ' +
      'file is stored as sent, not checked: one that is not WAV or MP3 fails when played (journal ivrFailed).',
    tags: ['prompts'],
    params: promptParams,
    body: PromptUploadUrlRequest,
    example: { contentType: 'audio/wav', bytes: 8_000_044 },
    responses: { 200: { description: 'the upload URL', schema: PromptUploadUrl } },
    errors: ['not_found', 'payload_too_large'],
  }),
  downloadUrl: defineRoute({
    routeKey: 'GET /mediaservice/{domain}/promptfile/{filename}/download-url',
    group: 'media',
    auth: true,
    operationId: 'getPromptFileDownloadUrl',
    summary: 'A URL to GET a prompt file or recording of any size from, bypassing the API',
    description: `Valid ${PROMPT_URL_TTL_SEC} s; GET it without the Authorization header.`,
    tags: ['prompts'],
    params: promptParams,
    responses: { 200: { description: 'the download URL', schema: PromptDownloadUrl } },
    errors: ['not_found'],
  }),
  deletePrompt: defineRoute({
    routeKey: 'DELETE /mediaservice/{domain}/promptfile/{filename}',
    group: 'media',
    auth: true,
    operationId: 'deletePromptFile',
    summary: 'Delete a prompt file',
    tags: ['prompts'],
    params: promptParams,
    responses: { 200: { description: 'deleted', schema: Success } },
    errors: ['not_found'],
  }),
};

export const MEDIA_ROUTES = Object.values(mediaRoutes);

import { z } from 'zod';
import { DomainParam, PageQuery, PromptFileName, PromptList, Success } from '../contracts/rest.js';
import { defineRoute } from './route-definition.js';

const AUDIO = ['audio/wav', 'audio/mpeg'] as const;
const promptParams = z.object({ domain: DomainParam, filename: PromptFileName });

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
    tags: ['prompts'],
    params: promptParams,
    body: {
      kind: 'raw',
      contentTypes: [...AUDIO, 'application/octet-stream'],
      description: 'the audio file; at most PROMPT_MAX_BYTES (default 5 MB)',
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
    tags: ['prompts'],
    params: promptParams,
    responses: { 200: { description: 'the file', contentTypes: AUDIO } },
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

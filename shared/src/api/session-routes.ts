import { z } from 'zod';
import { SessionDetail, SessionList, SessionListQuery } from '../contracts/rest.js';
import { defineRoute } from './route-definition.js';

/** The session journal: the list, and one session with every callback and SIP state change. */
export const sessionRoutes = {
  listSessions: defineRoute({
    routeKey: 'GET /v1/sessions',
    group: 'sessions',
    auth: true,
    operationId: 'listSessions',
    summary: 'Sessions, newest first, filtered by creation time, number and SIP Call-ID',
    tags: ['sessions'],
    query: SessionListQuery,
    responses: { 200: { description: 'one page', schema: SessionList } },
    errors: [],
  }),
  getSession: defineRoute({
    routeKey: 'GET /v1/sessions/{sessionId}',
    group: 'sessions',
    auth: true,
    operationId: 'getSession',
    summary: 'One session with its journal',
    tags: ['sessions'],
    params: z.object({ sessionId: z.string().min(1).max(64) }),
    responses: { 200: { description: 'the session and its journal', schema: SessionDetail } },
    errors: ['not_found'],
  }),
};

export const SESSION_ROUTES = Object.values(sessionRoutes);

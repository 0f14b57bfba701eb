import { sessionRoutes as r } from '@sipms/shared/api/session-routes';
import { NotFoundError } from '@sipms/shared/errors';
import { apiDeps, controlPlane } from '../composition-root.js';
import { createApiHandler, implement } from '../http/api-handler.js';

/** The session journal: the list (paging, time and number filters) and one session. Tenant-scoped. */
export const handler = createApiHandler(
  'sessions',
  [
    implement(r.listSessions, async (req, { query }) => ({
      status: 200,
      json: await controlPlane().sessionQueries.list(req.tenantId, query),
    })),

    implement(r.getSession, async (req, { params: { sessionId } }) => {
      const cp = controlPlane();
      const session = await cp.sessions.get(sessionId);
      // Another tenant's session answers exactly like one that does not exist.
      if (!session || session.tenantId !== req.tenantId) throw new NotFoundError('session');
      const journal = await cp.sessions.readJournal(session.sessionId);
      return { status: 200, json: { ...session, journal } };
    }),
  ],
  apiDeps,
);

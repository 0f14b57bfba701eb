import { NotFoundError } from '@sipms/shared/errors';
import { apiDeps, controlPlane } from '../composition-root.js';
import { createApiHandler } from '../http/api-handler.js';

/** The session journal: participants, every callback and SIP state change. Tenant-scoped. */
export const handler = createApiHandler(
  {
    'GET /v1/sessions/{sessionId}': async (req) => {
      const cp = controlPlane();
      const session = await cp.sessions.get(req.path.sessionId ?? '');
      // Another tenant's session answers exactly like one that does not exist.
      if (!session || session.tenantId !== req.tenantId) throw new NotFoundError('session');
      const journal = await cp.sessions.readJournal(session.sessionId);
      return { status: 200, json: { ...session, journal } };
    },
  },
  apiDeps,
);

import { NotFoundError } from '@sipms/shared/errors';
import { controlPlane } from '../composition-root.js';
import type { ApiRequest } from './api-handler.js';

/** The domain in a /mediaservice/{domain} path must be the caller's own; any other answers like an unknown one. */
export async function ownDomain(req: ApiRequest, domain: string): Promise<void> {
  const tenant = await controlPlane().tenants.require(req.tenantId);
  if (tenant.domain.toLowerCase() !== domain.toLowerCase()) throw new NotFoundError('domain');
}

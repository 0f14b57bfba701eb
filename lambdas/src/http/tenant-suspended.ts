import { AppError } from '@sipms/shared/errors';

/** 403 tenant_suspended for every tenant route of a suspended tenant, with the operator's reason when given. */
export function tenantSuspendedError(reason: string | undefined): AppError {
  return new AppError(
    'tenant_suspended',
    `this tenant is suspended by the operator of this deployment${reason ? `: ${reason}` : ''}`,
    reason ? { details: { reason } } : undefined,
  );
}

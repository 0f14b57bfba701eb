import { parseOrReason } from '@sipms/shared/contracts/validate';
import { type BusEvent, CallbackEnvelope } from '@sipms/shared/events/envelope';
import { AddressPolicy } from '@sipms/shared/net/address-policy';
import { controlPlane } from '../composition-root.js';
import { dispatchCallback } from '../dispatch/dispatch-callback.js';
import { TenantCache } from '../dispatch/tenant-cache.js';

let tenantCache: TenantCache | undefined;
let addresses: AddressPolicy | undefined;

/** EventBridge target of the `callbacks-to-dispatcher` rule. */
export async function handler(event: BusEvent): Promise<void> {
  const cp = controlPlane();
  tenantCache ??= new TenantCache((id) => cp.tenants.get(id));
  addresses ??= AddressPolicy.fromSettings(cp.config.CALLBACK_URL_POLICY, cp.config.OUTBOUND_ALLOW_CIDRS);
  const parsed = parseOrReason(CallbackEnvelope, event.detail);
  if (!parsed.ok) {
    // Retrying cannot fix a malformed event; log it for the operator and let it go.
    cp.logger.error({ eventId: event.id, reason: parsed.reason }, 'malformed callback event dropped');
    return;
  }
  await dispatchCallback(parsed.value, {
    tenants: tenantCache,
    sessions: cp.sessions,
    urlPolicy: cp.config.CALLBACK_URL_POLICY,
    addresses,
    logger: cp.logger,
  });
}

import { FsPromptStore } from '@sipms/shared/adapters/fs-prompt-store';
import { createDocumentClient } from '@sipms/shared/aws/clients';
import { CommonEnv, loadConfig } from '@sipms/shared/config';
import { SessionStore } from '@sipms/shared/data/session-store';
import { TenantStore } from '@sipms/shared/data/tenant-store';
import type { PromptStore } from '@sipms/shared/ports/prompt-store';
import { createLogger, type Logger } from '@sipms/shared/util/logger';
import { z } from 'zod';

/** Everything a control-plane handler needs, built once per cold start from the environment. */
export interface ControlPlane {
  config: Readonly<z.infer<typeof ControlPlaneEnv>>;
  tenants: TenantStore;
  sessions: SessionStore;
  prompts: PromptStore;
  logger: Logger;
}

const ControlPlaneEnv = z.object({
  ...CommonEnv,
  PROMPT_MAX_BYTES: z.coerce.number().int().positive().default(5_000_000),
});

let instance: ControlPlane | undefined;

function promptStoreFrom(spec: string): PromptStore {
  const [kind, location] = [spec.slice(0, spec.indexOf(':')), spec.slice(spec.indexOf(':') + 1)];
  if (kind === 'dir') return new FsPromptStore(location);
  throw new Error(`PROMPT_STORE kind "${kind}" is not available in this build`);
}

export function controlPlane(): ControlPlane {
  if (!instance) {
    const config = loadConfig(ControlPlaneEnv);
    const doc = createDocumentClient();
    instance = {
      config,
      tenants: new TenantStore(doc, config.TABLE_NAME, config.SIP_DOMAIN),
      sessions: new SessionStore(doc, config.TABLE_NAME),
      prompts: promptStoreFrom(config.PROMPT_STORE),
      logger: createLogger({ service: 'control-plane' }),
    };
  }
  return instance;
}

/** Dependencies for createApiHandler. */
export function apiDeps() {
  const cp = controlPlane();
  return { authenticate: (key: string) => cp.tenants.authenticate(key), logger: cp.logger };
}

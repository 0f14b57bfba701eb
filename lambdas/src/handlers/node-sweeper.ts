import { createEventBridgeClient } from '@sipms/shared/aws/clients';
import { createDocumentClient } from '@sipms/shared/aws/document-client';
import { loadConfig } from '@sipms/shared/config';
import { CallSlots } from '@sipms/shared/data/call-slots';
import { NodeRegistry } from '@sipms/shared/data/node-registry';
import { EventBridgeCallbackPublisher } from '@sipms/shared/events/callback-publisher';
import { DeadNodeSweeper, type SweepResult } from '@sipms/shared/ops/dead-node-sweeper';
import { NodeFailure } from '@sipms/shared/ops/node-failure';
import type { Context } from 'aws-lambda';
import { z } from 'zod';
import { SERVICE } from '../observability/metric-names.js';
import { createPowertoolsLogger } from '../observability/powertools-logger.js';

const SweeperEnv = z.object({
  TABLE_NAME: z.string().min(3),
  /** The bus the media nodes publish callbacks to: `sessionCompleted` of a dead node's sessions goes there too. */
  EVENT_BUS_NAME: z.string().min(1),
});

let sweeper: DeadNodeSweeper | undefined;

/** The sweep the media nodes run, over clients built once per cold start from the environment. */
function build(): DeadNodeSweeper {
  const config = loadConfig(SweeperEnv);
  const doc = createDocumentClient();
  const logger = createPowertoolsLogger({ service: SERVICE.nodeSweeper });
  return new DeadNodeSweeper({
    registry: new NodeRegistry(doc, config.TABLE_NAME),
    slots: new CallSlots(doc, config.TABLE_NAME),
    sessions: NodeFailure.create({
      doc,
      tableName: config.TABLE_NAME,
      events: new EventBridgeCallbackPublisher(createEventBridgeClient(), config.EVENT_BUS_NAME),
      logger,
    }),
    logger,
  });
}

/**
 * Scheduled every minute (docs/deploy.md): sweeps media nodes that stopped beating — their call slots back,
 * their active sessions completed with `nodeFailed` — for when no live node is left to do it. The local
 * control plane runs the same handler on a timer. A failed sweep throws; the next one retries.
 */
export async function handler(_event?: unknown, _context?: Context): Promise<SweepResult> {
  sweeper ??= build();
  return sweeper.sweep();
}

import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import type { BusEvent } from '@sipms/shared/events/envelope';
import { RULES } from '@sipms/shared/events/rules';
import { createLogger } from '@sipms/shared/util/logger';
import { LocalEventBus } from '../../src/local/local-event-bus.js';

/**
 * The local PutEvents endpoint with the shared rules and the real SDK client pointed at it, as the media node
 * drives it. The dispatcher target records what it is given (after `target`, which may throw to be retried).
 * `close()` waits for every delivery in flight.
 */
export async function startLocalBus(target: (event: BusEvent) => Promise<void> = async () => {}) {
  const delivered: BusEvent[] = [];
  const bus = new LocalEventBus(
    RULES,
    {
      dispatcher: async (event) => {
        await target(event);
        delivered.push(event);
      },
    },
    createLogger({}, 'silent'),
  );
  const endpoint = await bus.start();
  const client = new EventBridgeClient({
    endpoint,
    region: 'local',
    credentials: { accessKeyId: 'x', secretAccessKey: 'x' },
  });
  return {
    client,
    delivered,
    async close() {
      await bus.close();
      client.destroy();
    },
  };
}

import { createLogger } from '@sipms/shared/util/logger';
import { loadMediaNodeConfig } from './config.js';
import { StartupError, startMediaNode } from './media-node.js';

/**
 * The media node process: the same entry point on an EC2 node (systemd) and as a child of the local
 * stack, which it tells over IPC when it is ready.
 */
const logger = createLogger({ service: 'media-node' });
try {
  const config = loadMediaNodeConfig();
  const node = await startMediaNode(config, logger.child({ nodeId: config.NODE_ID }));
  logger.info({ sip: node.sip, nodeId: node.nodeId }, 'media node ready');
  process.send?.({ type: 'ready', sip: node.sip, transports: node.transports, nodeId: node.nodeId });
  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal, activeCalls: node.flow.activeCalls }, 'media node stopping');
    await node.stop();
    process.exit(0);
  };
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('disconnect', () => void shutdown('parent gone'));
} catch (err) {
  const message =
    err instanceof StartupError || (err as Error).message?.startsWith('invalid configuration')
      ? (err as Error).message
      : String((err as Error).stack ?? err);
  logger.error({}, message);
  process.send?.({ type: 'error', message });
  process.exitCode = 1;
}

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
  logger.info({ sip: node.sip, nodeId: node.nodeId, metrics: node.metrics?.url }, 'media node ready');
  process.send?.({
    type: 'ready',
    sip: node.sip,
    transports: node.transports,
    nodeId: node.nodeId,
    ...(node.metrics ? { metrics: node.metrics.url } : {}),
  });
  // SIGTERM (systemd, the local supervisor, an operator) drains: new INVITEs get 503 with Retry-After and
  // the calls up may finish for DRAIN_TIMEOUT_MS; then the rest get BYE. SIGINT (Ctrl-C) or a second
  // signal skips the wait. The node's own failure (rtpengine gone for good) exits non-zero.
  const skipDrain = new AbortController();
  let stopping = false;
  const shutdown = async (why: string, drainMs: number, exitCode: number) => {
    if (stopping) {
      skipDrain.abort();
      return;
    }
    stopping = true;
    if (drainMs > 0) {
      logger.info({ signal: why, activeCalls: node.flow.activeCalls, drainMs }, 'media node draining');
      await node.drain(drainMs, skipDrain.signal);
    }
    logger.info({ signal: why, activeCalls: node.flow.activeCalls }, 'media node stopping');
    await node.stop();
    process.exit(exitCode);
  };
  process.on('SIGINT', () => void shutdown('SIGINT', 0, 0));
  process.on('SIGTERM', () => void shutdown('SIGTERM', config.DRAIN_TIMEOUT_MS, 0));
  process.on('disconnect', () => void shutdown('parent gone', 0, 0));
  void node.fatal.then((reason) => {
    logger.error({ reason }, 'media node cannot carry calls; leaving the registry and exiting');
    void shutdown(reason, 0, 1);
  });
} catch (err) {
  const message =
    err instanceof StartupError || (err as Error).message?.startsWith('invalid configuration')
      ? (err as Error).message
      : String((err as Error).stack ?? err);
  logger.error({}, message);
  process.send?.({ type: 'error', message });
  process.exitCode = 1;
}

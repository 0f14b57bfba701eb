import { execFileSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { join } from 'node:path';
import type { Logger } from '@sipms/shared/util/logger';
import { DtmfLogListener } from '../../src/media/dtmf-log-listener.js';
import { RtpEngineController } from '../../src/media/rtpengine-controller.js';
import { RtpEngineProcess } from '../../src/media/rtpengine-process.js';

/** Whether the rtpengine binary runs here (tests that need a real one skip loudly without it). */
export function haveRtpengine(): boolean {
  try {
    execFileSync('rtpengine', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false; // not installed: the caller's skip names the package
  }
}

/**
 * A real userspace rtpengine as the node runs it, for tests: its ng port a free one, its controller (2 s per
 * command, so start-up's ping retries in time), a DTMF log listener, its run directory under `dir`. The caller
 * stops them (`proc.stop()`, `dtmf.close()`, `control.close()`).
 */
export async function startRealRtpengine(
  dir: string,
  ports: { portMin: number; portMax: number; threads?: number },
  logger: Logger,
): Promise<{ control: RtpEngineController; dtmf: DtmfLogListener; proc: RtpEngineProcess }> {
  const probe = createSocket('udp4');
  await new Promise<void>((r) => probe.bind(0, '127.0.0.1', () => r()));
  const ngPort = probe.address().port;
  probe.close();
  const control = new RtpEngineController({ host: '127.0.0.1', port: ngPort }, logger, 2000);
  const dtmf = new DtmfLogListener(logger);
  const dtmfLogDest = await dtmf.start('127.0.0.1', 0);
  const proc = new RtpEngineProcess(
    {
      binary: 'rtpengine',
      interface: '127.0.0.1',
      ngHost: '127.0.0.1',
      ngPort,
      ...ports,
      dtmfLogDest,
      runDir: join(dir, 'run'),
    },
    control,
    logger,
  );
  await proc.start();
  return { control, dtmf, proc };
}

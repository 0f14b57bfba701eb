import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createLogger } from '@sipms/shared/util/logger';
import type { DtmfLogListener } from '../src/media/dtmf-log-listener.js';
import { NG_RECEIVE_BUFFER_BYTES, type RtpEngineController } from '../src/media/rtpengine-controller.js';
import type { RtpEngineProcess } from '../src/media/rtpengine-process.js';
import { haveRtpengine, startRealRtpengine } from './kit/programs.js';

// Seen in bench:full-call at 50 calls/s: "call flow failed: rtpengine answer failed: rtpengine timeout", one
// for each datagram the kernel dropped at the node's ng socket (/proc/net/udp, its drops column): replies
// that arrived while the node's event loop was busy did not fit the socket's default buffer. Here, with a
// real userspace rtpengine: a burst of commands with large replies, the event loop held while they arrive,
// every reply read. (This file uses RTP ports 32990-32999.)

const logger = createLogger({ test: 'rtpengine-ng-burst' }, 'silent');
/** `statistics` replies are about 8 KiB each: a hundred of them are twice the kernel's default buffer. */
const BURST = 100;

const skip = haveRtpengine() ? false : 'rtpengine is not installed (apt-get install rtpengine-daemon)';
if (skip) console.log(`# SKIP rtpengine ng burst: ${skip}`);

describe('rtpengine ng socket under a burst (real rtpengine)', { skip }, () => {
  let dir: string;
  let control: RtpEngineController;
  let proc: RtpEngineProcess;
  let dtmf: DtmfLogListener;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rtpe-burst-'));
    ({ control, dtmf, proc } = await startRealRtpengine(dir, { portMin: 32990, portMax: 32999, threads: 1 }, logger));
  });
  after(async () => {
    await proc?.stop();
    dtmf?.close();
    control?.close();
    await rm(dir, { recursive: true, force: true });
  });

  test(`${BURST} commands whose replies arrive while the event loop is held are all answered`, async (t) => {
    const granted = control.receiveBufferBytes ?? 0;
    // Linux reports twice the size it granted; rmem_max caps the grant.
    if (granted < NG_RECEIVE_BUFFER_BYTES) {
      t.skip(
        `net.core.rmem_max caps the ng socket's buffer at ${granted / 2} bytes (sysctl -w net.core.rmem_max=8388608)`,
      );
      return;
    }
    const replies = Array.from({ length: BURST }, () => control.statistics());
    await new Promise((r) => setImmediate(r)); // the commands are on the wire
    const until = Date.now() + 400;
    while (Date.now() < until) {
      // The node busy (a garbage collection, a burst of call set-ups): rtpengine answers meanwhile.
    }
    const results = await Promise.allSettled(replies);
    const failed = results.filter((r) => r.status === 'rejected');
    assert.equal(failed.length, 0, `${failed.length} of ${BURST} replies lost: ${String(failed[0]?.reason)}`);
  });
});

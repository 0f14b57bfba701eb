import { createSocket, type Socket } from 'node:dgram';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '@sipms/shared/util/logger';
import { toneWav } from '../../src/media/audio-sources.js';
import { RtpEngineMedia } from '../../src/media/rtpengine-media.js';
import { audioPort } from '../../src/media/sdp.js';
import { FakeMedia, type FakeMediaLeg } from '../kit/media.js';
import { haveRtpengine, startRealRtpengine } from '../kit/programs.js';
import { type MediaCaller, type MediaPortUnderTest, mediaPortContract } from './media-port.contract.js';

// MediaPort: RtpEngineMedia on a real userspace rtpengine (RTP 34980-34999, beside rtpengine-media.test.ts's
// 34900-34979), and the kit's fake.
const PORT_MIN = 34980;
const PORT_MAX = 34999;
const logger = createLogger({ test: 'media-contract' }, 'silent');

async function udp(): Promise<Socket> {
  const s = createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  return s;
}

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A phone on a UDP socket: PCMU + telephone-event, RFC 4733 key presses as real phones send them. */
async function phone(): Promise<MediaCaller> {
  const socket = await udp();
  let seq = 1;
  let ts = 0;
  const ssrc = randomSsrc();
  const send = (to: number, pt: number, marker: boolean, timestamp: number, payload: Buffer) => {
    const header = Buffer.alloc(12);
    header[0] = 0x80;
    header[1] = (marker ? 0x80 : 0) | pt;
    header.writeUInt16BE(seq++ & 0xffff, 2);
    header.writeUInt32BE(timestamp >>> 0, 4);
    header.writeUInt32BE(ssrc, 8);
    socket.send(Buffer.concat([header, payload]), to, '127.0.0.1');
  };
  return {
    offerSdp: [
      'v=0',
      'o=caller 1 1 IN IP4 127.0.0.1',
      's=-',
      'c=IN IP4 127.0.0.1',
      't=0 0',
      `m=audio ${socket.address().port} RTP/AVP 0 101`,
      'a=rtpmap:0 PCMU/8000',
      'a=rtpmap:101 telephone-event/8000',
      'a=fmtp:101 0-15',
      'a=sendrecv',
      '',
    ].join('\r\n'),
    async pressDigit(_leg, answerSdp, digit) {
      const to = audioPort(answerSdp)!;
      // Some audio first, so rtpengine has learnt the stream, then the event: 5 updates and 3 end packets.
      for (let i = 0; i < 3; i++) {
        ts += 160;
        send(to, 0, false, ts, Buffer.alloc(160, 0xff));
        await pause(20);
      }
      const event = '0123456789*#ABCD'.indexOf(digit);
      ts += 160;
      const start = ts;
      for (let i = 0; i < 8; i++) {
        const end = i >= 5;
        const body = Buffer.alloc(4);
        body[0] = event;
        body[1] = (end ? 0x80 : 0) | 10;
        body.writeUInt16BE(Math.min(5, i + 1) * 160, 2);
        send(to, 101, i === 0, start, body);
        await pause(20);
      }
      ts += 800;
    },
    close: () => socket.close(),
  };
}

function randomSsrc(): number {
  return Math.floor(Math.random() * 0xffffffff) >>> 0;
}

const skip = haveRtpengine() ? false : 'rtpengine is not installed (apt-get install rtpengine-daemon)';
if (skip) console.log(`# SKIP real MediaPort contract: ${skip}`);

if (!skip) {
  mediaPortContract('RtpEngineMedia on a real rtpengine', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'contracts-rtpe-'));
    const { control, dtmf, proc } = await startRealRtpengine(dir, { portMin: PORT_MIN, portMax: PORT_MAX }, logger);
    const media = new RtpEngineMedia(control, dtmf, logger);
    // As the node wires it (media-node.ts): rtpengine exiting fails every leg it carried.
    proc.on('exit', () => media.failAll('rtpengine exited'));
    await media.start('127.0.0.1');
    const file = join(dir, 'tone.wav');
    await writeFile(file, toneWav(1000, 440));
    return {
      media,
      caller: phone,
      audio: { file, durationMs: 1000 },
      async kill() {
        const ready = new Promise<void>((r) => proc.once('ready', () => r()));
        process.kill(proc.pid!, 'SIGKILL');
        await ready;
      },
      async close() {
        await proc.stop();
        media.close();
        dtmf.close();
        control.close();
        await rm(dir, { recursive: true, force: true });
      },
    } satisfies MediaPortUnderTest;
  });
}

mediaPortContract('FakeMedia (test kit)', () => {
  const media = new FakeMedia();
  const audio = { file: '/fake/prompts/contract/tone.au', durationMs: 1000 };
  // The fake plays each file for the length the test gives it: this one is a second long.
  media.playDurationMs = (file) => (file === audio.file ? audio.durationMs : 10);
  return {
    media,
    audio,
    async caller() {
      return {
        offerSdp: [
          'v=0',
          'o=caller 1 1 IN IP4 127.0.0.1',
          's=-',
          'c=IN IP4 127.0.0.1',
          't=0 0',
          'm=audio 40000 RTP/AVP 0 101',
          'a=rtpmap:0 PCMU/8000',
          'a=rtpmap:101 telephone-event/8000',
          '',
        ].join('\r\n'),
        async pressDigit(leg, _answerSdp, digit) {
          (leg as FakeMediaLeg).emitDtmf(digit);
        },
        close() {},
      };
    },
    async kill() {
      media.failAll('rtpengine exited');
    },
  } satisfies MediaPortUnderTest;
});

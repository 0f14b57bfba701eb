// A browser's media leg through rtpengine, without SIP: Debian's Chromium (headless, fake microphone) makes a
// real WebRTC offer, the node's RtpEngineMedia opens the leg on a real userspace rtpengine and answers it, and
// the browser's ICE and DTLS-SRTP must connect, hear a prompt and send RFC 4733 digits that the sink decodes.
// Nothing here is faked. RTP ports 31600-31699.
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { toneWav } from '@sipms/media-node/media/audio-sources';
import { DtmfLogListener } from '@sipms/media-node/media/dtmf-log-listener';
import { RtpEngineController } from '@sipms/media-node/media/rtpengine-controller';
import { isWebRtcOffer, RtpEngineMedia } from '@sipms/media-node/media/rtpengine-media';
import { RtpEngineProcess } from '@sipms/media-node/media/rtpengine-process';
import type { DtmfFromMedia, MediaLeg } from '@sipms/media-node/ports/media';
import { createLogger } from '@sipms/shared/util/logger';
import type { Browser, Page } from 'playwright-core';
import { launchChromium, webRtcArgs } from '../src/chromium.js';

const logger = createLogger({ test: 'webrtc-media' }, 'silent');

describe('a browser leg (WebRTC) through rtpengine: ICE, DTLS-SRTP and rtcp-mux to the browser, plain RTP to the node', () => {
  let dir: string;
  let control: RtpEngineController;
  let dtmf: DtmfLogListener;
  let proc: RtpEngineProcess;
  let media: RtpEngineMedia;
  let browser: Browser;
  let page: Page;
  let server: Server;
  let prompt: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'webrtc-media-'));
    const probe = createSocket('udp4');
    await new Promise<void>((r) => probe.bind(0, '127.0.0.1', () => r()));
    const ngPort = probe.address().port;
    probe.close();
    control = new RtpEngineController({ host: '127.0.0.1', port: ngPort }, logger, 2000);
    dtmf = new DtmfLogListener(logger);
    const dtmfLogDest = await dtmf.start('127.0.0.1', 0);
    proc = new RtpEngineProcess(
      {
        binary: 'rtpengine',
        interface: '127.0.0.1',
        ngHost: '127.0.0.1',
        ngPort,
        portMin: 31600,
        portMax: 31699,
        dtmfLogDest,
        runDir: join(dir, 'run'),
      },
      control,
      logger,
    );
    await proc.start();
    media = new RtpEngineMedia(control, dtmf, logger);
    await media.start('127.0.0.1');
    prompt = join(dir, 'prompt.wav');
    await writeFile(prompt, toneWav(1000, 3000));
    // getUserMedia needs a secure context: http://localhost is one.
    server = createServer((_req, res) => res.end('<!doctype html><title>webrtc</title>'));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    browser = await launchChromium(webRtcArgs());
    page = await browser.newPage();
    const address = server.address();
    assert.ok(address && typeof address === 'object');
    await page.goto(`http://localhost:${address.port}/`);
  });

  after(async () => {
    await browser?.close();
    server?.close();
    await proc?.stop();
    media?.close();
    dtmf?.close();
    control?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  // Page scripts are text: the root tsconfig has no DOM library.
  /** The browser's offer, with every ICE candidate gathered (no trickle over SIP). */
  function browserOffer(): Promise<string> {
    return page.evaluate<string>(`(async () => {
      const pc = new RTCPeerConnection({ iceServers: [] });
      window.pc = pc;
      const mic = await navigator.mediaDevices.getUserMedia({ audio: true });
      for (const track of mic.getAudioTracks()) pc.addTrack(track, mic);
      pc.ontrack = (e) => { window.remote = e.streams[0] ?? new MediaStream([e.track]); };
      await pc.setLocalDescription(await pc.createOffer());
      await new Promise((resolve) => {
        if (pc.iceGatheringState === 'complete') resolve();
        pc.onicegatheringstatechange = () => pc.iceGatheringState === 'complete' && resolve();
      });
      return pc.localDescription.sdp;
    })()`);
  }

  /** The remote audio's loudest RMS over `ms`, in dBFS, as WebAudio hears it in the browser. */
  function remoteLevel(ms: number): Promise<number> {
    return page.evaluate<number>(`(async () => {
      if (!window.analyser) {
        window.ctx = new AudioContext();
        window.analyser = window.ctx.createAnalyser();
        window.ctx.createMediaStreamSource(window.remote).connect(window.analyser);
        // Chromium only pulls a remote WebRTC track through WebAudio while a media element plays it.
        const sink = new Audio();
        sink.srcObject = window.remote;
        sink.muted = true;
        await sink.play();
      }
      const buf = new Float32Array(2048);
      let loudest = 0;
      for (let t = 0; t < ${ms}; t += 100) {
        await new Promise((r) => setTimeout(r, 100));
        window.analyser.getFloatTimeDomainData(buf);
        let sum = 0;
        for (const v of buf) sum += v * v;
        loudest = Math.max(loudest, Math.sqrt(sum / buf.length));
      }
      return 20 * Math.log10(loudest || 1e-9);
    })()`);
  }

  let leg: MediaLeg;
  let answer: string;
  let offer: string;

  test('the browser offer is recognised and its leg is answered with ICE, a DTLS fingerprint, rtcp-mux and its mid', async () => {
    offer = await browserOffer();
    assert.ok(isWebRtcOffer(offer), 'Chromium offers UDP/TLS/RTP/SAVPF');
    leg = await media.openLeg({ callId: 'webrtc-1', callerTag: 'browser', ivrTag: 'ivr-webrtc-1', offerSdp: offer });
    // Towards the node the leg is what a SIP phone sends: plain RTP, no ICE, no DTLS.
    assert.match(leg.offerTowardsPeer, /^m=audio \d+ RTP\/AVP /m);
    assert.doesNotMatch(leg.offerTowardsPeer, /a=(ice-ufrag|fingerprint|candidate)/);
    answer = await leg.connectIvr();
    assert.match(answer, /^m=audio \d+ UDP\/TLS\/RTP\/SAVPF 0 \d+/m, 'G.711 µ-law chosen over Opus');
    for (const line of [/^a=fingerprint:sha-256 /m, /^a=ice-ufrag:/m, /^a=candidate:.* typ host/m, /^a=rtcp-mux/m]) {
      assert.match(answer, line);
    }
    const offeredMid = /^a=mid:(\S+)/m.exec(offer)?.[1];
    assert.ok(offeredMid !== undefined);
    assert.match(answer, new RegExp(`^a=mid:${offeredMid}\\r?$`, 'm'));
  });

  test('ICE and DTLS connect, and a prompt rtpengine plays is heard in the browser', async () => {
    assert.ok(leg, 'the previous test opened the leg');
    const state = await page.evaluate<{ ice: string; connection: string }>(`(async () => {
      const pc = window.pc;
      await pc.setRemoteDescription({ type: 'answer', sdp: ${JSON.stringify(answer)} });
      const deadline = Date.now() + 10000;
      while (pc.connectionState !== 'connected' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      return { ice: pc.iceConnectionState, connection: pc.connectionState };
    })()`);
    assert.deepEqual(state, { ice: 'connected', connection: 'connected' });
    const before = await remoteLevel(500);
    await leg.play(prompt);
    const during = await remoteLevel(1500);
    assert.ok(before < -50, `silence before the prompt (${before.toFixed(1)} dBFS)`);
    assert.ok(during > -25, `the 1 kHz prompt is heard (${during.toFixed(1)} dBFS)`);
  });

  test("the browser's RFC 4733 digits reach the node's decoder", async () => {
    assert.ok(leg, 'the first test opened the leg');
    const digits: DtmfFromMedia[] = [];
    const stop = leg.onDtmf((d) => digits.push(d));
    const sent = await page.evaluate<boolean>(`(() => {
      const sender = window.pc.getSenders()[0]?.dtmf;
      if (!sender?.canInsertDTMF) return false;
      sender.insertDTMF('123', 120, 80);
      return true;
    })()`);
    assert.ok(sent, 'the browser can send RFC 4733 (telephone-event/8000 was negotiated)');
    const deadline = Date.now() + 5000;
    while (digits.length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    stop();
    assert.deepEqual(
      digits.map((d) => `${d.digit}/${d.via}`),
      ['1/rfc4733', '2/rfc4733', '3/rfc4733'],
    );
    await leg.close();
  });
});

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type { DtmfFromMedia, MediaLeg, MediaPort } from '../../src/ports/media.js';

/** A calling party: its SDP offer, and its keypad. */
export interface MediaCaller {
  offerSdp: string;
  /** Sends one RFC 4733 key press on `leg` (towards `answerSdp`, the SDP answer the caller got). */
  pressDigit(leg: MediaLeg, answerSdp: string, digit: string): Promise<void>;
  close(): void;
}

export interface MediaPortUnderTest {
  media: MediaPort;
  caller(): Promise<MediaCaller>;
  /** An audio file on this node and its length. */
  audio: { file: string; durationMs: number };
  /** The media engine dies (real: rtpengine is killed; fake: told to fail). Resolves when it is usable again. */
  kill(): Promise<void>;
  close?(): Promise<void>;
}

const SDP_SHAPE = /^v=0\r?\n[\s\S]*^c=IN IP4 \S+\r?$[\s\S]*^m=audio \d+ RTP\/AVP [\d ]+\r?$/m;
const tag = () => randomBytes(4).toString('hex');

/** Waits until `check` holds (polling), or fails with `what`. */
async function eventually(check: () => boolean, what: string, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The MediaPort's behaviour (media-node/src/ports/media.ts), run against rtpengine and a fake alike. */
export function mediaPortContract(name: string, make: () => MediaPortUnderTest | Promise<MediaPortUnderTest>): void {
  describe(`MediaPort contract: ${name}`, () => {
    let subject: MediaPortUnderTest;
    const cleanup: (() => unknown)[] = [];
    before(async () => {
      subject = await make();
    });
    after(async () => {
      for (const c of cleanup.splice(0)) await c();
      await subject?.close?.();
    });

    async function openAnswered(): Promise<{ leg: MediaLeg; answer: string; caller: MediaCaller }> {
      const caller = await subject.caller();
      cleanup.push(() => caller.close());
      const t = tag();
      const leg = await subject.media.openLeg({
        callId: `contract-${t}@test`,
        callerTag: `caller-${t}`,
        ivrTag: `ivr-${t}`,
        offerSdp: caller.offerSdp,
      });
      cleanup.push(() => leg.close());
      const answer = await leg.connectIvr();
      return { leg, answer, caller };
    }

    test('openLeg returns a leg whose offerTowardsPeer is an SDP offer', async () => {
      const caller = await subject.caller();
      cleanup.push(() => caller.close());
      const t = tag();
      const leg = await subject.media.openLeg({
        callId: `contract-${t}@test`,
        callerTag: `caller-${t}`,
        ivrTag: `ivr-${t}`,
        offerSdp: caller.offerSdp,
      });
      assert.match(leg.offerTowardsPeer, SDP_SHAPE);
      await leg.close();
    });

    test('connectIvr returns an SDP answer for the caller', async () => {
      const { leg, answer } = await openAnswered();
      assert.match(answer, SDP_SHAPE);
      await leg.close();
    });

    test('play resolves, once playback has started, with the file’s length', async () => {
      const { leg } = await openAnswered();
      const { durationMs } = await leg.play(subject.audio.file);
      assert.equal(typeof durationMs, 'number');
      assert.ok(
        Math.abs(durationMs - subject.audio.durationMs) <= 100,
        `duration ${durationMs}, file ${subject.audio.durationMs} ms`,
      );
      await leg.stopPlayback();
      await leg.close();
    });

    test('stopPlayback with nothing playing resolves', async () => {
      const { leg } = await openAnswered();
      await leg.stopPlayback();
      await leg.close();
    });

    test('close is idempotent, and a closed leg reports no failure', async () => {
      const { leg } = await openAnswered();
      const failures: string[] = [];
      leg.onFailure((r) => failures.push(r));
      await leg.close();
      await leg.close();
      await Promise.all([leg.close(), leg.close()]);
      assert.deepEqual(failures, []);
    });

    test('onDtmf: the caller’s digits arrive; after unsubscribe the listener hears nothing more', async () => {
      const { leg, answer, caller } = await openAnswered();
      const first: DtmfFromMedia[] = [];
      const stopFirst = leg.onDtmf((d) => first.push(d));
      await caller.pressDigit(leg, answer, '5');
      await eventually(() => first.length > 0, 'the first digit');
      assert.equal(first[0]!.digit, '5');
      assert.equal(first[0]!.via, 'rfc4733');
      assert.equal(typeof first[0]!.durationMs, 'number');
      stopFirst();
      // A new listener shows when the next digit has been delivered; the old one must not get it.
      const second: string[] = [];
      const stopSecond = leg.onDtmf((d) => second.push(d.digit));
      await caller.pressDigit(leg, answer, '#');
      await eventually(() => second.length > 0, 'the second digit');
      await new Promise((r) => setTimeout(r, 100));
      assert.deepEqual(second, ['#']);
      assert.deepEqual(
        first.map((d) => d.digit),
        ['5'],
      );
      stopSecond();
      await leg.close();
    });

    test('openOutboundLeg offers SDP towards the callee; accept takes the callee’s answer', async () => {
      const callee = await subject.caller();
      cleanup.push(() => callee.close());
      const leg = await subject.media.openOutboundLeg({ legId: `contract-${tag()}` });
      cleanup.push(() => leg.close());
      assert.match(leg.offerTowardsPeer, SDP_SHAPE);
      await leg.accept(callee.offerSdp.replace(/^o=.*$/m, 'o=callee 2 2 IN IP4 127.0.0.1'));
      await leg.close();
    });

    // Last: the engine dies under open legs.
    test('the engine dies: each open leg’s failure listeners fire with a reason', async () => {
      const a = await openAnswered();
      const b = await openAnswered();
      const closedBefore = await openAnswered();
      await closedBefore.leg.close();
      const reasons: string[] = [];
      const kinds: string[] = [];
      const both = Promise.all([
        new Promise<string>((r) => a.leg.onFailure(r)),
        new Promise<string>((r) => a.leg.onFailure(r)),
        new Promise<string>((r) =>
          b.leg.onFailure((reason, kind) => {
            kinds.push(kind);
            r(reason);
          }),
        ),
      ]);
      closedBefore.leg.onFailure((r) => reasons.push(`closed leg: ${r}`));
      // A listener that unsubscribed hears nothing.
      const unsubscribe = a.leg.onFailure((r) => reasons.push(`unsubscribed: ${r}`));
      unsubscribe();
      await subject.kill();
      const got = await Promise.race([
        both,
        new Promise<never>((_, reject) => setTimeout(() => reject(new Error('no failure notice in 5 s')), 5000)),
      ]);
      for (const reason of got) assert.ok(typeof reason === 'string' && reason.length > 0);
      assert.deepEqual(reasons, []);
      assert.deepEqual(kinds, ['mediaFailed'], 'an engine that dies is a media failure, not a timeout');
      // A failed leg may still be closed (the call flow does so on its way out).
      await a.leg.close();
      await b.leg.close();
    });
  });
}

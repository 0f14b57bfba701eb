import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, beforeEach, test } from 'node:test';
import { PollyClient, SynthesizeSpeechCommand } from '@aws-sdk/client-polly';
import type { PromptStore } from '@sipms/shared/ports/prompt-store';
import { sdkStreamMixin } from '@smithy/core/serde';
import { mockClient } from 'aws-sdk-client-mock';
import { auDurationMs } from '../src/media/au.js';
import { FileAudioSources } from '../src/media/audio-sources.js';
import { PollySpeech } from '../src/media/polly-speech.js';

const polly = mockClient(PollyClient);
const noPrompts = {} as PromptStore;
const dirs: string[] = [];

function streamOf(bytes: Buffer) {
  return sdkStreamMixin(Readable.from([bytes]));
}

async function sources() {
  const dir = await mkdtemp(join(tmpdir(), 'polly-test-'));
  dirs.push(dir);
  const speech = new PollySpeech(new PollyClient({ region: 'eu-central-1' }));
  return { audio: new FileAudioSources({ prompts: noPrompts, cacheDir: dir, speech }), speech };
}

beforeEach(() => polly.reset());
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

test('awstts: PCM at 8 kHz is requested and wrapped into a WAV; the second request is served from the cache', async () => {
  const pcm = Buffer.alloc(1600); // 100 ms of 16-bit samples
  for (let i = 0; i < 800; i++) pcm.writeInt16LE(Math.round(Math.sin(i / 3) * 8000), i * 2);
  polly.on(SynthesizeSpeechCommand).callsFake(() => ({ AudioStream: streamOf(pcm), ContentType: 'audio/pcm' }));
  const { audio } = await sources();
  const req = { text: 'Hello caller', voice: 'Joanna', language: 'en-US', engine: 'neural' };
  const path = await audio.speech('t1', req);
  const input = polly.commandCalls(SynthesizeSpeechCommand)[0]!.args[0].input;
  assert.deepEqual(input, {
    Text: 'Hello caller',
    TextType: 'text',
    VoiceId: 'Joanna',
    LanguageCode: 'en-US',
    Engine: 'neural',
    OutputFormat: 'pcm',
    SampleRate: '8000',
  });
  // Played as 8 kHz µ-law AU (what rtpengine paces evenly), converted from Polly's PCM.
  const au = await readFile(path);
  assert.equal(au.toString('ascii', 0, 4), '.snd');
  assert.equal(auDurationMs(au), 100);
  assert.equal(await audio.speech('t1', req), path, 'same parameters, same cached file');
  assert.equal(polly.commandCalls(SynthesizeSpeechCommand).length, 1, 'Polly is not asked twice');
});

test('every parameter is part of the cache key; mp3 is kept as an .mp3 file', async () => {
  const mp3 = execFileSync('ffmpeg', ['-loglevel', 'error', '-f', 'lavfi', '-i', 'sine=f=500:d=0.3', '-f', 'mp3', '-']);
  polly.on(SynthesizeSpeechCommand).callsFake(() => ({ AudioStream: streamOf(mp3) }));
  const { audio } = await sources();
  const a = await audio.speech('t1', { text: 'Hi', voice: 'Joanna', outputFormat: 'mp3' });
  const b = await audio.speech('t1', { text: 'Hi', voice: 'Matthew', outputFormat: 'mp3' });
  const c = await audio.speech('t1', { text: 'Hi', voice: 'Joanna', outputFormat: 'mp3', engine: 'neural' });
  assert.ok(a.endsWith('.au'), 'the mp3 was converted for playing');
  assert.equal(new Set([a, b, c]).size, 3);
  assert.equal(polly.commandCalls(SynthesizeSpeechCommand)[0]!.args[0].input.SampleRate, '22050');
});

test('a voice is chosen from LanguageCode when none is given; SSML is passed as SSML', async () => {
  polly.on(SynthesizeSpeechCommand).callsFake(() => ({ AudioStream: streamOf(Buffer.alloc(320)) }));
  const { audio } = await sources();
  await audio.speech('t1', { text: '<speak>Hallo</speak>', language: 'de-DE', ssml: true });
  const input = polly.commandCalls(SynthesizeSpeechCommand)[0]!.args[0].input;
  assert.equal(input.VoiceId, 'Vicki');
  assert.equal(input.TextType, 'ssml');
});

test('a Polly error rejects with the service error named (the IVR turns it into ivrFailed)', async () => {
  const err = Object.assign(new Error('Voice Bogus is not available'), { name: 'InvalidParameterValueException' });
  polly.on(SynthesizeSpeechCommand).rejects(err);
  const { audio } = await sources();
  await assert.rejects(audio.speech('t1', { text: 'x', voice: 'Bogus' }), /Polly SynthesizeSpeech failed: .*Bogus/);
  // Nothing was cached: the next try asks again.
  await assert.rejects(audio.speech('t1', { text: 'x', voice: 'Bogus' }));
  assert.equal(polly.commandCalls(SynthesizeSpeechCommand).length, 2);
});

test('speech marks (OutputFormat json) are refused: not audio a call can play', async () => {
  const { speech } = await sources();
  assert.throws(() => speech.input({ text: 'x', outputFormat: 'json' }), /not audio/);
});

test("the deployment's voice, engine and language (POLLY_*) fill a phrase that names none; another language keeps its own voice, without the engine", () => {
  const speech = new PollySpeech(new PollyClient({ region: 'eu-central-1' }), undefined, {
    voice: 'Matthew',
    engine: 'neural',
    language: 'en-US',
  });
  const plain = speech.input({ text: 'hello' });
  assert.equal(plain.VoiceId, 'Matthew');
  assert.equal(plain.Engine, 'neural');
  const german = speech.input({ text: 'hallo', language: 'de-DE' });
  assert.equal(german.VoiceId, 'Vicki');
  assert.equal(german.Engine, undefined, "the deployment's engine is for its own voice only");
  const chosen = speech.input({ text: 'hi', voice: 'Amy', engine: 'standard' });
  assert.equal(chosen.VoiceId, 'Amy');
  assert.equal(chosen.Engine, 'standard');
  assert.notDeepEqual(
    speech.cacheKey({ text: 'hello' }),
    new PollySpeech(new PollyClient({})).cacheKey({ text: 'hello' }),
  );
});

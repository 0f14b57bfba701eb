import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, beforeEach, test } from 'node:test';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { promptStoreFromSpec } from '../src/adapters/prompt-store-from-spec.js';
import { S3PromptStore } from '../src/adapters/s3-prompt-store.js';

const s3 = mockClient(S3Client);
let cacheDir: string;

// The part of the SDK's streaming body the adapter uses.
// biome-ignore lint/suspicious/noExplicitAny: a stand-in for the SDK's stream type
const body = (text: string): any => ({ transformToByteArray: async () => new Uint8Array(Buffer.from(text)) });
const s3Error = (name: string, httpStatusCode: number) =>
  new S3ServiceException({ name, $fault: 'client', $metadata: { httpStatusCode } });

beforeEach(async () => {
  s3.reset();
  cacheDir = await mkdtemp(join(tmpdir(), 's3-prompts-'));
});
after(() => rm(cacheDir, { recursive: true, force: true }));

const store = () => new S3PromptStore(new S3Client({ region: 'eu-west-1' }), { bucket: 'b', cacheDir });

test('put stores under <prefix><tenantId>/<name> with the content type', async () => {
  s3.on(PutObjectCommand).resolves({});
  await store().put('t1', 'welcome', Buffer.from('RIFF'), 'audio/wav');
  const input = s3.commandCalls(PutObjectCommand)[0]!.args[0].input;
  assert.equal(input.Bucket, 'b');
  assert.equal(input.Key, 'prompts/t1/welcome');
  assert.equal(input.ContentType, 'audio/wav');
  assert.equal(input.Tagging, undefined, 'an upload is kept until deleted');
});

test("a recording is tagged for the bucket's recording retention rule", async () => {
  s3.on(PutObjectCommand).resolves({});
  await store().put('t1', 'msg-1', Buffer.from('RIFF'), 'audio/wav', 'recording');
  assert.equal(s3.commandCalls(PutObjectCommand)[0]!.args[0].input.Tagging, 'sipms-kind=recording');
});

test('get tries the exact name, then known extensions, and returns the content type', async () => {
  s3.on(GetObjectCommand, { Key: 'prompts/t1/hello' }).rejects(s3Error('NoSuchKey', 404));
  s3.on(GetObjectCommand, { Key: 'prompts/t1/hello.wav' }).resolves({ Body: body('wav!'), ContentType: 'audio/wav' });
  const file = await store().get('t1', 'hello');
  assert.deepEqual(file, { bytes: Buffer.from('wav!'), contentType: 'audio/wav' });
  s3.on(GetObjectCommand, { Key: 'prompts/t1/none.mp3' }).rejects(s3Error('NoSuchKey', 404));
  s3.on(GetObjectCommand, { Key: 'prompts/t1/none' }).rejects(s3Error('NoSuchKey', 404));
  s3.on(GetObjectCommand, { Key: 'prompts/t1/none.wav' }).rejects(s3Error('NoSuchKey', 404));
  assert.equal(await store().get('t1', 'none'), undefined);
});

test('other S3 errors are not mistaken for "missing"', async () => {
  s3.on(GetObjectCommand).rejects(s3Error('AccessDenied', 403));
  await assert.rejects(store().get('t1', 'x'), /AccessDenied/);
});

test('delete removes the stored key and says whether there was one', async () => {
  s3.on(HeadObjectCommand).rejects(s3Error('NotFound', 404));
  s3.on(HeadObjectCommand, { Key: 'prompts/t1/a.mp3' }).resolves({});
  s3.on(DeleteObjectCommand).resolves({});
  assert.equal(await store().delete('t1', 'a'), true);
  assert.equal(s3.commandCalls(DeleteObjectCommand)[0]!.args[0].input.Key, 'prompts/t1/a.mp3');
  assert.equal(await store().delete('t1', 'b'), false);
  assert.equal(s3.commandCalls(DeleteObjectCommand).length, 1);
});

test("list pages by name within the tenant's prefix only", async () => {
  s3.on(ListObjectsV2Command).resolves({
    IsTruncated: true,
    Contents: [
      { Key: 'prompts/t1/a.wav', Size: 10, LastModified: new Date('2026-01-01T00:00:00Z') },
      { Key: 'prompts/t1/b.wav', Size: 20, LastModified: new Date('2026-01-02T00:00:00Z') },
    ],
  });
  const page = await store().list('t1', { limit: 2, cursor: 'Zed' });
  assert.deepEqual(page, {
    prompts: [
      { name: 'a.wav', size: 10, updatedAt: '2026-01-01T00:00:00.000Z' },
      { name: 'b.wav', size: 20, updatedAt: '2026-01-02T00:00:00.000Z' },
    ],
    nextCursor: 'b.wav',
  });
  const input = s3.commandCalls(ListObjectsV2Command)[0]!.args[0].input;
  assert.deepEqual([input.Prefix, input.MaxKeys, input.StartAfter], ['prompts/t1/', 2, 'prompts/t1/Zed']);
  s3.on(ListObjectsV2Command).resolves({ IsTruncated: false, Contents: [] });
  assert.deepEqual(await store().list('t1', { limit: 2 }), { prompts: [] });
});

test('localPath downloads once and reuses the cache while the ETag is unchanged', async () => {
  s3.on(GetObjectCommand, { Key: 'prompts/t1/w' }).resolves({ Body: body('v1'), ETag: '"e1"' });
  const first = await store().localPath('t1', 'w');
  assert.equal(first, join(cacheDir, 't1', 'w'));
  assert.equal(await readFile(first!, 'utf8'), 'v1');
  assert.equal(s3.commandCalls(GetObjectCommand)[0]!.args[0].input.IfNoneMatch, undefined);

  // Unchanged: S3 answers 304 to If-None-Match, nothing is transferred, the cached file is used.
  s3.on(GetObjectCommand, { Key: 'prompts/t1/w', IfNoneMatch: '"e1"' }).rejects(s3Error('NotModified', 304));
  assert.equal(await store().localPath('t1', 'w'), first);
  assert.equal(s3.commandCalls(GetObjectCommand)[1]!.args[0].input.IfNoneMatch, '"e1"');
  assert.equal(await readFile(first!, 'utf8'), 'v1');

  // Changed: a new ETag replaces the cached copy.
  s3.reset();
  s3.on(GetObjectCommand, { Key: 'prompts/t1/w' }).resolves({ Body: body('v2'), ETag: '"e2"' });
  assert.equal(await store().localPath('t1', 'w'), first);
  assert.equal(await readFile(first!, 'utf8'), 'v2');

  // Deleted in S3: the stale copy goes too.
  s3.reset();
  s3.on(GetObjectCommand).rejects(s3Error('NoSuchKey', 404));
  assert.equal(await store().localPath('t1', 'w'), undefined);
  await assert.rejects(readFile(first!), /ENOENT/);
});

test('PROMPT_STORE selects the adapter', () => {
  const client = new S3Client({ region: 'eu-west-1' });
  assert.equal(promptStoreFromSpec('dir:/tmp/x', { s3: () => client, cacheDir }).constructor.name, 'FsPromptStore');
  assert.equal(promptStoreFromSpec('s3:bucket/p', { s3: () => client, cacheDir }).constructor.name, 'S3PromptStore');
  assert.throws(() => promptStoreFromSpec('ftp:x', { s3: () => client, cacheDir }), /dir:<path> or s3:<bucket>/);
});

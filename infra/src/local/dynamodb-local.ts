import { spawn } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { CreateTableCommand, DescribeTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { boundedRequests } from '@sipms/shared/aws/clients';
import { createTableInput } from '@sipms/shared/data/table-design';

/**
 * dynalite reads through LevelDB's asynchronous get: one round trip through libuv's thread pool per read, and
 * every request reads its table's description and, for a write with a condition or an update, the item. On
 * this kind of machine those hand-offs between threads were a fifth of dynalite's CPU per request (the
 * requests of a `bench:full-call` run, replayed against a fresh dynalite: 0.73 → 0.60 ms each; the benchmark
 * at 60 calls/s, back to back: 10.4 → 8.6 ms of dynalite's CPU per call).
 * classic-level's synchronous get answers the same read on the main thread (from LevelDB's memtable, its block
 * cache or the page cache; a read from disk, after a restart, holds the loop for that long). dynalite never
 * depends on the order of two operations it has not awaited (it locks an item across its read and write, and
 * the pool ran reads in any order anyway), so answers do not change.
 * classic-level is resolved the way dynalite's own `require('level')` resolves it, so the class patched is
 * the one dynalite opens; one without `_getSync` stops start-up rather than running slower unnoticed.
 */
function synchronousReads(dynalite: string): string {
  return [
    "{const {createRequire:r}=require('node:module');",
    `const C=r(r(${JSON.stringify(dynalite)}).resolve('level'))('classic-level').ClassicLevel;`,
    "if(typeof C.prototype._getSync!=='function')throw new Error('classic-level has no _getSync: dynalite cannot read synchronously');",
    'C.prototype._get=async function(key,options){return this._getSync(key,options)};}',
  ].join('');
}

/**
 * The DynamoDB API on this machine: dynalite, persisted with LevelDB under `dataDir` so tenants survive a
 * restart, and the table created from the same definition the CDK stack uses.
 */
export async function startDynamoDbLocal(
  dataDir: string,
  tableName: string,
): Promise<{ endpoint: string; close(): Promise<void> }> {
  await mkdir(dataDir, { recursive: true });
  // Its own process: LevelDB and request handling get a core of their own instead of sharing the event
  // loop with the dispatcher and the API handlers.
  const dynalite = createRequire(import.meta.url).resolve('dynalite');
  const options = { path: dataDir, createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 };
  // dynalite's own API, listening on port 0: the kernel picks a free port and it is taken at once. (Its CLI
  // reads port 0 as "4567", and a port probed free beforehand can be taken by then, e.g. by the API's.)
  // The child exits when its stdin closes, i.e. when this process is gone, even after a SIGKILL.
  const boot = [
    "process.stdin.on('end',()=>process.exit(0));process.stdin.resume();",
    synchronousReads(dynalite),
    `const s=require(${JSON.stringify(dynalite)})(${JSON.stringify(options)});`,
    "s.listen(0,'127.0.0.1',()=>console.log('Dynalite listening at: http://127.0.0.1:'+s.address().port+' (reads: synchronous)'));",
  ].join('');
  // Its own process group: a Ctrl-C for `npm start` reaches the stack, which stops the media nodes (they
  // still write their sessions' end) and only then this.
  const child = spawn(process.execPath, ['-e', boot], {
    stdio: ['pipe', 'pipe', 'pipe'],
    detached: true,
  });
  let output = '';
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`dynalite did not start: ${output}`)), 10_000);
    const onData = (d: Buffer) => {
      output += d.toString('utf8');
      const m = /listening at: \S+:(\d+) \(reads: synchronous\)/.exec(output);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`dynalite exited (${code}): ${output}`));
    });
  });
  const endpoint = `http://127.0.0.1:${port}`;
  const client = new DynamoDBClient({
    endpoint,
    region: 'local',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    requestHandler: boundedRequests(),
  });
  try {
    await client.send(new DescribeTableCommand({ TableName: tableName }));
  } catch (err) {
    if ((err as { name?: string }).name !== 'ResourceNotFoundException') throw err;
    await client.send(new CreateTableCommand(createTableInput(tableName)));
  } finally {
    client.destroy();
  }
  return {
    endpoint,
    close: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const gone = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
      await gone;
      clearTimeout(timer);
    },
  };
}

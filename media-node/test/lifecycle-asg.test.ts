import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, beforeEach, test } from 'node:test';
import {
  AutoScalingClient,
  CompleteLifecycleActionCommand,
  DescribeAutoScalingInstancesCommand,
} from '@aws-sdk/client-auto-scaling';
import { createLogger } from '@sipms/shared/util/logger';
import { mockClient } from 'aws-sdk-client-mock';
import { type DrainContext, watchAsgLifecycle } from '../src/lifecycle/asg-lifecycle.js';
import { Imdsv2Client } from '../src/lifecycle/imds-client.js';

/** A local imitation of IMDSv2: token PUT, token-checked GETs, a settable lifecycle state. */
class FakeImds {
  server!: Server;
  endpoint = '';
  tokens = new Set<string>();
  state: string | undefined = 'InService';
  instanceId = 'i-0123456789abcdef0';
  requests: string[] = [];

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      this.requests.push(`${req.method} ${req.url}`);
      if (req.method === 'PUT' && req.url === '/latest/api/token') {
        const ttl = Number(req.headers['x-aws-ec2-metadata-token-ttl-seconds']);
        if (!(ttl >= 1 && ttl <= 21600)) return void res.writeHead(400).end();
        const token = randomUUID();
        this.tokens.add(token);
        return void res.writeHead(200, { 'content-type': 'text/plain' }).end(token);
      }
      if (req.method !== 'GET') return void res.writeHead(405).end();
      if (!this.tokens.has(String(req.headers['x-aws-ec2-metadata-token']))) return void res.writeHead(401).end();
      const value =
        req.url === '/latest/meta-data/instance-id'
          ? this.instanceId
          : req.url === '/latest/meta-data/autoscaling/target-lifecycle-state'
            ? this.state
            : undefined;
      if (value === undefined) return void res.writeHead(404).end();
      res.writeHead(200, { 'content-type': 'text/plain' }).end(value);
    });
    await new Promise<void>((ok) => this.server.listen(0, '127.0.0.1', ok));
    this.endpoint = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }
  reset(): void {
    this.state = 'InService';
    this.requests = [];
    this.tokens.clear();
  }
  stateReads(): number {
    return this.requests.filter((r) => r.endsWith('/target-lifecycle-state')).length;
  }
}

const imdsServer = new FakeImds();
const asMock = mockClient(AutoScalingClient);
const logger = createLogger({ test: 'lifecycle' }, 'silent');
const autoscaling = new AutoScalingClient({
  region: 'us-east-1',
  credentials: { accessKeyId: 'x', secretAccessKey: 'x' },
});

async function until(check: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

before(() => imdsServer.start());
after(() => new Promise<void>((ok) => imdsServer.server.close(() => ok())));
beforeEach(() => {
  imdsServer.reset();
  asMock.reset();
  asMock.on(DescribeAutoScalingInstancesCommand).resolves({
    AutoScalingInstances: [
      {
        InstanceId: imdsServer.instanceId,
        AutoScalingGroupName: 'media-nodes-asg',
        AvailabilityZone: 'us-east-1a',
        LifecycleState: 'Terminating:Wait',
        HealthStatus: 'HEALTHY',
        ProtectedFromScaleIn: false,
      },
    ],
  });
  asMock.on(CompleteLifecycleActionCommand).resolves({});
});

test('IMDSv2 client: fetches a token first, sends it on every GET, answers undefined on 404', async () => {
  const imds = new Imdsv2Client({ endpoint: imdsServer.endpoint });
  assert.equal(await imds.get('latest/meta-data/instance-id'), imdsServer.instanceId);
  assert.equal(await imds.get('latest/meta-data/nothing-here'), undefined);
  assert.deepEqual(imdsServer.requests.slice(0, 2), ['PUT /latest/api/token', 'GET /latest/meta-data/instance-id']);
  assert.equal(imdsServer.requests.filter((r) => r.startsWith('PUT')).length, 1, 'the token is reused');
});

test('IMDSv2 client: a token IMDS no longer accepts is replaced once', async () => {
  const imds = new Imdsv2Client({ endpoint: imdsServer.endpoint });
  await imds.get('latest/meta-data/instance-id');
  imdsServer.tokens.clear(); // e.g. the instance was stopped and started
  assert.equal(await imds.get('latest/meta-data/instance-id'), imdsServer.instanceId);
  assert.equal(imdsServer.requests.filter((r) => r.startsWith('PUT')).length, 2);
});

test('in service: polls, never drains, never completes; stop ends polling', async () => {
  let drained = 0;
  const stop = watchAsgLifecycle({
    imds: new Imdsv2Client({ endpoint: imdsServer.endpoint }),
    autoscaling,
    hookName: 'drain',
    drain: async () => {
      drained++;
    },
    drainTimeoutMs: 1_000,
    logger,
    pollMs: 20,
  });
  await until(() => imdsServer.stateReads() >= 3, 'three polls');
  await stop();
  const reads = imdsServer.stateReads();
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(imdsServer.stateReads(), reads, 'no polls after stop');
  assert.equal(drained, 0);
  assert.equal(asMock.calls().length, 0);
});

test('Terminated: drains first, then completes the hook with CONTINUE for this instance and its group', async () => {
  const order: string[] = [];
  asMock.on(CompleteLifecycleActionCommand).callsFake(async () => {
    order.push('complete');
    return {};
  });
  const stop = watchAsgLifecycle({
    imds: new Imdsv2Client({ endpoint: imdsServer.endpoint }),
    autoscaling,
    hookName: 'sipms-drain',
    drain: async () => {
      order.push('drain-start');
      await new Promise((r) => setTimeout(r, 50));
      order.push('drain-end');
    },
    drainTimeoutMs: 5_000,
    logger,
    pollMs: 20,
  });
  await until(() => imdsServer.stateReads() >= 2, 'polling');
  assert.deepEqual(order, []);
  imdsServer.state = 'Terminated';
  await until(() => (order as string[]).includes('complete'), 'CompleteLifecycleAction');
  await stop();

  assert.deepEqual(order, ['drain-start', 'drain-end', 'complete']);
  const calls = asMock.commandCalls(CompleteLifecycleActionCommand);
  assert.equal(calls.length, 1);
  assert.deepEqual(calls[0]!.args[0].input, {
    AutoScalingGroupName: 'media-nodes-asg',
    LifecycleHookName: 'sipms-drain',
    InstanceId: imdsServer.instanceId,
    LifecycleActionResult: 'CONTINUE',
  });
  assert.deepEqual(asMock.commandCalls(DescribeAutoScalingInstancesCommand)[0]!.args[0].input, {
    InstanceIds: [imdsServer.instanceId],
  });
  const reads = imdsServer.stateReads();
  await new Promise((r) => setTimeout(r, 80));
  assert.equal(imdsServer.stateReads(), reads, 'polling ends once the hook is handled');
});

test('a drain that never ends is cut off at the bound and the hook still completes', async () => {
  let seen: DrainContext | undefined;
  const started = Date.now();
  imdsServer.state = 'Terminated';
  const stop = watchAsgLifecycle({
    imds: new Imdsv2Client({ endpoint: imdsServer.endpoint }),
    autoscaling,
    hookName: 'drain',
    groupName: 'given-group',
    drain: (ctx) => {
      seen = ctx;
      return new Promise<void>(() => {});
    },
    drainTimeoutMs: 150,
    logger,
    pollMs: 20,
  });
  await until(() => asMock.commandCalls(CompleteLifecycleActionCommand).length === 1, 'completion');
  await stop();
  assert.ok(Date.now() - started >= 140, 'waited for the bound');
  assert.equal(seen?.signal.aborted, true, 'the drain is told its time is up');
  assert.ok(seen!.deadline >= started + 150);
  assert.equal(
    asMock.commandCalls(CompleteLifecycleActionCommand)[0]!.args[0].input.AutoScalingGroupName,
    'given-group',
  );
  assert.equal(asMock.commandCalls(DescribeAutoScalingInstancesCommand).length, 0, 'no lookup when the group is given');
});

test('a failing drain and a failing first CompleteLifecycleAction still end in completion', async () => {
  asMock.on(CompleteLifecycleActionCommand).rejectsOnce(new Error('Throttling')).resolves({});
  imdsServer.state = 'Terminated';
  const stop = watchAsgLifecycle({
    imds: new Imdsv2Client({ endpoint: imdsServer.endpoint }),
    autoscaling,
    hookName: 'drain',
    drain: async () => {
      throw new Error('drain broke');
    },
    drainTimeoutMs: 1_000,
    logger,
    pollMs: 20,
    retryDelayMs: 10,
  });
  await until(() => asMock.commandCalls(CompleteLifecycleActionCommand).length === 2, 'second attempt');
  await stop();
});

test('outside an Auto Scaling group (IMDS 404) and while IMDS is down the watcher keeps polling quietly', async () => {
  imdsServer.state = undefined;
  let drained = 0;
  const stop = watchAsgLifecycle({
    imds: new Imdsv2Client({ endpoint: imdsServer.endpoint }),
    autoscaling,
    hookName: 'drain',
    drain: async () => {
      drained++;
    },
    drainTimeoutMs: 1_000,
    logger,
    pollMs: 20,
  });
  await until(() => imdsServer.stateReads() >= 3, 'polls on 404');
  await stop();

  const down = watchAsgLifecycle({
    imds: new Imdsv2Client({ endpoint: 'http://127.0.0.1:1', timeoutMs: 200 }),
    autoscaling,
    hookName: 'drain',
    drain: async () => {
      drained++;
    },
    drainTimeoutMs: 1_000,
    logger,
    pollMs: 20,
  });
  await new Promise((r) => setTimeout(r, 100));
  await down();
  assert.equal(drained, 0);
  assert.equal(asMock.calls().length, 0);
});

import {
  AutoScalingClient,
  CompleteLifecycleActionCommand,
  DescribeAutoScalingInstancesCommand,
} from '@aws-sdk/client-auto-scaling';
import { boundedRequests } from '@sipms/shared/aws/clients';
import type { Logger } from '@sipms/shared/util/logger';
import { type ImdsClient, Imdsv2Client } from './imds-client.js';

/**
 * Drains a media node before its Auto Scaling group terminates it. The group's termination lifecycle
 * hook holds the instance in `Terminating:Wait`; IMDS then reports `Terminated` as the instance's
 * target lifecycle state. On that reading the node drains (stops taking calls, lets the calls it
 * carries end, bounded) and completes the hook with CONTINUE so the group goes on terminating it.
 */

export const TARGET_LIFECYCLE_STATE_PATH = 'latest/meta-data/autoscaling/target-lifecycle-state';
export const INSTANCE_ID_PATH = 'latest/meta-data/instance-id';

export interface DrainContext {
  /** Epoch ms by which draining must be over; the hook is completed then, calls or not. */
  deadline: number;
  /** Aborted at the deadline. */
  signal: AbortSignal;
}

export interface AsgLifecycleOptions {
  imds: ImdsClient;
  autoscaling: Pick<AutoScalingClient, 'send'>;
  /** The termination hook's name (the CDK app passes it as ASG_LIFECYCLE_HOOK_NAME). */
  hookName: string;
  /** The group's name; looked up with DescribeAutoScalingInstances when not given. */
  groupName?: string;
  /** Stop taking new calls and resolve once the node's calls have ended. */
  drain: (ctx: DrainContext) => Promise<void>;
  /** Upper bound on draining; keep it below the hook's heartbeat timeout. */
  drainTimeoutMs: number;
  logger: Logger;
  pollMs?: number;
  /** Attempts at CompleteLifecycleAction before giving up (the hook's default result applies then). */
  completeAttempts?: number;
  retryDelayMs?: number;
}

/** Stops polling; resolves once an in-flight poll (or a drain already under way) has finished. */
export type StopWatching = () => Promise<void>;

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        resolve();
      },
      { once: true },
    );
  });

export function watchAsgLifecycle(opts: AsgLifecycleOptions): StopWatching {
  const pollMs = opts.pollMs ?? 5_000;
  const log = opts.logger;
  const stopped = new AbortController();
  let lastProblem = '';

  const readTargetState = async (): Promise<string | undefined> => {
    try {
      const state = (await opts.imds.get(TARGET_LIFECYCLE_STATE_PATH))?.trim();
      lastProblem = '';
      return state;
    } catch (err) {
      // Log a failing IMDS once per distinct problem, not every poll.
      const problem = String((err as Error).message ?? err);
      if (problem !== lastProblem) log.warn({ err }, 'cannot read the target lifecycle state from IMDS');
      lastProblem = problem;
      return undefined;
    }
  };

  const loop = async (): Promise<void> => {
    while (!stopped.signal.aborted) {
      const state = await readTargetState();
      if (state === 'Terminated' && !stopped.signal.aborted) {
        await drainAndComplete(opts);
        return;
      }
      await sleep(pollMs, stopped.signal);
    }
  };

  const running = loop().catch((err) => log.error({ err }, 'lifecycle watcher failed'));
  return async () => {
    stopped.abort();
    await running;
  };
}

async function boundedDrain(opts: AsgLifecycleOptions): Promise<void> {
  const deadline = Date.now() + opts.drainTimeoutMs;
  const bound = new AbortController();
  const timer = setTimeout(() => bound.abort(), opts.drainTimeoutMs);
  const started = Date.now();
  try {
    const outcome = await Promise.race([
      opts.drain({ deadline, signal: bound.signal }).then(
        () => 'drained' as const,
        (err: unknown) => {
          opts.logger.error({ err }, 'drain failed; completing the lifecycle action anyway');
          return 'failed' as const;
        },
      ),
      new Promise<'timeout'>((resolve) => bound.signal.addEventListener('abort', () => resolve('timeout'))),
    ]);
    opts.logger.info({ outcome, ms: Date.now() - started }, 'drain finished');
  } finally {
    clearTimeout(timer);
    bound.abort();
  }
}

async function drainAndComplete(opts: AsgLifecycleOptions): Promise<void> {
  const log = opts.logger;
  log.info({ hook: opts.hookName, drainTimeoutMs: opts.drainTimeoutMs }, 'instance is being terminated: draining');
  await boundedDrain(opts);

  const attempts = opts.completeAttempts ?? 5;
  for (let attempt = 1; attempt <= attempts; attempt++) {
    try {
      const instanceId = (await opts.imds.get(INSTANCE_ID_PATH))?.trim();
      if (!instanceId) throw new Error('IMDS has no instance-id');
      const groupName = opts.groupName ?? (await groupOf(opts.autoscaling, instanceId));
      await opts.autoscaling.send(
        new CompleteLifecycleActionCommand({
          AutoScalingGroupName: groupName,
          LifecycleHookName: opts.hookName,
          InstanceId: instanceId,
          LifecycleActionResult: 'CONTINUE',
        }),
      );
      log.info({ instanceId, groupName, hook: opts.hookName }, 'lifecycle action completed (CONTINUE)');
      return;
    } catch (err) {
      log.warn({ err, attempt }, 'CompleteLifecycleAction failed');
      if (attempt < attempts) await sleep((opts.retryDelayMs ?? 1_000) * attempt);
    }
  }
  log.error({ hook: opts.hookName }, 'could not complete the lifecycle action; the hook times out with its default');
}

async function groupOf(autoscaling: Pick<AutoScalingClient, 'send'>, instanceId: string): Promise<string> {
  const out = await autoscaling.send(new DescribeAutoScalingInstancesCommand({ InstanceIds: [instanceId] }));
  const name = out.AutoScalingInstances?.[0]?.AutoScalingGroupName;
  if (!name) throw new Error(`instance ${instanceId} is not in an Auto Scaling group`);
  return name;
}

/**
 * The watcher with the real clients, for the media node's composition root on EC2. Call it only when
 * the node runs in an Auto Scaling group (the CDK app sets ASG_LIFECYCLE_HOOK_NAME and DRAIN_TIMEOUT_MS).
 */
export function watchAsgLifecycleOnEc2(
  opts: Omit<AsgLifecycleOptions, 'imds' | 'autoscaling'> & { region?: string },
): StopWatching {
  const { region, ...rest } = opts;
  return watchAsgLifecycle({
    ...rest,
    imds: new Imdsv2Client(),
    autoscaling: new AutoScalingClient({
      maxAttempts: 3,
      requestHandler: boundedRequests(),
      ...(region ? { region } : {}),
    }),
  });
}

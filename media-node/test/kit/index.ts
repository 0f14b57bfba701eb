import assert from 'node:assert/strict';
import type { CallbackBody } from '@sipms/shared/contracts/callbacks';
import { NodeCommand } from '@sipms/shared/contracts/node-commands';
import type { TenantRecord } from '@sipms/shared/domain/tenant';
import type { FlowDeps } from '../../src/call/flows/flow-deps.js';
import { InboundCallFlow } from '../../src/call/flows/inbound-call-flow.js';
import { OutboundCallFlow } from '../../src/call/flows/outbound-call-flow.js';
import { CallLimits, type LimitRefusal, type TenantLimits } from '../../src/call/limits/call-limits.js';
import { TenantProfiles } from '../../src/call/limits/tenant-profiles.js';
import { Connections } from '../../src/call/live/connections.js';
import { LiveCommands } from '../../src/call/live/live-commands.js';
import { LiveSessions } from '../../src/call/live/live-sessions.js';
import {
  FakeAudioSources,
  FakeSessionRepository,
  FakeTenantDirectory,
  FakeUsageMeter,
  tenantFixture,
} from './call-data.js';
import { FakeCallbacks } from './callbacks.js';
import { FakeCallSlots } from './limits.js';
import { RecordingLogger } from './logger.js';
import { FakeMedia } from './media.js';
import { RecordingMetrics } from './metrics.js';
import { FakeInboundCall, FakeSignaling, type InviteOptions } from './signaling.js';

export * from './call-data.js';
export * from './callbacks.js';
export * from './limits.js';
export * from './logger.js';
export * from './media.js';
export * from './metrics.js';
export * from './signaling.js';
export * from './wait.js';

/** The real CallLimits behind a counter of the slots each tenant holds (a slot must be released in every path). */
export class TrackedLimits {
  readonly held = new Map<string, number>();
  readonly refusals: LimitRefusal[] = [];
  acquired = 0;
  released = 0;
  /** Admissions that found the node's copy of the tenant's profile behind. */
  profileChanges = 0;

  constructor(readonly inner: CallLimits) {}

  async acquire(
    tenant: { tenantId: string; limits?: Partial<TenantLimits> },
    options?: { countAttempt?: boolean },
  ): Promise<LimitRefusal | undefined> {
    return this.track(tenant.tenantId, await this.inner.acquire(tenant, options));
  }

  async admitInbound(
    tenant: { tenantId: string; limits?: Partial<TenantLimits> },
    profileVersion: number,
  ): Promise<LimitRefusal | 'profileChanged' | undefined> {
    const admitted = await this.inner.admitInbound(tenant, profileVersion);
    if (admitted === 'profileChanged') {
      this.profileChanges += 1;
      return admitted;
    }
    return this.track(tenant.tenantId, admitted);
  }

  private track(tenantId: string, refused: LimitRefusal | undefined): LimitRefusal | undefined {
    if (refused) this.refusals.push(refused);
    else {
      this.acquired += 1;
      this.held.set(tenantId, (this.held.get(tenantId) ?? 0) + 1);
    }
    return refused;
  }

  release(tenantId: string): void {
    this.released += 1;
    this.held.set(tenantId, (this.held.get(tenantId) ?? 0) - 1);
    this.inner.release(tenantId);
  }

  heldBy(tenantId: string): number {
    return this.held.get(tenantId) ?? 0;
  }
}

export interface FlowKitOptions {
  nodeId?: string;
  /** Overrides of the default tenant (tenantFixture()). */
  tenant?: Partial<TenantRecord>;
  /** The node's default limits (tenants may carry their own as `limits`); default 100 and 100. */
  limits?: Partial<TenantLimits>;
  /** The longest a callback request waits for its reply (the session asks for seconds); default 500 ms. */
  callbackMaxDeadlineMs?: number;
  /** How long each played file lasts (ms); default 10. */
  playDurationMs?: number;
  /** The outbound address policy for called parties' media (default: none, not checked). */
  destinationPolicy?: (address: string) => string | undefined;
  /** The operator's allow-lists of destinations (default: none, anything). */
  destinationAllowed?: FlowDeps['destinationAllowed'];
  /** The node's overload guard (default: none, every call taken). */
  overload?: FlowDeps['overload'];
}

/**
 * Every port of the call core faked, wired as media-node.ts wires the real adapters: FlowDeps, the inbound
 * and outbound flows, Connections and LiveCommands over one LiveSessions, and the real CallLimits over the
 * fake rate counter and active-call store.
 */
export class FlowKit {
  readonly nodeId: string;
  readonly tenant: TenantRecord;
  readonly signaling = new FakeSignaling();
  readonly media = new FakeMedia();
  readonly callbacks: FakeCallbacks;
  readonly sessions = new FakeSessionRepository();
  readonly tenants = new FakeTenantDirectory();
  readonly audio = new FakeAudioSources();
  readonly usage = new FakeUsageMeter();
  readonly active = new FakeCallSlots();
  readonly logger = new RecordingLogger();
  readonly live = new LiveSessions();
  /** What the call core reported through the metrics port. */
  readonly metrics = new RecordingMetrics();
  readonly callLimits: CallLimits;
  readonly limits: TrackedLimits;
  readonly profiles: TenantProfiles;
  readonly deps: FlowDeps;
  readonly connections: Connections;
  readonly inbound: InboundCallFlow;
  readonly outbound: OutboundCallFlow;
  readonly commands: LiveCommands;

  constructor(options: FlowKitOptions = {}) {
    this.nodeId = options.nodeId ?? 'node-test-1';
    this.tenant = tenantFixture(options.tenant);
    this.tenants.add(this.tenant);
    this.callbacks = new FakeCallbacks({ maxDeadlineMs: options.callbackMaxDeadlineMs ?? 500 });
    if (options.playDurationMs !== undefined) this.media.playDurationMs = options.playDurationMs;
    const defaults = { maxConcurrentCalls: 100, callsPerSecond: 100, ...options.limits };
    this.callLimits = new CallLimits(
      this.nodeId,
      this.active,
      (tenant) => ({ ...defaults, ...tenant.limits }),
      this.logger,
      0, // each slot written back at once: a test reads the slots as soon as its calls have ended
    );
    this.limits = new TrackedLimits(this.callLimits);
    this.tenants.onProfileWrite = (tenantId) => this.active.profileChanged(tenantId);
    this.profiles = new TenantProfiles(this.tenants, this.active);
    this.deps = {
      nodeId: this.nodeId,
      tenants: this.tenants,
      profiles: this.profiles,
      sessions: this.sessions,
      media: this.media,
      callbacks: this.callbacks,
      audio: this.audio,
      live: this.live,
      signaling: this.signaling,
      limits: this.limits,
      usage: this.usage,
      secrets: undefined,
      logger: this.logger,
      metrics: this.metrics,
      ...(options.destinationPolicy ? { destinationPolicy: options.destinationPolicy } : {}),
      ...(options.destinationAllowed ? { destinationAllowed: options.destinationAllowed } : {}),
      ...(options.overload ? { overload: options.overload } : {}),
    };
    this.connections = new Connections(this.live, this.sessions, this.audio, this.logger);
    this.inbound = new InboundCallFlow(this.deps);
    this.outbound = new OutboundCallFlow({ ...this.deps, connections: this.connections });
    this.commands = new LiveCommands(this.live, this.sessions, this.outbound, this.connections, this.logger);
  }

  /** An INVITE to the tenant's domain, handed to the inbound flow. */
  invite(options: InviteOptions = {}): FakeInboundCall {
    const call = new FakeInboundCall({ requestUri: `sip:ivr@${this.tenant.domain}`, ...options });
    this.signaling.inbound.push(call);
    this.inbound.accept(call);
    return call;
  }

  /** A NodeCommand as the inbox hands it over (validated against the contract), for `commands.execute`. */
  command(input: { kind: NodeCommand['kind']; payload: Record<string, unknown>; tenantId?: string }): NodeCommand {
    return NodeCommand.parse({
      commandId: `cmd-${Math.random().toString(36).slice(2, 10)}`,
      tenantId: input.tenantId ?? this.tenant.tenantId,
      createdAt: new Date().toISOString(),
      kind: input.kind,
      payload: input.payload,
    });
  }

  /** The sessions the node created, oldest first. */
  get sessionIds(): string[] {
    return this.sessions.sessionIds;
  }

  /** The only session the node created (fails if there are none or several). */
  get sessionId(): string {
    const ids = this.sessionIds;
    if (ids.length !== 1) throw new Error(`expected one session, found ${ids.length}`);
    return ids[0]!;
  }

  /**
   * Asserts the session's end as the contract has it (docs/contract.md): exactly one sessionCompleted, the session's last callback,
   * with `reason` and a numeric duration; the session item ended with the same reason. Returns its body.
   */
  expectCompleted(reason: string, sessionId = this.sessionId): CallbackBody<'sessionCompleted'> {
    const mine = this.callbacks.calls.filter((c) => c.sessionId === sessionId);
    const completed = mine.filter((c) => c.type === 'sessionCompleted');
    assert.equal(completed.length, 1, `one sessionCompleted, got: ${this.callbacks.events(sessionId).join(', ')}`);
    assert.equal(mine.at(-1)?.type, 'sessionCompleted', 'sessionCompleted is the last callback of the session');
    const body = completed[0]!.body as CallbackBody<'sessionCompleted'>;
    assert.equal(body.reason, reason);
    assert.equal(typeof body.sessionDuration, 'number');
    assert.ok(body.sessionDuration >= 0);
    const record = this.sessions.get(sessionId);
    assert.equal(record?.state, 'ended', 'the session item is ended');
    assert.equal(record?.endReason, reason);
    return body;
  }

  /** Every call slot taken was given back. */
  expectNoSlotsHeld(): void {
    for (const [tenantId, n] of this.limits.held) assert.equal(n, 0, `${tenantId} still holds ${n} call slot(s)`);
    assert.equal(this.limits.acquired, this.limits.released, 'every acquire has its release');
  }

  /** Waits until every call flow has finished. */
  async drained(timeoutMs = 2000): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.all([this.inbound.drained(), this.outbound.drained()]),
      new Promise((_, reject) => {
        timer = setTimeout(
          () =>
            reject(
              new Error(
                `call flows still running after ${timeoutMs} ms (${this.inbound.activeCalls} inbound, ${this.outbound.activeCalls} outbound); callbacks: ${this.callbacks.events().join(', ')}`,
              ),
            ),
          timeoutMs,
        );
      }),
    ]).finally(() => clearTimeout(timer));
  }

  /** Ends every call still up: open dialogs end with 'shutdown', unanswered INVITEs are cancelled, pending outbound calls fail. */
  private endEverything(): void {
    for (const call of this.signaling.inbound) {
      call.cancel();
      call.dialog?.end('shutdown');
    }
    for (const attempt of this.signaling.placed) {
      if (!attempt.settled) attempt.fail('transport-error');
      attempt.dialog?.end('shutdown');
    }
  }

  /**
   * Ends whatever a test left running, waits for the flows, stops the limits' timer, and fails if a
   * callback broke the contract.
   */
  async close(): Promise<void> {
    this.endEverything();
    try {
      await this.drained();
    } finally {
      this.callLimits.close();
    }
    this.callbacks.assertNoViolations();
  }

  /** Like close() without asserting anything: the clean-up after a test that failed half-way (see `flowKit`). */
  async dispose(): Promise<void> {
    this.endEverything();
    this.callLimits.close();
    // Calls whose flow waits on a tenant reply end once the reply (or its deadline) arrives.
    await this.drained(3000).catch(() => undefined);
    this.endEverything();
  }
}

/**
 * A FlowKit for one test, disposed after it whatever happened, so that a test failing half-way leaves no
 * call (and no timer) behind to keep the test process alive.
 */
export function flowKit(t: { after(fn: () => Promise<void> | void): void }, options: FlowKitOptions = {}): FlowKit {
  const kit = new FlowKit(options);
  t.after(() => kit.dispose());
  return kit;
}

/** A whole FlowDeps of fakes (see FlowKit for the flows wired on it). */
export function createFakeFlowDeps(options: FlowKitOptions = {}): { deps: FlowDeps; kit: FlowKit } {
  const kit = new FlowKit(options);
  return { deps: kit.deps, kit };
}

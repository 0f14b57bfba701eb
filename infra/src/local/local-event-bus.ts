import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { messageOf } from '@sipms/shared/errors';
import { entrySize, MAX_BYTES_PER_PUT } from '@sipms/shared/events/callback-publisher';
import type { BusEvent } from '@sipms/shared/events/envelope';
import { matchesPattern } from '@sipms/shared/events/pattern-matcher';
import type { RuleDefinition } from '@sipms/shared/events/rules';
import type { Logger } from '@sipms/shared/util/logger';

export type RuleTarget = (event: BusEvent) => Promise<void>;

/** Where an event goes once its target failed every attempt, as the SQS dead-letter queue on AWS. */
export type DeadLetterSink = (letter: {
  rule: string;
  event: BusEvent;
  error: string;
  attempts: number;
}) => Promise<void>;

interface PutEventsEntry {
  Source?: string;
  DetailType?: string;
  Detail?: string;
  Resources?: string[];
  EventBusName?: string;
  Time?: string | number;
}

/**
 * Attempts of a target that throws, with the delay before each retry doubling from 200 ms: about 25 s in
 * all, so a dispatcher that fails for a few seconds (its table overloaded) loses nothing.
 */
export const MAX_ATTEMPTS = 8;

/**
 * A local endpoint that speaks EventBridge's PutEvents (JSON 1.1, what the AWS SDK sends when
 * AWS_ENDPOINT_URL_EVENTBRIDGE points here), matches each event against the shared rule definitions and
 * invokes the targets asynchronously with retries — at-least-once, as EventBridge delivers.
 */
export interface LocalEventBusOptions {
  account?: string;
  region?: string;
  /** Where an event goes after MAX_ATTEMPTS (none: it is dropped with an error log). */
  deadLetters?: DeadLetterSink;
  /** The wait before the first retry, doubling after each (default 200 ms). */
  firstRetryMs?: number;
}

export class LocalEventBus {
  private server: Server | undefined;
  private inFlight = new Set<Promise<void>>();

  constructor(
    private readonly rules: readonly RuleDefinition[],
    private readonly targets: Record<RuleDefinition['target'], RuleTarget>,
    private readonly logger: Logger,
    private readonly options: LocalEventBusOptions = {},
  ) {}

  async start(host = '127.0.0.1', port = 0): Promise<string> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(port, host, () => resolve());
    });
    const addr = this.server.address() as AddressInfo;
    return `http://${host}:${addr.port}`;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const reply = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/x-amz-json-1.1' }).end(JSON.stringify(body));
    };
    const target = String(req.headers['x-amz-target'] ?? '');
    if (target !== 'AWSEvents.PutEvents') {
      return reply(400, {
        __type: 'UnknownOperationException',
        message: `${target || 'operation'} is not supported locally`,
      });
    }
    let input: { Entries?: PutEventsEntry[] };
    try {
      input = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch (err) {
      return reply(400, { __type: 'SerializationException', message: `body is not JSON: ${messageOf(err)}` });
    }
    const entries = input.Entries ?? [];
    if (entries.length === 0 || entries.length > 10) {
      return reply(400, { __type: 'ValidationException', message: 'Entries must hold 1 to 10 events' });
    }
    // EventBridge refuses the whole request past 256 KB (its entries' sizes as entrySize counts them).
    const bytes = entries.reduce((sum, e) => sum + entrySize(e), 0);
    if (bytes > MAX_BYTES_PER_PUT) {
      return reply(400, {
        __type: 'ValidationException',
        message: `Total size of the entries in the request is over the limit (${bytes} > ${MAX_BYTES_PER_PUT} bytes)`,
      });
    }
    const results = entries.map((e) => this.accept(e));
    reply(200, { FailedEntryCount: results.filter((r) => 'ErrorCode' in r).length, Entries: results });
  }

  private accept(entry: PutEventsEntry): { EventId: string } | { ErrorCode: string; ErrorMessage: string } {
    let detail: unknown;
    try {
      detail = JSON.parse(entry.Detail ?? '');
    } catch (err) {
      return { ErrorCode: 'MalformedDetail', ErrorMessage: `Detail is not valid JSON: ${messageOf(err)}` };
    }
    if (!entry.Source || !entry.DetailType) {
      return { ErrorCode: 'InvalidArgument', ErrorMessage: 'Source and DetailType are required' };
    }
    const event: BusEvent = {
      version: '0',
      id: randomUUID(),
      'detail-type': entry.DetailType,
      source: entry.Source,
      account: this.options.account ?? '000000000000',
      time: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
      region: this.options.region ?? 'local',
      resources: entry.Resources ?? [],
      detail,
    };
    for (const rule of this.rules) {
      if (!matchesPattern(rule.pattern, event)) continue;
      const delivery = this.deliver(rule, event);
      this.inFlight.add(delivery);
      void delivery.finally(() => this.inFlight.delete(delivery));
    }
    return { EventId: event.id };
  }

  private async deliver(rule: RuleDefinition, event: BusEvent): Promise<void> {
    const target = this.targets[rule.target];
    let error = '';
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      try {
        await target(event);
        return;
      } catch (err) {
        error = messageOf(err);
        this.logger.warn({ err, rule: rule.name, eventId: event.id, attempt }, 'rule target failed');
        const firstRetryMs = this.options.firstRetryMs ?? 200;
        if (attempt < MAX_ATTEMPTS) await new Promise((r) => setTimeout(r, firstRetryMs * 2 ** (attempt - 1)));
      }
    }
    const ids = { rule: rule.name, eventId: event.id, attempts: MAX_ATTEMPTS, error };
    const { deadLetters } = this.options;
    if (!deadLetters) {
      this.logger.error(ids, 'event dropped after retries: no dead-letter sink');
      return;
    }
    try {
      await deadLetters({ rule: rule.name, event, error, attempts: MAX_ATTEMPTS });
      this.logger.error(ids, 'event dead-lettered after retries');
    } catch (err) {
      this.logger.error({ ...ids, err }, 'event dropped after retries: the dead-letter sink failed');
    }
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.inFlight]);
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}

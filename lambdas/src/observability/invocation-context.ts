import { AsyncLocalStorage } from 'node:async_hooks';
import type { Context } from 'aws-lambda';

/**
 * Fields every log line of one Lambda invocation carries (its `awsRequestId`), kept per async call tree: the
 * local deployment runs every handler in one process, invocations overlapping, so a field set on a shared
 * logger would leak into the others' lines. Loggers built by createPowertoolsLogger read it; other loggers
 * ignore it.
 */
const scope = new AsyncLocalStorage<Readonly<Record<string, unknown>>>();

/** Runs `fn` as one invocation: with a Lambda context, its log lines carry `awsRequestId`. */
export function withLambdaContext<T>(context: Pick<Context, 'awsRequestId'> | undefined, fn: () => T): T {
  const awsRequestId = context?.awsRequestId;
  return awsRequestId ? scope.run({ ...scope.getStore(), awsRequestId }, fn) : fn();
}

/** The current invocation's fields (none outside one). */
export function invocationFields(): Readonly<Record<string, unknown>> | undefined {
  return scope.getStore();
}

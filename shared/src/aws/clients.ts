import { EventBridgeClient } from '@aws-sdk/client-eventbridge';

/**
 * Bounds on one HTTP request to an AWS service. The SDK sets none: a request lost on the network
 * (a connection black-holed, a peer that never answers) would hold a call, a callback delivery or the
 * node's reply loop forever. A request past these fails with a transient error and is retried
 * (`maxAttempts`). Far above the services' latency (single-digit ms) and a loaded local dynalite's.
 */
export interface AwsRequestLimits {
  connectionTimeout: number;
  /** The whole request, until the answer's headers (its body included: an upload counts). */
  requestTimeout?: number;
  /** Time without a byte either way. */
  socketTimeout?: number;
}
export const AWS_REQUEST_LIMITS: AwsRequestLimits = { connectionTimeout: 2000, requestTimeout: 5000 };
/**
 * For S3, whose uploads (a recording, tens of MB) may rightly take longer than any whole-request limit:
 * 30 s without a byte ends the request instead.
 */
export const AWS_STREAMING_LIMITS: AwsRequestLimits = { connectionTimeout: 2000, socketTimeout: 30_000 };

/** The `requestHandler` option that applies the limits: every AWS SDK client of the product is built with it. */
export const boundedRequests = (limits: AwsRequestLimits = AWS_REQUEST_LIMITS) => ({
  ...limits,
  throwOnRequestTimeout: true,
});

/**
 * AWS SDK clients. Endpoints are never set in code: locally the standard `AWS_ENDPOINT_URL_DYNAMODB` /
 * `AWS_ENDPOINT_URL_EVENTBRIDGE` variables point them at dynalite and the local bus, so the same
 * handler code runs in both deployments. DynamoDB's: document-client.ts.
 */
export function createEventBridgeClient(limits: AwsRequestLimits = AWS_REQUEST_LIMITS): EventBridgeClient {
  // Its middleware stack resolved once, not per PutEvents (document-client.ts says what that saves).
  return new EventBridgeClient({ maxAttempts: 3, requestHandler: boundedRequests(limits), cacheMiddleware: true });
}

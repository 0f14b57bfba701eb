import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

/**
 * AWS SDK clients. Endpoints are never set in code: locally the standard `AWS_ENDPOINT_URL_DYNAMODB` /
 * `AWS_ENDPOINT_URL_EVENTBRIDGE` variables point them at dynalite and the local bus, so the same
 * handler code runs in both deployments.
 */
export function createDocumentClient(): DynamoDBDocumentClient {
  return DynamoDBDocumentClient.from(new DynamoDBClient({ maxAttempts: 3 }), {
    marshallOptions: { removeUndefinedValues: true, convertClassInstanceToMap: false },
  });
}

export function createEventBridgeClient(): EventBridgeClient {
  return new EventBridgeClient({ maxAttempts: 3 });
}

/**
 * Points the product's AWS SDK client factories (shared/src/aws/clients.ts) at local endpoints, through the
 * standard variables they read, with a region and dummy credentials: for tests that drive those factories.
 */
export function useLocalEndpoints(endpoints: { dynamodb?: string; eventbridge?: string }): void {
  if (endpoints.dynamodb) process.env.AWS_ENDPOINT_URL_DYNAMODB = endpoints.dynamodb;
  if (endpoints.eventbridge) process.env.AWS_ENDPOINT_URL_EVENTBRIDGE = endpoints.eventbridge;
  process.env.AWS_REGION = 'local';
  process.env.AWS_ACCESS_KEY_ID = 'x';
  process.env.AWS_SECRET_ACCESS_KEY = 'x';
}

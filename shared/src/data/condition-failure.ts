/** True when a DynamoDB conditional write was refused because its condition did not hold. */
export function isConditionFailure(err: unknown): boolean {
  return (err as { name?: string } | undefined)?.name === 'ConditionalCheckFailedException';
}

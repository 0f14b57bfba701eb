import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { CallSlots } from './call-slots.js';

/**
 * Active calls per tenant across media nodes, as the API sees them before it asks a node to place a
 * call: the tenant's slots in use (CallSlots, strongly consistent). The nodes take and give back the
 * slots themselves; this is read-only.
 */
export class ActiveCallCounts {
  private readonly slots: CallSlots;

  constructor(doc: DynamoDBDocumentClient, tableName: string) {
    this.slots = new CallSlots(doc, tableName);
  }

  /** The tenant's active calls on every node but `exceptNode` ('' for all). */
  async others(tenantId: string, exceptNode: string): Promise<number> {
    const usage = await this.slots.usage(tenantId);
    return usage.active - (usage.byNode[exceptNode] ?? 0);
  }
}

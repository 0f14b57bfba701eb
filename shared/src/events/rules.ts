import { CALLBACK_DETAIL_TYPE, EVENT_SOURCE } from './envelope.js';
import type { EventPattern } from './pattern-matcher.js';

/**
 * The bus rules, defined once: the CDK stack creates an EventBridge rule from each, and the local
 * PutEvents endpoint routes with the same patterns. `target` names a deployable handler.
 */
export interface RuleDefinition {
  name: string;
  description: string;
  pattern: EventPattern;
  target: 'dispatcher';
}

export const RULES: readonly RuleDefinition[] = [
  {
    name: 'callbacks-to-dispatcher',
    description: 'Every tenant callback published by a media node goes to the webhook dispatcher',
    pattern: {
      source: [EVENT_SOURCE],
      'detail-type': [CALLBACK_DETAIL_TYPE],
      detail: { tenantId: [{ exists: true }] },
    },
    target: 'dispatcher',
  },
];

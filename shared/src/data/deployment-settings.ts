import { type DynamoDBDocumentClient, GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { SignupMode } from '../contracts/admin.js';

/** The one item that holds the settings an operator changes at run time (admin API). */
const SETTINGS_KEY = { pk: 'SETTINGS#deployment', sk: 'SETTINGS' } as const;

export interface DeploymentSettings {
  signup: SignupMode;
  /** null until the operator first changed a setting. */
  updatedAt: string | null;
}

/** Signup is open until the operator changes it (the behaviour before the admin API existed). */
export const DEFAULT_SETTINGS: DeploymentSettings = Object.freeze({ signup: 'open', updatedAt: null });

/**
 * Deployment settings the operator changes while the service runs (signup mode). Read with a consistent
 * read where they decide something (each signup), so a change applies to the very next request.
 */
export class DeploymentSettingsStore {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async get(): Promise<DeploymentSettings> {
    const res = await this.doc.send(
      new GetCommand({ TableName: this.tableName, Key: SETTINGS_KEY, ConsistentRead: true }),
    );
    if (!res.Item) return DEFAULT_SETTINGS;
    return {
      signup: (res.Item.signup as SignupMode | undefined) ?? DEFAULT_SETTINGS.signup,
      updatedAt: (res.Item.updatedAt as string | undefined) ?? null,
    };
  }

  async setSignup(signup: SignupMode, now = new Date()): Promise<DeploymentSettings> {
    const res = await this.doc.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: SETTINGS_KEY,
        UpdateExpression: 'SET signup = :s, updatedAt = :u',
        ExpressionAttributeValues: { ':s': signup, ':u': now.toISOString() },
        ReturnValues: 'ALL_NEW',
      }),
    );
    return { signup: res.Attributes?.signup as SignupMode, updatedAt: res.Attributes?.updatedAt as string };
  }
}

import { API_KEY_LAST_USED, createTableInput, keys, TABLE_KEYS } from '@sipms/shared/data/table-design';
import { RemovalPolicy } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';

export interface CallTableProps {
  retain: boolean;
}

/** Item-level actions only: the code uses GetItem, Query and single-item conditional writes. */
const READ_ACTIONS = ['dynamodb:GetItem', 'dynamodb:BatchGetItem', 'dynamodb:Query', 'dynamodb:ConditionCheckItem'];
const WRITE_ACTIONS = ['dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem', 'dynamodb:BatchWriteItem'];

/**
 * The single table (docs/table-design.md): keys and the `gsi1` index come from the shared table design,
 * so the local stack and AWS cannot drift. On-demand, point-in-time recovery, TTL on `expiresAt`,
 * encrypted with the AWS-managed KMS key.
 */
export class CallTable extends Construct {
  readonly table: dynamodb.Table;

  constructor(scope: Construct, id: string, props: CallTableProps) {
    super(scope, id);
    const design = createTableInput('unused');
    const attr = (name: string): dynamodb.Attribute => {
      const def = design.AttributeDefinitions.find((a) => a.AttributeName === name);
      if (!def) throw new Error(`table design has no attribute definition for ${name}`);
      return { name, type: def.AttributeType as dynamodb.AttributeType };
    };
    const keyOf = (schema: readonly { AttributeName: string; KeyType: string }[], type: 'HASH' | 'RANGE') => {
      const key = schema.find((k) => k.KeyType === type);
      return key ? attr(key.AttributeName) : undefined;
    };

    this.table = new dynamodb.Table(this, 'Table', {
      partitionKey: keyOf(design.KeySchema, 'HASH')!,
      sortKey: keyOf(design.KeySchema, 'RANGE'),
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      timeToLiveAttribute: TABLE_KEYS.ttl,
      encryption: dynamodb.TableEncryption.AWS_MANAGED,
      deletionProtection: props.retain,
      removalPolicy: props.retain ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY,
    });
    for (const gsi of design.GlobalSecondaryIndexes) {
      this.table.addGlobalSecondaryIndex({
        indexName: gsi.IndexName,
        partitionKey: keyOf(gsi.KeySchema, 'HASH')!,
        sortKey: keyOf(gsi.KeySchema, 'RANGE'),
        projectionType: gsi.Projection.ProjectionType as dynamodb.ProjectionType,
      });
    }
  }

  get tableName(): string {
    return this.table.tableName;
  }

  private resources(): string[] {
    return [this.table.tableArn, `${this.table.tableArn}/index/*`];
  }

  grantRead(grantee: iam.IGrantable): iam.Grant {
    return iam.Grant.addToPrincipal({ grantee, actions: READ_ACTIONS, resourceArns: this.resources() });
  }

  /**
   * Authentication's one write, for functions that otherwise only read: `lastUsedAt` of an API key item
   * (`APIKEY#…`, tenant-store.ts `touchApiKey`), nothing else. Without it every authenticated request of a
   * read-only route answered 500 on AWS (AccessDenied on the touch).
   */
  grantApiKeyTouch(grantee: iam.IGrantable): iam.Grant {
    return iam.Grant.addToPrincipal({
      grantee,
      actions: ['dynamodb:UpdateItem'],
      resourceArns: [this.table.tableArn],
      conditions: {
        'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': [`${keys.apiKey('').pk}*`] },
        'ForAllValues:StringEquals': { 'dynamodb:Attributes': ['pk', 'sk', API_KEY_LAST_USED] },
      },
    });
  }

  grantReadWrite(grantee: iam.IGrantable): iam.Grant {
    return iam.Grant.addToPrincipal({
      grantee,
      actions: [...READ_ACTIONS, ...WRITE_ACTIONS],
      resourceArns: this.resources(),
    });
  }
}

import { RECORDING_TAG } from '@sipms/shared/ports/prompt-store';
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';

export interface MediaBucketsProps {
  retain: boolean;
  recordingRetentionDays: number;
}

export type BucketAccess = 'read' | 'readWrite';

/**
 * Tenant media: prompt files (PROMPT_STORE=s3:<bucket>), call recordings among them (a recording is a prompt file
 * by the contract, tagged so that it expires after recordingRetentionDays). Private (all public access blocked,
 * ACLs disabled), SSE-S3 encrypted, reachable over TLS 1.2+ only, with lifecycle rules so abandoned uploads, old
 * versions and old recordings do not accumulate cost.
 */
export class MediaBuckets extends Construct {
  readonly prompts: s3.Bucket;

  constructor(scope: Construct, id: string, props: MediaBucketsProps) {
    super(scope, id);
    const common: s3.BucketProps = {
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      removalPolicy: props.retain ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY,
    };
    this.prompts = new s3.Bucket(this, 'Prompts', {
      ...common,
      // Prompts are replaced in place by PUT /promptfile; keep overwritten versions a week for undo.
      versioned: true,
      lifecycleRules: [
        { abortIncompleteMultipartUploadAfter: Duration.days(1) },
        { noncurrentVersionExpiration: Duration.days(7) },
        // Recordings are prompt files by the contract (a tenant plays them back by name), so they live here;
        // the media node tags them, and they expire after recordingRetentionDays. Uploads are kept.
        {
          id: 'RecordingRetention',
          tagFilters: { [RECORDING_TAG.key]: RECORDING_TAG.value },
          expiration: Duration.days(props.recordingRetentionDays),
        },
      ],
    });
  }

  grantPrompts(grantee: iam.IGrantable, access: BucketAccess): void {
    grantObjects(this.prompts, grantee, access);
  }
}

/**
 * Object-level access without wildcard actions (CDK's bucket.grantRead* hands out `s3:GetObject*`,
 * `s3:List*`). ListBucket lets a missing key answer 404 instead of 403.
 */
function grantObjects(bucket: s3.IBucket, grantee: iam.IGrantable, access: BucketAccess): void {
  iam.Grant.addToPrincipal({ grantee, actions: ['s3:ListBucket'], resourceArns: [bucket.bucketArn] });
  iam.Grant.addToPrincipal({
    grantee,
    // PutObjectTagging: a PUT that carries tags (recordings) needs it as well as PutObject.
    actions:
      access === 'read' ? ['s3:GetObject'] : ['s3:GetObject', 's3:PutObject', 's3:PutObjectTagging', 's3:DeleteObject'],
    resourceArns: [bucket.arnForObjects('*')],
  });
}

import { METRICS_NAMESPACE, SERVICE } from '@sipms/lambdas/observability/metric-names';
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { ESM_REQUIRE_SHIM, LAMBDA_EXTERNALS, NODE_TARGET } from '../bundling.js';
import { handlerEntry, LOCK_FILE, REPO_ROOT } from '../paths.js';

/** The smallest retention CloudWatch Logs offers that keeps logs at least `days`. */
export function retentionFor(days: number): logs.RetentionDays {
  const offered = Object.values(logs.RetentionDays)
    .filter((v): v is number => typeof v === 'number' && v > 0)
    .sort((a, b) => a - b);
  return (offered.find((d) => d >= days) ?? logs.RetentionDays.INFINITE) as logs.RetentionDays;
}

export interface ServiceFunctionProps {
  /** The handler file under lambdas/src/handlers (without `.ts`); it exports `handler`. */
  handlerName: string;
  description: string;
  environment: Record<string, string>;
  logRetentionDays: number;
  timeout?: Duration;
  memorySize?: number;
  /** POWERTOOLS_SERVICE_NAME: the `service` of its log lines and metrics (default `control-plane`). */
  serviceName?: string;
}

/**
 * Lambda's own log-level filter (advanced logging controls, which Powertools follows on AWS) set from LOG_LEVEL,
 * so the level an operator sets is the one both apply.
 */
export function applicationLogLevel(logLevel: string | undefined): lambda.ApplicationLogLevel {
  switch (logLevel?.toLowerCase()) {
    case 'debug':
      return lambda.ApplicationLogLevel.DEBUG;
    case 'warn':
      return lambda.ApplicationLogLevel.WARN;
    case 'error':
      return lambda.ApplicationLogLevel.ERROR;
    case 'silent':
      return lambda.ApplicationLogLevel.FATAL;
    default:
      return lambda.ApplicationLogLevel.INFO;
  }
}

/**
 * The project's Lambda defaults in one place: nodejs22.x on arm64, bundled by the local esbuild
 * (never Docker) as a minified ESM file without the AWS SDK, and a log group with retention owned
 * by the stack (so it goes away with it and never keeps logs forever). Powertools for AWS Lambda (the
 * Lambdas' logger and metrics) gets its service name and the metrics namespace (docs/operations.md).
 */
/** Sending spans to X-Ray's OTLP endpoint (TRACES_EXPORTER=xray); the actions take no resource. */
export function xraySpansStatement(): iam.PolicyStatement {
  return new iam.PolicyStatement({ actions: ['xray:PutSpans', 'xray:PutSpansForIndexing'], resources: ['*'] });
}

export class ServiceFunction extends Construct {
  readonly fn: nodejs.NodejsFunction;
  readonly logGroup: logs.LogGroup;

  constructor(scope: Construct, id: string, props: ServiceFunctionProps) {
    super(scope, id);
    this.logGroup = new logs.LogGroup(this, 'Logs', {
      retention: retentionFor(props.logRetentionDays),
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.fn = new nodejs.NodejsFunction(this, 'Function', {
      entry: handlerEntry(props.handlerName),
      handler: 'handler',
      description: props.description,
      runtime: lambda.Runtime.NODEJS_22_X,
      architecture: lambda.Architecture.ARM_64,
      memorySize: props.memorySize ?? 512,
      timeout: props.timeout ?? Duration.seconds(10),
      environment: {
        NODE_OPTIONS: '--enable-source-maps',
        POWERTOOLS_SERVICE_NAME: props.serviceName ?? SERVICE.controlPlane,
        POWERTOOLS_METRICS_NAMESPACE: METRICS_NAMESPACE,
        ...props.environment,
      },
      logGroup: this.logGroup,
      loggingFormat: lambda.LoggingFormat.JSON,
      applicationLogLevelV2: applicationLogLevel(props.environment.LOG_LEVEL),
      projectRoot: REPO_ROOT,
      depsLockFilePath: LOCK_FILE,
      bundling: {
        forceDockerBundling: false,
        format: nodejs.OutputFormat.ESM,
        target: NODE_TARGET,
        mainFields: ['module', 'main'],
        minify: true,
        keepNames: true,
        sourceMap: true,
        sourcesContent: false,
        externalModules: LAMBDA_EXTERNALS,
        banner: ESM_REQUIRE_SHIM,
      },
    });
  }
}

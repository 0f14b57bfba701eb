import { ROUTE_GROUPS, ROUTES, type RouteDefinition, type RouteGroup } from '@sipms/shared/api/routes';
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import * as apigw from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { retentionFor, ServiceFunction } from './service-function.js';

/** What a route group's Lambda may touch, granted by the stack through the data constructs' helpers. */
export type GroupGrant = (group: RouteGroup, fn: ServiceFunction) => void;

export interface ControlPlaneApiProps {
  stage: string;
  environment: Record<string, string>;
  logRetentionDays: number;
  grant: GroupGrant;
  /** Steady-state requests per second across the API, and the burst above it. */
  throttle?: { rateLimit: number; burstLimit: number };
  /** Unauthenticated writes (signup) get their own, much lower limit. */
  signupThrottle?: { rateLimit: number; burstLimit: number };
}

/**
 * The HTTP API: one Lambda per route group and one route per entry of the shared route table, so a
 * group or route another engineer adds appears here without touching infra. Authentication is the
 * handlers' job (bearer API keys), so routes carry no API Gateway authorizer.
 */
export class ControlPlaneApi extends Construct {
  readonly api: apigw.HttpApi;
  readonly stage: apigw.HttpStage;
  readonly functions: Map<RouteGroup, ServiceFunction> = new Map();
  readonly accessLogs: logs.LogGroup;

  constructor(scope: Construct, id: string, props: ControlPlaneApiProps) {
    super(scope, id);
    this.api = new apigw.HttpApi(this, 'Api', {
      apiName: `sip-mediaserver-${props.stage}`,
      description: 'SIP Mediaserver control plane: tenants, numbers, prompts, sessions',
      createDefaultStage: false,
    });
    this.accessLogs = new logs.LogGroup(this, 'AccessLogs', {
      retention: retentionFor(props.logRetentionDays),
      removalPolicy: RemovalPolicy.DESTROY,
    });
    const throttle = props.throttle ?? { rateLimit: 200, burstLimit: 400 };
    this.stage = this.api.addStage('DefaultStage', {
      stageName: '$default',
      autoDeploy: true,
      throttle,
      accessLogSettings: {
        destination: new apigw.LogGroupLogDestination(this.accessLogs),
        format: AccessLogFormat.custom(
          JSON.stringify({
            requestId: '$context.requestId',
            ip: '$context.identity.sourceIp',
            routeKey: '$context.routeKey',
            status: '$context.status',
            latencyMs: '$context.responseLatency',
            integrationError: '$context.integrationErrorMessage',
          }),
        ),
      },
    });
    // Unauthenticated writes (signup) get their own, much lower limit than the stage's.
    const open = ROUTES.filter((r) => !r.auth && !r.routeKey.startsWith('GET '));
    if (open.length > 0) {
      const limit = props.signupThrottle ?? { rateLimit: 1, burstLimit: 5 };
      // RouteSettings is a JSON map in CloudFormation, so its keys are written as CloudFormation spells them.
      (this.stage.node.defaultChild as apigw.CfnStage).addPropertyOverride(
        'RouteSettings',
        Object.fromEntries(
          open.map((r) => [
            r.routeKey,
            { ThrottlingRateLimit: limit.rateLimit, ThrottlingBurstLimit: limit.burstLimit },
          ]),
        ),
      );
    }

    for (const group of ROUTE_GROUPS) {
      const fn = new ServiceFunction(this, `Group-${group}`, {
        handlerName: group,
        description: `API routes of the "${group}" group`,
        environment: props.environment,
        logRetentionDays: props.logRetentionDays,
        timeout: Duration.seconds(15),
      });
      props.grant(group, fn);
      this.functions.set(group, fn);
      const integration = new HttpLambdaIntegration(`Integration-${group}`, fn.fn);
      for (const route of ROUTES.filter((r) => r.group === group)) {
        const created = this.addRoute(route, integration);
        // Route settings name routes by key: CloudFormation must create those routes before the stage.
        if (open.includes(route)) this.stage.node.addDependency(created);
      }
    }
  }

  private addRoute(route: RouteDefinition, integration: HttpLambdaIntegration): apigw.HttpRoute {
    const [method, path] = route.routeKey.split(' ') as [keyof typeof apigw.HttpMethod, string];
    return new apigw.HttpRoute(this, `Route-${route.routeKey}`, {
      httpApi: this.api,
      routeKey: apigw.HttpRouteKey.with(path, apigw.HttpMethod[method]),
      integration,
    });
  }

  get url(): string {
    return this.stage.url;
  }
}

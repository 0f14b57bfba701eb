import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import type * as apigw from 'aws-cdk-lib/aws-apigatewayv2';
import * as cloudfront from 'aws-cdk-lib/aws-cloudfront';
import * as origins from 'aws-cdk-lib/aws-cloudfront-origins';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as s3deploy from 'aws-cdk-lib/aws-s3-deployment';
import { Construct } from 'constructs';
import { buildConsoleForSynth } from '../console-bundle.js';

export interface ConsoleHostingProps {
  /** The control-plane HTTP API the console calls (cross-origin: CORS is allowed for the console's origin only). */
  api: apigw.HttpApi;
  /** The API's base URL, written into the console's config.json. */
  apiUrl: string;
  /** Where prompt download URLs point (S3 presigned URLs): the page's <audio> may load from there. */
  promptsBucket: s3.IBucket;
  /** The softphone's SIP WebSocket (wss://<sipDomain>:8443), when the nodes serve one: the page may connect to it. */
  softphoneWsUrl?: string | undefined;
}

/** The methods and headers the console sends to the API (bearer keys, not cookies: no credentials mode). */
const CORS_METHODS = ['GET', 'PUT', 'POST', 'PATCH', 'DELETE'];
const CORS_HEADERS = ['authorization', 'content-type', 'idempotency-key'];

/**
 * The tenant console on AWS: its static files in a private bucket that only CloudFront can read (Origin Access
 * Control), served over HTTPS only with security headers (a CSP with no inline script), and a config.json beside
 * them naming the API. The API allows CORS from the console's origin.
 */
export class ConsoleHosting extends Construct {
  readonly bucket: s3.Bucket;
  readonly distribution: cloudfront.Distribution;
  readonly headers: cloudfront.ResponseHeadersPolicy;
  readonly url: string;

  constructor(scope: Construct, id: string, props: ConsoleHostingProps) {
    super(scope, id);
    const stack = Stack.of(this);
    this.bucket = new s3.Bucket(this, 'Files', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      // Built from the checkout on every deploy: nothing here to keep (the deployment empties it on delete).
      removalPolicy: RemovalPolicy.DESTROY,
    });

    // The API's origin by pattern, not by reference: CORS on the API names this distribution, and a reference
    // both ways would be a cycle. Prompts play from S3 presigned URLs of the prompts bucket.
    const apiOrigins = `https://*.execute-api.${stack.region}.${stack.urlSuffix}`;
    const csp = [
      "default-src 'none'",
      "script-src 'self'",
      "style-src 'self'",
      "img-src 'self' data:",
      `media-src 'self' https://${props.promptsBucket.bucketRegionalDomainName}`,
      `connect-src 'self' ${apiOrigins}${props.softphoneWsUrl ? ` ${props.softphoneWsUrl}` : ''}`,
      "form-action 'self'",
      "base-uri 'none'",
      "frame-ancestors 'none'",
    ].join('; ');
    this.headers = new cloudfront.ResponseHeadersPolicy(this, 'SecurityHeaders', {
      comment: 'SIP Mediaserver console: CSP, HSTS, no framing, no sniffing, no referrer',
      securityHeadersBehavior: {
        contentSecurityPolicy: { contentSecurityPolicy: csp, override: true },
        strictTransportSecurity: { accessControlMaxAge: Duration.days(365), includeSubdomains: true, override: true },
        contentTypeOptions: { override: true },
        frameOptions: { frameOption: cloudfront.HeadersFrameOption.DENY, override: true },
        referrerPolicy: { referrerPolicy: cloudfront.HeadersReferrerPolicy.NO_REFERRER, override: true },
      },
    });

    const origin = origins.S3BucketOrigin.withOriginAccessControl(this.bucket);
    this.distribution = new cloudfront.Distribution(this, 'Cdn', {
      comment: 'SIP Mediaserver tenant console',
      defaultRootObject: 'index.html',
      priceClass: cloudfront.PriceClass.PRICE_CLASS_100,
      httpVersion: cloudfront.HttpVersion.HTTP2_AND_3,
      defaultBehavior: {
        origin,
        viewerProtocolPolicy: cloudfront.ViewerProtocolPolicy.HTTPS_ONLY,
        allowedMethods: cloudfront.AllowedMethods.ALLOW_GET_HEAD,
        cachePolicy: cloudfront.CachePolicy.CACHING_OPTIMIZED,
        responseHeadersPolicy: this.headers,
        compress: true,
      },
      additionalBehaviors: {
        // Where the API is: read at every page load, so a redeploy to another API takes effect at once.
        '/config.json': {
          origin,
          viewerProtocolPolicy: cloudfront.ViewerProtocolPolicy.HTTPS_ONLY,
          allowedMethods: cloudfront.AllowedMethods.ALLOW_GET_HEAD,
          cachePolicy: cloudfront.CachePolicy.CACHING_DISABLED,
          responseHeadersPolicy: this.headers,
        },
      },
    });
    this.url = `https://${this.distribution.distributionDomainName}`;

    new s3deploy.BucketDeployment(this, 'Deploy', {
      destinationBucket: this.bucket,
      sources: [
        s3deploy.Source.asset(buildConsoleForSynth()),
        s3deploy.Source.jsonData('config.json', { apiUrl: props.apiUrl }),
      ],
      distribution: this.distribution,
      distributionPaths: ['/*'],
      prune: true,
      memoryLimit: 256,
    });

    // API Gateway answers the preflight and adds the CORS headers itself (HTTP APIs ignore the Lambdas' own).
    const cfnApi = props.api.node.defaultChild as apigw.CfnApi;
    cfnApi.corsConfiguration = {
      allowOrigins: [this.url],
      allowMethods: CORS_METHODS,
      allowHeaders: CORS_HEADERS,
      exposeHeaders: ['x-request-id', 'retry-after'],
      maxAge: 600,
      allowCredentials: false,
    };
  }
}

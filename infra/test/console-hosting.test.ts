import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { type Cfn, type CfnTemplate, referencedIds, renderCfnString, resourcesOfType, synth } from './helpers/synth.js';

// The tenant console's hosting in the synthesized stack (constructs/console-hosting.ts): a private bucket read by
// CloudFront through Origin Access Control, HTTPS only, security headers with a CSP, the built console and its
// config.json deployed into the bucket, and CORS on the API for the console's origin only.

let t: CfnTemplate;
let outdir: string;
before(() => {
  const s = synth({}, { bundle: false });
  t = s.template;
  outdir = s.outdir;
});

const consoleBucket = (): [string, Record<string, Cfn>] => {
  const found = resourcesOfType(t, 'AWS::S3::Bucket').filter(([id]) => id.startsWith('ConsoleFiles'));
  assert.equal(found.length, 1, 'one console bucket');
  return found[0]!;
};
const distribution = (): [string, Record<string, Cfn>] => {
  const found = resourcesOfType(t, 'AWS::CloudFront::Distribution');
  assert.equal(found.length, 1, 'one distribution');
  return found[0]!;
};

describe('tenant console hosting', () => {
  test('the bucket is private: every public access block on, ACLs off, encrypted, TLS enforced by its policy', () => {
    const [id, bucket] = consoleBucket();
    assert.deepEqual(bucket.PublicAccessBlockConfiguration, {
      BlockPublicAcls: true,
      BlockPublicPolicy: true,
      IgnorePublicAcls: true,
      RestrictPublicBuckets: true,
    });
    assert.equal(bucket.OwnershipControls.Rules[0].ObjectOwnership, 'BucketOwnerEnforced');
    assert.equal(
      bucket.BucketEncryption.ServerSideEncryptionConfiguration[0].ServerSideEncryptionByDefault.SSEAlgorithm,
      'AES256',
    );
    assert.equal(bucket.WebsiteConfiguration, undefined, 'not an S3 website endpoint');
    const [, policy] = resourcesOfType(t, 'AWS::S3::BucketPolicy').find(([, p]) => referencedIds(p.Bucket).has(id))!;
    const statements = policy.PolicyDocument.Statement as Cfn[];
    assert.ok(
      statements.some((s) => s.Effect === 'Deny' && s.Condition?.Bool?.['aws:SecureTransport'] === 'false'),
      'plain HTTP denied',
    );
    // Only CloudFront, and only this distribution (OAC's SourceArn condition), may read: no public principal.
    const reads = statements.filter((s) => s.Effect === 'Allow' && [s.Action].flat().includes('s3:GetObject'));
    assert.equal(reads.length, 1);
    assert.deepEqual(reads[0].Principal, { Service: 'cloudfront.amazonaws.com' });
    assert.ok(referencedIds(reads[0].Condition.StringEquals['AWS:SourceArn']).has(distribution()[0]));
    assert.ok(!statements.some((s) => s.Effect === 'Allow' && (s.Principal === '*' || s.Principal?.AWS === '*')));
  });

  test('CloudFront reads it through Origin Access Control (sigv4, always), not a legacy OAI', () => {
    const oacs = resourcesOfType(t, 'AWS::CloudFront::OriginAccessControl');
    assert.equal(oacs.length, 1);
    const [oacId, oac] = oacs[0]!;
    assert.deepEqual(
      {
        type: oac.OriginAccessControlConfig.OriginAccessControlOriginType,
        behavior: oac.OriginAccessControlConfig.SigningBehavior,
        protocol: oac.OriginAccessControlConfig.SigningProtocol,
      },
      { type: 's3', behavior: 'always', protocol: 'sigv4' },
    );
    assert.equal(resourcesOfType(t, 'AWS::CloudFront::CloudFrontOriginAccessIdentity').length, 0);
    const [, dist] = distribution();
    const origin = dist.DistributionConfig.Origins[0];
    assert.ok(referencedIds(origin.OriginAccessControlId).has(oacId));
    assert.ok(referencedIds(origin.DomainName).has(consoleBucket()[0]));
    assert.equal(origin.S3OriginConfig.OriginAccessIdentity, '');
    assert.equal(dist.DistributionConfig.DefaultRootObject, 'index.html');
  });

  test('viewers get HTTPS only, on every behavior, with the security-headers policy', () => {
    const [, dist] = distribution();
    const cfg = dist.DistributionConfig;
    const behaviors = [cfg.DefaultCacheBehavior, ...(cfg.CacheBehaviors ?? [])];
    assert.ok(behaviors.length >= 2, 'the default and config.json');
    const [policyId] = resourcesOfType(t, 'AWS::CloudFront::ResponseHeadersPolicy')[0]!;
    for (const b of behaviors) {
      assert.equal(b.ViewerProtocolPolicy, 'https-only');
      assert.deepEqual(b.AllowedMethods, ['GET', 'HEAD']);
      assert.ok(referencedIds(b.ResponseHeadersPolicyId).has(policyId));
    }
    const config = cfg.CacheBehaviors.find((b: Cfn) => b.PathPattern === '/config.json');
    // CachePolicy CachingDisabled (a managed policy's fixed id): the API's address is read fresh.
    assert.equal(config.CachePolicyId, '4135ea2d-6df8-44a3-9df3-4b5a84be39ad');
  });

  test('the response headers: a CSP with no inline or eval script, HSTS, nosniff, DENY framing, no referrer', () => {
    const policies = resourcesOfType(t, 'AWS::CloudFront::ResponseHeadersPolicy');
    assert.equal(policies.length, 1);
    const sec = policies[0]![1].ResponseHeadersPolicyConfig.SecurityHeadersConfig;
    const csp = renderCfnString(sec.ContentSecurityPolicy.ContentSecurityPolicy);
    assert.equal(sec.ContentSecurityPolicy.Override, true);
    const directives = Object.fromEntries(
      csp.split(';').map((d) => {
        const [name, ...values] = d.trim().split(/\s+/);
        return [name!, values];
      }),
    );
    assert.deepEqual(directives['default-src'], ["'none'"]);
    assert.deepEqual(directives['script-src'], ["'self'"]);
    assert.deepEqual(directives['style-src'], ["'self'"]);
    assert.deepEqual(directives['frame-ancestors'], ["'none'"]);
    assert.match(directives['connect-src']!.join(' '), /^'self' https:\/\/\*\.execute-api\.\S+$/);
    assert.match(directives['media-src']!.join(' '), /^'self' https:\/\/\S+/);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval|\*\s|https:\s|http:/);
    assert.ok(sec.StrictTransportSecurity.AccessControlMaxAgeSec >= 31_536_000);
    assert.equal(sec.StrictTransportSecurity.Override, true);
    assert.equal(sec.ContentTypeOptions.Override, true);
    assert.equal(sec.FrameOptions.FrameOption, 'DENY');
    assert.equal(sec.ReferrerPolicy.ReferrerPolicy, 'no-referrer');
  });

  test('the built console and a config.json naming the API are deployed into the bucket; CloudFront is invalidated', () => {
    const deployments = resourcesOfType(t, 'Custom::CDKBucketDeployment');
    assert.equal(deployments.length, 1);
    const [, d] = deployments[0]!;
    assert.ok(referencedIds(d.DestinationBucketName).has(consoleBucket()[0]));
    assert.ok(referencedIds(d.DistributionId).has(distribution()[0]));
    assert.deepEqual(d.DistributionPaths, ['/*']);
    assert.equal(d.Prune, true);
    assert.equal(d.SourceObjectKeys.length, 2, 'the console files and config.json');
    // Source.jsonData: config.json's content is a marker-substituted JSON whose apiUrl is the HttpApi's endpoint.
    const markers = JSON.stringify(d.SourceMarkers);
    const apiId = resourcesOfType(t, 'AWS::ApiGatewayV2::Api')[0]![0];
    assert.ok(markers.includes(apiId), 'config.json refers to the control-plane API');
    // The console asset in the cloud assembly: the page, its script (no inline script) and style.
    const assetDirs = readdirSync(outdir).filter((n) => n.startsWith('asset.'));
    const consoleAsset = assetDirs
      .map((n) => join(outdir, n))
      .find((dir) => existsSync(join(dir, 'index.html')) && existsSync(join(dir, 'app.js')));
    assert.ok(consoleAsset, 'the built console is an asset');
    const html = readFileSync(join(consoleAsset, 'index.html'), 'utf8');
    assert.match(html, /<script type="module" src="app.js"><\/script>/);
    assert.ok(existsSync(join(consoleAsset, 'app.css')));
    assert.ok(!existsSync(join(consoleAsset, 'config.json')), 'config.json comes from the deployment, not the build');
  });

  test('the API allows CORS from the console origin only, for the methods and headers the console sends', () => {
    const [, api] = resourcesOfType(t, 'AWS::ApiGatewayV2::Api')[0]!;
    const cors = api.CorsConfiguration;
    assert.equal(cors.AllowOrigins.length, 1);
    assert.ok(referencedIds(cors.AllowOrigins[0]).has(distribution()[0]));
    assert.match(renderCfnString(cors.AllowOrigins[0]), /^https:\/\//);
    assert.deepEqual([...cors.AllowMethods].sort(), ['DELETE', 'GET', 'PATCH', 'POST', 'PUT']);
    assert.ok(cors.AllowHeaders.includes('authorization'));
    assert.equal(cors.AllowCredentials, false);
  });

  test('the console URL is a stack output', () => {
    assert.ok(referencedIds(t.Outputs?.ConsoleUrl?.Value).has(distribution()[0]));
  });
});

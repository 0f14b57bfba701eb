import { type Cfn, type CfnTemplate, resourcesOfType } from './synth.js';

/**
 * The tenant console's hosting (constructs/console-hosting.ts, construct id `Console`) and the CDK-provided
 * BucketDeployment function that fills its bucket: static web files and a CDK custom resource, not the service's
 * data or functions. Checks about the service's buckets and Lambdas leave them out; console-hosting.test.ts
 * checks them.
 */
export function isConsoleHosting(id: string): boolean {
  return /^Console[A-Z]/.test(id) || id.startsWith('CustomCDKBucketDeployment');
}

/** resourcesOfType without the console's hosting resources. */
export function serviceResourcesOfType(t: CfnTemplate, type: string): [string, Record<string, Cfn>][] {
  return resourcesOfType(t, type).filter(([id]) => !isConsoleHosting(id));
}

import { App, type AppProps, type Environment } from 'aws-cdk-lib';
import { readDeploymentConfig } from './deployment-config.js';
import { SipMediaserverStack } from './sip-mediaserver-stack.js';

/**
 * Feature flags the app relies on. cdk.json carries them for the CLI; `new App({ context })` in
 * tests does not read cdk.json, so they are applied here too.
 */
export const FEATURE_FLAGS = {
  '@aws-cdk/aws-autoscaling:generateLaunchTemplateInsteadOfLaunchConfig': true,
} as const;

/**
 * The stack of one deployment. With CDK_DEFAULT_ACCOUNT/REGION (set by the CLI from the operator's
 * credentials) the stack is bound to that environment; without them it is environment-agnostic.
 */
export function buildApp(props: AppProps = {}, env?: Environment): { app: App; stack: SipMediaserverStack } {
  const app = new App({ ...props, context: { ...FEATURE_FLAGS, ...props.context } });
  const config = readDeploymentConfig((key) => app.node.tryGetContext(key));
  const resolvedEnv = env ?? {
    account: process.env.CDK_DEFAULT_ACCOUNT,
    region: process.env.CDK_DEFAULT_REGION,
  };
  const stack = new SipMediaserverStack(app, `SipMediaserver-${config.stage}`, {
    config,
    env: resolvedEnv,
    description: `SIP Mediaserver (${config.stage}): control plane, events, data and media nodes`,
  });
  return { app, stack };
}

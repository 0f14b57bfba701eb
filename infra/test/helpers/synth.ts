import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { SipMediaserverStack } from '../../src/cdk/sip-mediaserver-stack.js';

// aws-cdk-lib reads this when it synthesizes: skip the WASM CloudFormation validation (seconds per
// synth); the CLI test keeps the CLI's own defaults.
process.env.CDK_VALIDATION = 'false';
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
// CDK runs the local esbuild through `npx --no-install`; without this npm asks the registry for updates.
process.env.npm_config_update_notifier = 'false';

const { buildApp } = await import('../../src/cdk/build-app.js');

import { scratchDir } from './tools.js';

export { scratchDir };

export const TEST_ENV = { account: '111111111111', region: 'us-east-1' } as const;
export const INFRA_DIR = fileURLToPath(new URL('../..', import.meta.url));

/** The committed cdk.context.json: tests pass it to the app so they prove it is all synth needs. */
export function committedContext(): Record<string, unknown> {
  return JSON.parse(readFileSync(join(INFRA_DIR, 'cdk.context.json'), 'utf8'));
}

/** A node of CloudFormation JSON: untyped by nature, walked by the tests. */
// biome-ignore lint/suspicious/noExplicitAny: CloudFormation JSON is untyped
export type Cfn = any;

export type CfnTemplate = {
  Resources: Record<string, { Type: string; Properties?: Record<string, Cfn>; DependsOn?: unknown }>;
  Outputs?: Record<string, { Value: unknown; Description?: string }>;
  Parameters?: Record<string, { Type: string; Default?: string }>;
};

export interface Synthesized {
  template: CfnTemplate;
  outdir: string;
  stackName: string;
  /** The stack's constructs, for what the template does not show (the fleet's boot files). */
  stack: SipMediaserverStack;
}

/**
 * Synthesizes the app the way the CLI would (feature flags applied by buildApp), bound to a dummy
 * account so the committed AZ context is exercised. `bundle: false` skips esbuild for speed.
 */
export function synth(context: Record<string, unknown> = {}, opts: { bundle?: boolean } = {}): Synthesized {
  const outdir = scratchDir('sipms-cdk-');
  const { app, stack } = buildApp(
    {
      outdir,
      context: {
        ...committedContext(),
        sipDomain: 'sip.example.com',
        ...(opts.bundle === false ? { 'aws:cdk:bundling-stacks': [] } : {}),
        ...context,
      },
    },
    TEST_ENV,
  );
  const assembly = app.synth();
  return { template: assembly.getStackByName(stack.stackName).template, outdir, stackName: stack.stackName, stack };
}

/**
 * The app's stack, constructed but not synthesized (no assembly written, no bundling): for checks that read a
 * construct's properties (the fleet's boot settings) quickly, many times.
 */
let buildDir: string | undefined;
export function buildStack(context: Record<string, unknown> = {}) {
  buildDir ??= scratchDir('sipms-cdk-');
  const { stack } = buildApp(
    {
      // Shared: nothing is synthesized into it.
      outdir: buildDir,
      context: { ...committedContext(), sipDomain: 'sip.example.com', 'aws:cdk:bundling-stacks': [], ...context },
    },
    TEST_ENV,
  );
  return stack;
}

export function resourcesOfType(t: CfnTemplate, type: string): [string, Record<string, Cfn>][] {
  return Object.entries(t.Resources)
    .filter(([, r]) => r.Type === type)
    .map(([id, r]) => [id, r.Properties ?? {}]);
}

/** Renders a CloudFormation string expression with placeholders for references (for shell checks). */
export function renderCfnString(value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number') return String(value);
  if (Array.isArray(value)) return value.map(renderCfnString).join('');
  if (value && typeof value === 'object') {
    const [fn, arg] = Object.entries(value)[0] as [string, Cfn];
    if (fn === 'Fn::Base64') return renderCfnString(arg);
    if (fn === 'Fn::Join') return (arg[1] as unknown[]).map(renderCfnString).join(arg[0]);
    if (fn === 'Ref')
      return `cfn-ref-${String(arg)
        .replace(/[^A-Za-z0-9]/g, '')
        .toLowerCase()}`;
    if (fn === 'Fn::GetAtt') return `cfn-att-${[arg].flat().join('-').toLowerCase()}`;
    if (fn === 'Fn::Select' || fn === 'Fn::Split' || fn === 'Fn::Sub') return 'cfn-expr';
  }
  throw new Error(`cannot render ${JSON.stringify(value)}`);
}

/** Every logical id a CloudFormation expression refers to. */
export function referencedIds(value: unknown): Set<string> {
  const out = new Set<string>();
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === 'object') {
      for (const [k, x] of Object.entries(v)) {
        if (k === 'Ref' && typeof x === 'string') out.add(x);
        else if (k === 'Fn::GetAtt') out.add(Array.isArray(x) ? String(x[0]) : String(x).split('.')[0]!);
        else walk(x);
      }
    }
  };
  walk(value);
  return out;
}

/**
 * The media nodes' role: the one in the launch template's instance profile. Not "the role EC2 may assume": the image
 * pipeline's build instances have one too.
 */
export function nodeRoleId(t: CfnTemplate): string {
  const [[, lt]] = resourcesOfType(t, 'AWS::EC2::LaunchTemplate') as [[string, Cfn]];
  const [profileId] = lt.LaunchTemplateData.IamInstanceProfile.Arn['Fn::GetAtt'] as [string, string];
  const roles = t.Resources[profileId]!.Properties!.Roles as Cfn[];
  if (roles.length !== 1) throw new Error(`the node instance profile has ${roles.length} roles`);
  return roles[0].Ref as string;
}

/**
 * The user data the stack gives a media node, with concrete values: run.ts starts this in a child process (CDK's
 * bundling output stays out of the report, and the synth's scratch directory is removed when it exits).
 *
 *   node --import tsx infra/test/boot-rehearsal/user-data.ts <workdir> <instanceType> <name>=<context JSON>…
 *
 * writes <workdir>/<name>.json (RenderedUserData) and <workdir>/<name>.zip (the bundle) for each variant (context
 * such as {"nodeImage":"baked"}).
 *
 * The app is synthesized the way `cdk synth` does (infra/test/helpers/synth.ts, media-node bundle built by
 * esbuild), so the script is `bootScript()` exactly as the stack calls it. Its CloudFormation expressions are then
 * evaluated with made-up but well-formed physical values (names, ARNs, Elastic IP allocations), reported back so
 * the stubs answer for the same resources. The media-node asset directory is zipped as CDK's asset publishing does.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Cfn, type CfnTemplate, resourcesOfType, synth, TEST_ENV } from '../helpers/synth.js';

export interface RenderedUserData {
  script: string;
  stackName: string;
  region: string;
  /** The Elastic IPs the template allocates, as the stub should describe them. */
  elasticIps: { logicalId: string; allocationId: string; publicIp: string; tags: Record<string, string> }[];
  /** Concrete names the script got for the template's resources, by logical id and type. */
  resources: { logicalId: string; type: string; value: string }[];
  bundle: { bucket: string; key: string; files: number };
  /** The Image Builder pipeline's component document (YAML) and its build instance's user data, as deployed. */
  image: { componentName: string; componentData: string; buildInstanceUserData: string } | undefined;
}

const [workDir, instanceType, ...variants] = process.argv.slice(2);
if (!workDir || !instanceType || variants.length === 0 || variants.some((v) => !/^\w[\w-]*=\{.*\}$/.test(v))) {
  console.error('usage: user-data.ts <workdir> <instanceType> <name>=<context JSON>…');
  process.exit(2);
}

// One process for every variant: CDK's and esbuild's start-up is paid once.
for (const variant of variants) {
  const eq = variant.indexOf('=');
  const name = variant.slice(0, eq);
  const context = JSON.parse(variant.slice(eq + 1)) as Record<string, unknown>;
  const rendered = renderVariant({ instanceType, ...context }, join(workDir, `${name}.zip`));
  writeFileSync(join(workDir, `${name}.json`), JSON.stringify(rendered, null, 2));
}

function renderVariant(context: Record<string, unknown>, bundleZip: string): RenderedUserData {
  const { template, outdir, stackName } = synth(context);
  const launchTemplates = resourcesOfType(template, 'AWS::EC2::LaunchTemplate');
  if (launchTemplates.length !== 1) throw new Error(`expected one launch template, found ${launchTemplates.length}`);
  const userData = launchTemplates[0]![1].LaunchTemplateData?.UserData;

  const short = (id: string) => createHash('sha256').update(id).digest('hex').slice(0, 12);
  const eips = resourcesOfType(template, 'AWS::EC2::EIP').map(([logicalId], i) => ({
    logicalId,
    allocationId: `eipalloc-0${short(logicalId).slice(0, 16)}`,
    publicIp: `198.51.100.${10 + i}`,
  }));
  const resolved = new Map<string, { type: string; value: string }>();

  /** The physical id CloudFormation would return for `Ref`: a name property when the template sets one. */
  function refOf(id: string): string {
    const pseudo: Record<string, string> = {
      'AWS::Region': TEST_ENV.region,
      'AWS::AccountId': TEST_ENV.account,
      'AWS::Partition': 'aws',
      'AWS::URLSuffix': 'amazonaws.com',
      'AWS::StackName': stackName,
      'AWS::StackId': `arn:aws:cloudformation:${TEST_ENV.region}:${TEST_ENV.account}:stack/${stackName}/rehearsal`,
      'AWS::NoValue': '',
    };
    if (id in pseudo) return pseudo[id]!;
    const param = (template as CfnTemplate).Parameters?.[id];
    if (param) return param.Default ?? `rehearsal-parameter-${id}`;
    const r = template.Resources[id];
    if (!r) throw new Error(`Ref to ${id}: no such resource`);
    const props = r.Properties ?? {};
    const nameProp: Record<string, string> = {
      'AWS::DynamoDB::Table': 'TableName',
      'AWS::S3::Bucket': 'BucketName',
      'AWS::Logs::LogGroup': 'LogGroupName',
      'AWS::Events::EventBus': 'Name',
      'AWS::AutoScaling::AutoScalingGroup': 'AutoScalingGroupName',
      'AWS::SSM::Parameter': 'Name',
      'AWS::SQS::Queue': 'QueueName',
      'AWS::Lambda::Function': 'FunctionName',
    };
    const named = nameProp[r.Type] && props[nameProp[r.Type]!];
    let value: string;
    if (named !== undefined) value = render(named);
    else if (r.Type === 'AWS::EC2::EIP') value = eips.find((e) => e.logicalId === id)!.publicIp;
    else if (r.Type === 'AWS::KMS::Key') value = `0000${short(id)}-0000-4000-8000-${short(`${id}k`)}`;
    else if (r.Type === 'AWS::S3::Bucket') value = `${stackName}-${id}-${short(id)}`.toLowerCase().slice(0, 63);
    else if (r.Type === 'AWS::Logs::LogGroup') value = `/rehearsal/${stackName}/${id}`;
    else value = `${stackName}-${id}-${short(id).toUpperCase()}`;
    resolved.set(id, { type: r.Type, value });
    return value;
  }

  function getAtt(id: string, attr: string): string {
    const r = template.Resources[id];
    if (!r) throw new Error(`GetAtt ${id}.${attr}: no such resource`);
    const eip = eips.find((e) => e.logicalId === id);
    if (eip && attr === 'AllocationId') return eip.allocationId;
    if (eip && attr === 'PublicIp') return eip.publicIp;
    if (attr === 'Arn') {
      const service = r.Type.split('::')[1]!.toLowerCase();
      const resource: Record<string, string> = { 'AWS::KMS::Key': 'key/', 'AWS::DynamoDB::Table': 'table/' };
      return `arn:aws:${service}:${TEST_ENV.region}:${TEST_ENV.account}:${resource[r.Type] ?? ''}${refOf(id).replace(/^\//, '')}`;
    }
    return `${refOf(id)}-${attr.toLowerCase()}`;
  }

  /** Evaluates the intrinsic functions a string in the template may hold. */
  function render(v: Cfn): string {
    if (typeof v === 'string') return v;
    if (typeof v === 'number' || typeof v === 'boolean') return String(v);
    if (Array.isArray(v)) throw new Error(`a list where a string belongs: ${JSON.stringify(v).slice(0, 200)}`);
    const [fn, arg] = Object.entries(v as object)[0] as [string, Cfn];
    switch (fn) {
      case 'Ref':
        return refOf(arg);
      case 'Fn::GetAtt': {
        const [id, attr] = Array.isArray(arg) ? arg : String(arg).split('.');
        return getAtt(id, attr);
      }
      case 'Fn::Base64':
        return render(arg);
      case 'Fn::Join':
        return (arg[1] as Cfn[]).map(render).join(arg[0]);
      case 'Fn::Select':
        return renderList(arg[1])[Number(render(arg[0]))] ?? '';
      case 'Fn::Sub': {
        const [text, vars] = Array.isArray(arg) ? arg : [arg, {}];
        return String(text).replace(/\$\{([^}!]+)\}/g, (_, name: string) => {
          if (vars[name] !== undefined) return render(vars[name]);
          const [id, attr] = name.split('.');
          return attr ? getAtt(id!, attr) : refOf(id!);
        });
      }
      default:
        throw new Error(`cannot evaluate ${fn} in the user data: ${JSON.stringify(v).slice(0, 200)}`);
    }
  }

  function renderList(v: Cfn): string[] {
    if (Array.isArray(v)) return v.map(render);
    const [fn, arg] = Object.entries(v as object)[0] as [string, Cfn];
    if (fn === 'Fn::Split') return render(arg[1]).split(arg[0]);
    throw new Error(`cannot evaluate ${fn} as a list`);
  }

  const script = render(userData);
  const s3 = /aws s3 cp [^\n]*"s3:\/\/([^/"]+)\/([^"]+)"/.exec(script);
  if (!s3) throw new Error('the user data downloads no bundle with `aws s3 cp "s3://…"`');
  const [, bucket, key] = s3 as unknown as [string, string, string];
  const assetDir = join(outdir, `asset.${key.replace(/\.zip$/, '')}`);
  if (!existsSync(join(assetDir, 'main.mjs'))) throw new Error(`the bundle asset ${assetDir} has no main.mjs`);
  // CDK's asset publishing zips the directory's contents at the archive's root.
  const zip = spawnSync('zip', ['-q', '-r', '-X', bundleZip, '.'], { cwd: assetDir, encoding: 'utf8' });
  if (zip.status !== 0) throw new Error(`zip failed: ${zip.stderr}`);
  const files = spawnSync('zipinfo', ['-1', bundleZip], { encoding: 'utf8' }).stdout.trim().split('\n').length;

  const tagsOf = (id: string): Record<string, string> =>
    Object.fromEntries(
      ((template.Resources[id]?.Properties?.Tags ?? []) as { Key: Cfn; Value: Cfn }[]).map((t) => [
        render(t.Key),
        render(t.Value),
      ]),
    );
  // The pipeline's component and recipe: plain strings in the template (no tokens), run as they deploy.
  const components = resourcesOfType(template, 'AWS::ImageBuilder::Component');
  const recipes = resourcesOfType(template, 'AWS::ImageBuilder::ImageRecipe');
  if (components.length > 1 || recipes.length > 1) throw new Error('expected at most one image component and recipe');
  const recipeUserData = recipes[0]?.[1].AdditionalInstanceConfiguration?.UserDataOverride;
  const image = components[0]
    ? {
        componentName: render(components[0][1].Name),
        componentData: render(components[0][1].Data),
        buildInstanceUserData: recipeUserData ? Buffer.from(render(recipeUserData), 'base64').toString('utf8') : '',
      }
    : undefined;

  const rendered: RenderedUserData = {
    script,
    stackName,
    region: TEST_ENV.region,
    elasticIps: eips.map((e) => ({ ...e, tags: tagsOf(e.logicalId) })),
    resources: [...resolved].map(([logicalId, r]) => ({ logicalId, ...r })),
    bundle: { bucket, key, files },
    image,
  };
  // The auto scaling group's name is needed by the stubs even when the script reads it from IMDS, not the template.
  for (const [id] of resourcesOfType(template, 'AWS::AutoScaling::AutoScalingGroup')) {
    if (!resolved.has(id))
      rendered.resources.push({ logicalId: id, type: 'AWS::AutoScaling::AutoScalingGroup', value: refOf(id) });
  }
  return rendered;
}

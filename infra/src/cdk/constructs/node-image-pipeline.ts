import { createHash } from 'node:crypto';
import { Aws } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as imagebuilder from 'aws-cdk-lib/aws-imagebuilder';
import { Construct } from 'constructs';
import {
  INSTALL_SCRIPT_PATH,
  type InstallSettings,
  installCheckScript,
  installScript,
} from '../media-node-boot/install-script.js';

/** `stock`: nodes boot the Debian image and install everything at boot. `baked`: they boot this pipeline's image. */
export type NodeImageMode = 'stock' | 'baked';

/**
 * The SSM parameter the pipeline's distribution writes each new image id to, one per stage and architecture (so a
 * fleet never boots an image of the other architecture). Under /imagebuilder/ because that is the only path Image
 * Builder's service-linked role may write parameters to; anywhere else needs a custom execution role carrying a copy
 * of the whole service-linked policy.
 */
export function nodeAmiParameterName(stage: string, cpuArch: 'arm64' | 'amd64'): string {
  return `/imagebuilder/sip-mediaserver/${stage}/node-ami/${cpuArch}`;
}

/**
 * The launch template's image. Both modes read an SSM parameter through a CloudFormation parameter, resolved at each
 * deploy with no lookup: `stock` the Debian public parameter, `baked` the one the pipeline writes (it must exist: run
 * the pipeline once before the first deploy with nodeImage=baked, docs/deploy.md). A new image reaches the fleet at
 * the next deploy, which gives the launch template a new version and rolls the group.
 */
export function nodeMachineImage(
  mode: NodeImageMode,
  o: { stage: string; cpuArch: 'arm64' | 'amd64'; stockAmiSsmParameter: string },
): ec2.IMachineImage {
  const parameter = mode === 'baked' ? nodeAmiParameterName(o.stage, o.cpuArch) : o.stockAmiSsmParameter;
  return ec2.MachineImage.fromSsmParameter(parameter, { os: ec2.OperatingSystemType.LINUX });
}

/** Compute-optimised like the fleet's default, one per architecture; the build is mostly apt and unpacking. */
export const BUILD_INSTANCE_TYPES = { arm64: ['c7g.large'], amd64: ['c7i.large'] } as const;

export interface NodeImagePipelineProps {
  stage: string;
  cpuArch: 'arm64' | 'amd64';
  /** The SSM parameter of the parent image: the one the fleet boots with nodeImage=stock (Debian 12's public one). */
  parentImageSsmParameter: string;
  /** What goes into the image (installScript). */
  install: Omit<InstallSettings, 'cpuArch'>;
  /** Build instance types; default BUILD_INSTANCE_TYPES for the architecture. */
  instanceTypes?: string[];
  /** An Image Builder schedule expression (`cron(0 3 ? * SUN *)`); none (the default): built only when started. */
  schedule?: string;
  /** The VPC whose first public subnet the build runs in (it downloads from the internet); none: the default VPC. */
  vpc?: ec2.IVpc;
}

/** Image Builder versions are immutable: a changed document gets a new version from its digest, x.y.<0..2^30-1>. */
function versionOf(...parts: string[]): string {
  const digest = createHash('sha256').update(parts.join('\0')).digest();
  return `1.0.${digest.readUInt32BE(0) & 0x3fffffff}`;
}

/** The component: build runs installScript, validate (build instance) and test (new image) run installCheckScript. */
export function componentDocument(name: string, s: InstallSettings): string {
  const block = (text: string, indent: number) =>
    text
      .split('\n')
      .map((l) => (l ? ' '.repeat(indent) + l : l))
      .join('\n');
  // The script is written by a quoted here-document (the shell expands nothing in it) and kept in the image.
  const build = `mkdir -p ${INSTALL_SCRIPT_PATH.replace(/\/[^/]+$/, '')}
cat > ${INSTALL_SCRIPT_PATH} <<'SIPMS_INSTALL'
${installScript(s)}SIPMS_INSTALL
bash ${INSTALL_SCRIPT_PATH}
`;
  const check = `bash <<'SIPMS_CHECK'
${installCheckScript(s)}SIPMS_CHECK
`;
  const step = (phase: string, stepName: string, commands: string) => `  - name: ${phase}
    steps:
      - name: ${stepName}
        action: ExecuteBash
        inputs:
          commands:
            - |
${block(commands, 14)}`;
  return `name: ${name}
description: SIP Mediaserver media node - OS packages, Node.js, rtpengine, CloudWatch agent
schemaVersion: 1.0
phases:
${step('build', 'InstallMediaNode', build)}
${step('validate', 'CheckMediaNode', check)}
${step('test', 'CheckMediaNode', check)}`;
}

/**
 * Image Builder drives the build instance through the SSM Agent, which Debian's images lack, and does not install it on
 * Debian by itself: this user data installs it from the region's SSM bucket (as the boot script does). It stays in
 * the image, so baked nodes have Session Manager from their first second.
 */
export function buildInstanceUserData(cpuArch: 'arm64' | 'amd64'): string {
  return `#!/bin/bash
# Image Builder build instance: the SSM Agent first, through which Image Builder runs the build.
set -euo pipefail
IMDS=http://169.254.169.254
token=$(curl -fsS --retry 10 --retry-connrefused -X PUT "$IMDS/latest/api/token" -H 'x-aws-ec2-metadata-token-ttl-seconds: 300')
region=$(curl -fsS --retry 5 -H "x-aws-ec2-metadata-token: $token" "$IMDS/latest/meta-data/placement/region")
curl -fsSL --retry 5 -o /tmp/amazon-ssm-agent.deb \\
  "https://s3.$region.amazonaws.com/amazon-ssm-$region/latest/debian_${cpuArch}/amazon-ssm-agent.deb"
dpkg -i /tmp/amazon-ssm-agent.deb
rm -f /tmp/amazon-ssm-agent.deb
systemctl enable --now amazon-ssm-agent
`;
}

/**
 * An EC2 Image Builder pipeline that bakes the media node's software (installScript) into an AMI from the fleet's
 * Debian 12 parent image, checks it on the build instance and again on an instance of the new image, and writes the
 * image id to nodeAmiParameterName(stage, arch), where the fleet reads it with nodeImage=baked. It builds only when
 * started (`aws imagebuilder start-image-pipeline-execution`) unless given a schedule.
 */
export class NodeImagePipeline extends Construct {
  readonly pipeline: imagebuilder.CfnImagePipeline;
  readonly component: imagebuilder.CfnComponent;
  readonly recipe: imagebuilder.CfnImageRecipe;
  readonly infrastructure: imagebuilder.CfnInfrastructureConfiguration;
  readonly distribution: imagebuilder.CfnDistributionConfiguration;
  readonly buildRole: iam.Role;
  /** Where each new image id goes. */
  readonly amiParameterName: string;

  constructor(scope: Construct, id: string, props: NodeImagePipelineProps) {
    super(scope, id);
    const name = `sipms-${props.stage}-media-node-${props.cpuArch}`;
    const settings: InstallSettings = { ...props.install, cpuArch: props.cpuArch };
    this.amiParameterName = nodeAmiParameterName(props.stage, props.cpuArch);

    const data = componentDocument(name, settings);
    this.component = new imagebuilder.CfnComponent(this, 'Component', {
      name,
      platform: 'Linux',
      version: versionOf(data),
      description: 'Installs the SIP Mediaserver media node software (infra/src/cdk/media-node-boot/install-script.ts)',
      data,
    });

    // `ssm:` lets Image Builder resolve the parent at each build, so a rebuild starts from Debian's latest image and
    // the recipe (immutable) stays the same version.
    const parentImage = `ssm:${props.parentImageSsmParameter}`;
    const userDataOverride = Buffer.from(buildInstanceUserData(props.cpuArch)).toString('base64');
    this.recipe = new imagebuilder.CfnImageRecipe(this, 'Recipe', {
      name,
      version: versionOf(this.component.version, parentImage, userDataOverride),
      description: 'SIP Mediaserver media node on Debian 12',
      parentImage,
      components: [{ componentArn: this.component.attrArn }],
      additionalInstanceConfiguration: {
        systemsManagerAgent: { uninstallAfterBuild: false },
        userDataOverride,
      },
    });

    this.buildRole = new iam.Role(this, 'BuildRole', {
      assumedBy: new iam.ServicePrincipal('ec2.amazonaws.com'),
      description: 'Image Builder build and test instances of the media node image',
      managedPolicies: [
        iam.ManagedPolicy.fromAwsManagedPolicyName('AmazonSSMManagedInstanceCore'),
        iam.ManagedPolicy.fromAwsManagedPolicyName('EC2InstanceProfileForImageBuilder'),
      ],
    });
    const profile = new iam.InstanceProfile(this, 'BuildInstanceProfile', { role: this.buildRole });

    let network: { subnetId: string; securityGroupIds: string[] } | undefined;
    if (props.vpc) {
      // Outbound only: the build downloads packages, Node.js and the agents; nothing connects to it.
      const group = new ec2.SecurityGroup(this, 'BuildSecurityGroup', {
        vpc: props.vpc,
        description: 'Image Builder build instances of the media node image: outbound only',
        allowAllOutbound: true,
      });
      const [subnet] = props.vpc.selectSubnets({ subnetType: ec2.SubnetType.PUBLIC }).subnetIds;
      if (!subnet) throw new Error('NodeImagePipeline: the VPC has no public subnet for the build instance');
      network = { subnetId: subnet, securityGroupIds: [group.securityGroupId] };
    }
    this.infrastructure = new imagebuilder.CfnInfrastructureConfiguration(this, 'Infrastructure', {
      name,
      description: 'Build instances of the media node image',
      instanceProfileName: profile.instanceProfileName,
      instanceTypes: props.instanceTypes ?? [...BUILD_INSTANCE_TYPES[props.cpuArch]],
      terminateInstanceOnFailure: true,
      instanceMetadataOptions: { httpTokens: 'required', httpPutResponseHopLimit: 1 },
      ...network,
    });

    this.distribution = new imagebuilder.CfnDistributionConfiguration(this, 'Distribution', {
      name,
      description: 'The media node image, its id in SSM for the fleet',
      distributions: [
        {
          region: Aws.REGION,
          // Typed `any` in aws-cdk-lib: the keys go to CloudFormation as written, so they are its PascalCase names.
          amiDistributionConfiguration: {
            Name: `${name}-{{ imagebuilder:buildDate }}`,
            Description: 'SIP Mediaserver media node',
            AmiTags: { 'sipms:stage': props.stage, 'sipms:node-version': props.install.nodeVersion },
          },
          ssmParameterConfigurations: [{ parameterName: this.amiParameterName, dataType: 'aws:ec2:image' }],
        },
      ],
    });

    this.pipeline = new imagebuilder.CfnImagePipeline(this, 'Pipeline', {
      name,
      description: 'Bakes the media node image (docs/deploy.md "Baked node images")',
      imageRecipeArn: this.recipe.attrArn,
      infrastructureConfigurationArn: this.infrastructure.attrArn,
      distributionConfigurationArn: this.distribution.attrArn,
      imageTestsConfiguration: { imageTestsEnabled: true, timeoutMinutes: 60 },
      // Enhanced metadata needs SSM inventory of the OS, which Image Builder does not promise for Debian.
      enhancedImageMetadataEnabled: false,
      status: 'ENABLED',
      ...(props.schedule
        ? {
            // Rebuild on schedule even when nothing in the recipe changed: the point is Debian's security updates.
            schedule: { scheduleExpression: props.schedule, pipelineExecutionStartCondition: 'EXPRESSION_MATCH_ONLY' },
          }
        : {}),
    });
  }
}

import * as iam from 'aws-cdk-lib/aws-iam';

/**
 * Text-to-speech: polly:SynthesizeSpeech and nothing else. Polly has no resource-level permissions for
 * synthesis other than lexicons, so the resource is `*` (the action, not the resource, is the limit).
 */
export function grantSynthesizeSpeech(grantee: iam.IGrantable): iam.Grant {
  return iam.Grant.addToPrincipal({ grantee, actions: ['polly:SynthesizeSpeech'], resourceArns: ['*'] });
}

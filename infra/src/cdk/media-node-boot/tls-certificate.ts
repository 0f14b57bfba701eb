import { Aws } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';

/**
 * Where the nodes' SIP TLS certificate comes from: context `sipTlsCertificate`. ACM certificates cannot be exported
 * (their keys never leave ACM), so the operator keeps the PEM files in one of two places:
 *
 * - `s3://bucket/key-prefix`: two objects, `<prefix>.crt` (the certificate, then its chain) and `<prefix>.key` (the
 *   private key), as ACME clients and CAs hand them out, so a renewal is two uploads and the role may read exactly
 *   those two objects.
 * - `ssm:/parameter/name`: one SecureString holding the whole PEM bundle (certificate, chain and key, in any order).
 *   One parameter, since Parameter Store has no pairs; a chain with an RSA key is over the standard tier's 4 KB,
 *   so such a bundle needs the advanced tier (8 KB) or an EC key.
 */
export type TlsCertificateSource =
  | { kind: 's3'; bucket: string; keyPrefix: string; certObject: string; keyObject: string }
  | { kind: 'ssm'; parameterName: string };

/** The port of SIP over TLS (SIP_TLS_PORT; the security group opens it only when a certificate is configured). */
export const SIP_TLS_PORT = 5061;

/**
 * The port of SIP over secure WebSocket for browsers (the console's softphone, docs/softphone.md): served with the
 * same certificate, so it exists only when one is configured. Not 443: the node runs unprivileged.
 */
export const SOFTPHONE_WSS_PORT = 8443;

/** Where browsers reach the nodes' WSS transport: the SIP domain, whose A records list every node (dns-sync). */
export function softphoneWsUrl(sipDomain: string): string {
  return `wss://${sipDomain}:${SOFTPHONE_WSS_PORT}`;
}
/** The media-node unit's user (systemd-units.ts `User=`): it alone may read the key. */
export const SERVICE_USER = 'sipms';

export interface TlsPaths {
  dir: string;
  cert: string;
  key: string;
  owner: string;
  group: string;
  /** Where the fetched files wait while they are checked: a tmpfs, so the key never lands on disk elsewhere. */
  scratch: string;
}

export const TLS_PATHS: TlsPaths = {
  dir: '/etc/sipms/tls',
  cert: '/etc/sipms/tls/sip.crt',
  key: '/etc/sipms/tls/sip.key',
  owner: SERVICE_USER,
  group: SERVICE_USER,
  scratch: '/run',
};

const CONTEXT = 'context "sipTlsCertificate"';
const FORMS =
  's3://bucket/key-prefix (for <prefix>.crt and <prefix>.key) or ssm:/parameter/name (a SecureString PEM bundle)';
const S3_BUCKET = /^(?!xn--)(?!.*\.\.)[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
// Plain characters only: the key goes into IAM resource ARNs (where * and ? are wildcards) and into the boot script.
const S3_KEY = /^[A-Za-z0-9._/-]+$/;
const SSM_NAME = /^[A-Za-z0-9_./-]+$/;

/**
 * Reads context `sipTlsCertificate`: undefined when unset (no TLS). Throws an Error whose message names the context key
 * and the accepted forms (readDeploymentConfig wraps it in ConfigError, as it does for its other parsers; this module
 * does not import deployment-config.ts, which imports it). TLS is served by the builtin SIP stack only.
 */
export function parseTlsCertificateSource(
  value: string | undefined,
  signaling: 'builtin' | 'drachtio' = 'builtin',
): TlsCertificateSource | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  const v = value.trim();
  if (signaling !== 'builtin') {
    throw new Error(`${CONTEXT} needs signaling=builtin: with drachtio, drachtio-server owns the SIP sockets`);
  }
  if (v.startsWith('s3://')) {
    const rest = v.slice('s3://'.length);
    const slash = rest.indexOf('/');
    const bucket = slash < 0 ? rest : rest.slice(0, slash);
    const keyPrefix = slash < 0 ? '' : rest.slice(slash + 1);
    if (!S3_BUCKET.test(bucket)) throw new Error(`${CONTEXT}: "${bucket}" is not an S3 bucket name (got ${v})`);
    if (!keyPrefix || keyPrefix.endsWith('/')) {
      throw new Error(
        `${CONTEXT} needs a key prefix after the bucket, such as s3://${bucket}/tls/sip for tls/sip.crt and tls/sip.key (got ${v})`,
      );
    }
    const ext = /\.(crt|key|pem)$/.exec(keyPrefix);
    if (ext) {
      const prefix = keyPrefix.slice(0, -ext[0].length);
      throw new Error(
        `${CONTEXT} takes the key prefix without extension: s3://${bucket}/${prefix} for ${prefix}.crt and ${prefix}.key (got ${v})`,
      );
    }
    if (!S3_KEY.test(keyPrefix) || keyPrefix.startsWith('/') || keyPrefix.includes('//')) {
      throw new Error(`${CONTEXT}: the key prefix may hold letters, digits and . _ - / only (got ${v})`);
    }
    return { kind: 's3', bucket, keyPrefix, certObject: `${keyPrefix}.crt`, keyObject: `${keyPrefix}.key` };
  }
  if (v.startsWith('ssm:')) {
    const name = v.slice('ssm:'.length);
    if (name.startsWith('arn:')) {
      throw new Error(`${CONTEXT} takes a parameter name of this account and region, not an ARN (got ${v})`);
    }
    if (!name || !SSM_NAME.test(name) || name.length > 1011) {
      throw new Error(`${CONTEXT}: "${name}" is not an SSM parameter name (letters, digits and _ . - /) (got ${v})`);
    }
    if (name.includes('/') && !name.startsWith('/')) {
      throw new Error(`${CONTEXT}: a parameter name with a path starts with /: ssm:/${name} (got ${v})`);
    }
    if (/^\/?(aws|ssm)/i.test(name)) {
      throw new Error(`${CONTEXT}: parameter names starting with aws or ssm are reserved by AWS (got ${v})`);
    }
    if (name.endsWith('/') || name.includes('//') || name.split('/').length - 1 > 15) {
      throw new Error(`${CONTEXT}: "${name}" is not a valid parameter path (at most 15 levels) (got ${v})`);
    }
    return { kind: 'ssm', parameterName: name };
  }
  throw new Error(`${CONTEXT} must be ${FORMS} (got ${v})`);
}

/** The source as the operator wrote it, for logs and outputs. */
export function describeTlsSource(source: TlsCertificateSource): string {
  return source.kind === 's3' ? `s3://${source.bucket}/${source.keyPrefix}` : `ssm:${source.parameterName}`;
}

function fetchLines(source: TlsCertificateSource): string {
  if (source.kind === 's3') {
    return `aws s3api get-object --region "$REGION" --bucket '${source.bucket}' --key '${source.certObject}' \\
  "$tls_tmp/cert.pem" >/dev/null || tls_fail "cannot read s3://${source.bucket}/${source.certObject}"
aws s3api get-object --region "$REGION" --bucket '${source.bucket}' --key '${source.keyObject}' \\
  "$tls_tmp/key.pem" >/dev/null || tls_fail "cannot read s3://${source.bucket}/${source.keyObject}"`;
  }
  // The bundle goes straight to the scratch file: never to stdout, which the boot log (and CloudWatch) keeps.
  return `aws ssm get-parameter --region "$REGION" --name '${source.parameterName}' --with-decryption \\
  --query Parameter.Value --output text >"$tls_tmp/bundle.pem" || tls_fail "cannot read SecureString ${source.parameterName}"
awk -v cert="$tls_tmp/cert.pem" -v key="$tls_tmp/key.pem" '
  /-----BEGIN CERTIFICATE-----/ { c = 1 }
  /-----BEGIN [A-Z ]*PRIVATE KEY-----/ { k = 1 }
  c { print > cert }
  k { print > key }
  /-----END CERTIFICATE-----/ { c = 0 }
  /-----END [A-Z ]*PRIVATE KEY-----/ { k = 0 }
' "$tls_tmp/bundle.pem"`;
}

/**
 * The boot script's lines that fetch the certificate and key to paths.cert and paths.key (mode 0600, the node's user),
 * checked first: a certificate, a private key, and the key belonging to the certificate. Any failure fails the boot
 * (the boot script's ERR trap abandons the launch); an expired or soon-expiring certificate is a warning only, since
 * SIP over UDP and TCP still works. Runs after the node's user exists and before the units start; needs REGION,
 * awscli and openssl (ca-certificates depends on it). A renewed certificate reaches nodes as they are replaced
 * (an instance refresh), not in place.
 */
export function tlsFetchScript(source: TlsCertificateSource, paths: TlsPaths = TLS_PATHS): string {
  const from = describeTlsSource(source);
  return `# --- SIP over TLS: the certificate and key from ${from}, readable by the node's user only
: "\${REGION:?}"
tls_fail() { echo "sipms boot: TLS certificate: $1"; return 1; }
tls_tmp=$(mktemp -d ${paths.scratch}/sipms-tls.XXXXXX)
${fetchLines(source)}
grep -q -- '-----BEGIN CERTIFICATE-----' "$tls_tmp/cert.pem" 2>/dev/null || tls_fail "no certificate in ${from}"
grep -Eq -- '-----BEGIN ([A-Z]+ )?PRIVATE KEY-----' "$tls_tmp/key.pem" 2>/dev/null || tls_fail "no private key in ${from}"
cert_pub=$(openssl x509 -in "$tls_tmp/cert.pem" -noout -pubkey | openssl pkey -pubin -outform DER | sha256sum)
key_pub=$(openssl pkey -in "$tls_tmp/key.pem" -pubout -outform DER | sha256sum)
[ "$cert_pub" = "$key_pub" ] || tls_fail "the private key in ${from} does not belong to its certificate"
if ! openssl x509 -in "$tls_tmp/cert.pem" -noout -checkend 1209600 >/dev/null; then
  echo "sipms boot: WARNING the TLS certificate from ${from} expires within 14 days (or has): $(openssl x509 -in "$tls_tmp/cert.pem" -noout -enddate)"
fi
install -d -m 0700 -o ${paths.owner} -g ${paths.group} ${paths.dir}
install -m 0600 -o ${paths.owner} -g ${paths.group} "$tls_tmp/cert.pem" ${paths.cert}
install -m 0600 -o ${paths.owner} -g ${paths.group} "$tls_tmp/key.pem" ${paths.key}
rm -rf "$tls_tmp"
echo "sipms boot: TLS certificate from ${from} in ${paths.dir}"
`;
}

/** What the node's environment file gets with a certificate: the builtin SIP stack then listens for TLS on 5061. */
export function tlsEnvironment(paths: Pick<TlsPaths, 'cert' | 'key'> = TLS_PATHS): Record<string, string> {
  return {
    SIP_TRANSPORTS: 'udp,tcp,tls',
    SIP_TLS_CERT: paths.cert,
    SIP_TLS_KEY: paths.key,
    SIP_TLS_PORT: String(SIP_TLS_PORT),
    SIP_WS_PORT: String(SOFTPHONE_WSS_PORT),
    SIP_WS_SECURE: 'true',
  };
}

/**
 * Opens the softphone's WSS port to every address: browsers come from anywhere. Each connection must present a
 * tenant's short-lived credential before it is upgraded, and failed attempts are limited per address.
 */
export function allowSoftphoneWss(group: ec2.ISecurityGroup): void {
  group.addIngressRule(ec2.Peer.anyIpv4(), ec2.Port.tcp(SOFTPHONE_WSS_PORT), 'SIP over secure WebSocket (softphone)');
}

/**
 * Opens SIP over TLS (5061/tcp) to the CIDRs allowed to send SIP. Call it only with a certificate configured:
 * without one nothing listens there, and an open port with no listener only invites scans.
 */
export function allowSipTls(group: ec2.ISecurityGroup, cidrs: readonly string[]): void {
  for (const cidr of cidrs) group.addIngressRule(ec2.Peer.ipv4(cidr), ec2.Port.tcp(SIP_TLS_PORT), 'SIP over TLS');
}

/**
 * Least privilege for tlsFetchScript: s3:GetObject on exactly the two objects, or ssm:GetParameter on the one
 * parameter plus kms:Decrypt of this account's keys only when Parameter Store asks (kms:ViaService), which covers the
 * default aws/ssm key and a customer key whose policy defers to IAM. A bucket encrypted with a customer KMS key needs
 * that key's policy to allow the role as well.
 */
export function grantTlsCertificate(grantee: iam.IGrantable, source: TlsCertificateSource): void {
  const principal = grantee.grantPrincipal;
  if (source.kind === 's3') {
    principal.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['s3:GetObject'],
        resources: [source.certObject, source.keyObject].map(
          (key) => `arn:${Aws.PARTITION}:s3:::${source.bucket}/${key}`,
        ),
      }),
    );
    return;
  }
  const name = source.parameterName.replace(/^\//, '');
  principal.addToPrincipalPolicy(
    new iam.PolicyStatement({
      actions: ['ssm:GetParameter'],
      resources: [`arn:${Aws.PARTITION}:ssm:${Aws.REGION}:${Aws.ACCOUNT_ID}:parameter/${name}`],
    }),
  );
  principal.addToPrincipalPolicy(
    new iam.PolicyStatement({
      actions: ['kms:Decrypt'],
      resources: [`arn:${Aws.PARTITION}:kms:${Aws.REGION}:${Aws.ACCOUNT_ID}:key/*`],
      conditions: { StringEquals: { 'kms:ViaService': `ssm.${Aws.REGION}.amazonaws.com` } },
    }),
  );
}

/**
 * The AWS and download endpoints the boot script reaches, answered locally for the boot rehearsal (run.ts). One
 * HTTP server on 127.0.0.1: the chroot shares the host's network, and the shims (shims/) send it IMDS and
 * nodejs.org requests and other downloads (curl), every aws CLI call (the real CLI with --endpoint-url pointing
 * here), every systemctl and apt-get call and the agents' stand-ins. Each request is recorded; a request no fixture answers is answered with an error AND flagged
 * `unknown`, so the rehearsal fails and says what the script asked for that the stub does not know.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface StubCall {
  /**
   * imds, nodejs, external (other downloads), aws (the CLI's argv), s3/ec2/autoscaling/dynamodb/ssm (API), and the
   * shims' and stand-ins' records: systemctl, apt-get, media-node-stand-in, amazon-cloudwatch-agent-ctl, …
   */
  service: string;
  /** What was asked, in one line: `GET meta-data/instance-id`, `ec2 AssociateAddress AllocationId=…`. */
  summary: string;
  /** The CLI's or systemctl's arguments, for the shims' records. */
  args?: string[];
  /** API parameters (EC2/Auto Scaling form fields, DynamoDB JSON). */
  params?: Record<string, unknown>;
  status: number;
  /** No fixture answers this request: the rehearsal fails on it. */
  unknown?: boolean;
  /** Failed because the scenario says so (the negative case). */
  injected?: boolean;
}

export interface ElasticIp {
  allocationId: string;
  publicIp: string;
  tags: Record<string, string>;
  /** Set when the address is associated (with this node or another instance). */
  instanceId?: string;
  associationId?: string;
}

export interface StubFixtures {
  instanceId: string;
  instanceType: string;
  privateIp: string;
  /** The instance's auto-assigned public address; undefined: IMDS has none (404), as in a private subnet. */
  publicIp: string | undefined;
  region: string;
  availabilityZone: string;
  autoScalingGroupName: string;
  /** The bundle the script must fetch: anything else in S3 is a 404 and flagged. */
  bundle: { bucket: string; key: string; body: Buffer };
  /** Files served under https://nodejs.org/ (path without the leading slash → body). */
  nodejsFiles: Map<string, Buffer>;
  /** Downloads the script is known to make that the rehearsal refuses on purpose (404, not flagged). */
  refusedDownloads: RegExp[];
  /** Other downloads answered (URL without the scheme → body): the agents' stand-in packages of the image build. */
  externalFiles?: Map<string, Buffer>;
  /** SSM parameters by name (SecureString values, returned decrypted only when asked WithDecryption). */
  ssmParameters?: Map<string, string>;
  elasticIps: ElasticIp[];
  /** DynamoDB items by table, each matched on its key attributes (DynamoDB JSON). */
  dynamoItems: Map<string, Record<string, unknown>[]>;
  /** The node registry's table: the media node stand-in's start puts this node's heartbeat there. */
  registryTable: string;
}

export type Failure = 's3-download';

const MAC = '0a:1b:2c:3d:4e:5f';

export class RehearsalStubs {
  readonly calls: StubCall[] = [];
  private readonly tokens = new Set<string>();
  private server: Server | undefined;
  private fail: Failure | undefined;

  constructor(private readonly fx: StubFixtures) {}

  /** Chooses the failure injected from now on (undefined: none). */
  setFailure(f: Failure | undefined): void {
    this.fail = f;
  }

  /** Starts listening; returns the base URL the shims use. */
  async start(): Promise<string> {
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        try {
          this.handle(req, Buffer.concat(chunks), res);
        } catch (e) {
          this.record({
            service: 'stub',
            summary: `${req.method} ${req.url}: ${String(e)}`,
            status: 500,
            unknown: true,
          });
          if (!res.headersSent) res.writeHead(500);
          res.end(String(e));
        }
      });
    });
    this.server = server;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** What the node writes in the registry when it starts (shared/src/data/node-registry.ts), as DynamoDB JSON. */
  private heartbeat(nodeId: string): void {
    const items = this.fx.dynamoItems.get(this.fx.registryTable) ?? [];
    items.push({
      pk: { S: `NODE#${nodeId}` },
      sk: { S: 'HEARTBEAT' },
      gsi1pk: { S: 'NODES' },
      gsi1sk: { S: nodeId },
      nodeId: { S: nodeId },
      activeCalls: { N: '0' },
      expiresAt: { N: String(Math.floor(Date.now() / 1000) + 86_400) },
    });
    this.fx.dynamoItems.set(this.fx.registryTable, items);
  }

  /** The public address IMDS reports now: the Elastic IP once associated with this node. */
  private publicIp(): string | undefined {
    return this.fx.elasticIps.find((a) => a.instanceId === this.fx.instanceId)?.publicIp ?? this.fx.publicIp;
  }

  private record(c: StubCall): void {
    this.calls.push(c);
  }

  private handle(req: IncomingMessage, body: Buffer, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://stub');
    const [, top = '', ...rest] = url.pathname.split('/');
    const path = rest.join('/');
    switch (top) {
      case 'imds': {
        this.imds(req, path, res);
        return;
      }
      case 'nodejs': {
        this.download('nodejs', req, path, this.fx.nodejsFiles.get(path), res);
        return;
      }
      case 'external': {
        this.download('external', req, path, this.fx.externalFiles?.get(path), res);
        return;
      }
      case 'record': {
        // The shims' argv, NUL-separated.
        const args = body.toString('utf8').split('\0');
        if (args.at(-1) === '') args.pop();
        this.record({ service: path, summary: `${path} ${args.join(' ')}`, args, status: 200 });
        if (path === 'media-node-stand-in' && args[0] === 'started') this.heartbeat(args[1] ?? '');
        res.end();
        return;
      }
      case 'aws': {
        this.aws(req, url, path, body, res);
        return;
      }
      default:
        this.record({ service: 'stub', summary: `${req.method} ${url.pathname}`, status: 404, unknown: true });
        res.writeHead(404).end('rehearsal stub: unknown endpoint\n');
    }
  }

  // --- IMDSv2 ---------------------------------------------------------------------------------------------------

  private imds(req: IncomingMessage, path: string, res: ServerResponse): void {
    if (path === 'latest/api/token') {
      const ttl = Number(req.headers['x-aws-ec2-metadata-token-ttl-seconds']);
      if (req.method !== 'PUT' || !(ttl >= 1 && ttl <= 21600)) {
        this.record({ service: 'imds', summary: `${req.method} ${path} (ttl ${ttl})`, status: 400, unknown: true });
        res.writeHead(400).end();
        return;
      }
      const token = randomBytes(16).toString('base64');
      this.tokens.add(token);
      this.record({ service: 'imds', summary: `PUT ${path}`, status: 200 });
      res.end(token);
      return;
    }
    // IMDSv2 only (the launch template requires tokens): a request without a valid token is refused, as on EC2.
    const token = req.headers['x-aws-ec2-metadata-token'];
    if (typeof token !== 'string' || !this.tokens.has(token)) {
      this.record({ service: 'imds', summary: `GET ${path} without a token`, status: 401, unknown: true });
      res.writeHead(401).end();
      return;
    }
    const key = path.replace(/^latest\//, '');
    const value = this.imdsValue(key);
    if (value === undefined) {
      // public-ipv4 without a public address is a 404 on EC2 too; anything else is a path the stub lacks.
      const expected = key === 'meta-data/public-ipv4';
      this.record({ service: 'imds', summary: `GET ${key}`, status: 404, ...(expected ? {} : { unknown: true }) });
      res.writeHead(404).end();
      return;
    }
    this.record({ service: 'imds', summary: `GET ${key}`, status: 200 });
    res.end(value);
  }

  private imdsValue(key: string): string | undefined {
    const fx = this.fx;
    const publicIp = this.publicIp();
    const nic = `meta-data/network/interfaces/macs/${MAC}/`;
    const values: Record<string, string | undefined> = {
      'meta-data/instance-id': fx.instanceId,
      'meta-data/instance-type': fx.instanceType,
      'meta-data/ami-id': 'ami-0rehearsal0000000',
      'meta-data/local-ipv4': fx.privateIp,
      'meta-data/public-ipv4': publicIp,
      'meta-data/local-hostname': `ip-${fx.privateIp.replaceAll('.', '-')}.ec2.internal`,
      'meta-data/hostname': `ip-${fx.privateIp.replaceAll('.', '-')}.ec2.internal`,
      'meta-data/mac': MAC,
      'meta-data/placement/region': fx.region,
      'meta-data/placement/availability-zone': fx.availabilityZone,
      'meta-data/autoscaling/target-lifecycle-state': 'InService',
      'meta-data/tags/instance/aws:autoscaling:groupName': fx.autoScalingGroupName,
      [`${nic}local-ipv4s`]: fx.privateIp,
      [`${nic}public-ipv4s`]: publicIp,
      [`${nic}interface-id`]: 'eni-0rehearsal000000',
      [`${nic}subnet-id`]: 'subnet-0rehearsal00000',
      [`${nic}vpc-id`]: 'vpc-0rehearsal000000',
      'dynamic/instance-identity/document': JSON.stringify({
        accountId: '111111111111',
        architecture: fx.instanceType.includes('g.') ? 'arm64' : 'x86_64',
        availabilityZone: fx.availabilityZone,
        instanceId: fx.instanceId,
        instanceType: fx.instanceType,
        privateIp: fx.privateIp,
        region: fx.region,
      }),
    };
    return values[key];
  }

  // --- downloads ------------------------------------------------------------------------------------------------

  private download(service: string, req: IncomingMessage, path: string, file: Buffer | undefined, res: ServerResponse) {
    if (file && (req.method === 'GET' || req.method === 'HEAD')) {
      this.record({ service, summary: `${req.method} ${path}`, status: 200 });
      res.writeHead(200, { 'content-length': file.length });
      res.end(req.method === 'HEAD' ? undefined : file);
      return;
    }
    const refused = this.fx.refusedDownloads.some((r) => r.test(path));
    this.record({
      service,
      summary: `${req.method} ${path}${refused ? ' (refused: not rehearsed)' : ''}`,
      status: 404,
      ...(refused ? {} : { unknown: true }),
    });
    res.writeHead(404).end();
  }

  // --- AWS APIs, as the real CLI calls them -----------------------------------------------------------------------

  private aws(req: IncomingMessage, url: URL, path: string, body: Buffer, res: ServerResponse): void {
    const target = req.headers['x-amz-target'];
    if (typeof target === 'string' && target.startsWith('AmazonSSM.')) {
      this.ssm(target, body, res);
      return;
    }
    if (typeof target === 'string') {
      this.dynamodb(target, body, res);
      return;
    }
    const form = req.method === 'POST' ? new URLSearchParams(body.toString('utf8')) : undefined;
    const action = form?.get('Action');
    if (form && action) {
      const params = Object.fromEntries([...form].filter(([k]) => k !== 'Action' && k !== 'Version'));
      if (form.get('Version') === '2011-01-01') this.autoscaling(action, params, res);
      else this.ec2(action, params, res);
      return;
    }
    this.s3(req, url, path, res);
    return;
  }

  private s3(req: IncomingMessage, url: URL, path: string, res: ServerResponse): void {
    const [bucket = '', ...keyParts] = path.split('/');
    const key = decodeURIComponent(keyParts.join('/'));
    const op = req.method === 'HEAD' ? 'HeadObject' : req.method === 'GET' ? 'GetObject' : `${req.method}`;
    const summary = `s3 ${op} s3://${bucket}/${key}${url.search}`;
    const xmlError = (status: number, code: string, message: string) => {
      res.writeHead(status, { 'content-type': 'application/xml' });
      res.end(
        req.method === 'HEAD'
          ? undefined
          : `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>${message}</Message></Error>`,
      );
    };
    if (this.fail === 's3-download') {
      this.record({ service: 's3', summary, status: 403, injected: true });
      xmlError(403, 'AccessDenied', 'Access Denied');
      return;
    }
    const { bucket: b, key: k, body } = this.fx.bundle;
    if (bucket !== b || key !== k || (req.method !== 'GET' && req.method !== 'HEAD')) {
      this.record({ service: 's3', summary, status: 404, unknown: true });
      xmlError(404, 'NoSuchKey', 'The specified key does not exist.');
      return;
    }
    const headers = {
      'content-type': 'application/zip',
      etag: '"rehearsal"',
      'last-modified': new Date(0).toUTCString(),
      'accept-ranges': 'bytes',
    };
    // The CLI fetches large objects in ranged parts.
    const range = /^bytes=(\d+)-(\d*)$/.exec(String(req.headers.range ?? ''));
    if (range && req.method === 'GET') {
      const start = Number(range[1]);
      const end = Math.min(range[2] ? Number(range[2]) : body.length - 1, body.length - 1);
      this.record({ service: 's3', summary: `${summary} bytes ${start}-${end}`, status: 206 });
      res.writeHead(206, {
        ...headers,
        'content-length': end - start + 1,
        'content-range': `bytes ${start}-${end}/${body.length}`,
      });
      res.end(body.subarray(start, end + 1));
      return;
    }
    this.record({ service: 's3', summary, status: 200 });
    res.writeHead(200, { ...headers, 'content-length': body.length });
    res.end(req.method === 'HEAD' ? undefined : body);
  }

  private ec2(action: string, params: Record<string, string>, res: ServerResponse): void {
    const summary = `ec2 ${action} ${formatParams(params)}`;
    const reply = (xml: string) => {
      this.record({ service: 'ec2', summary, params, status: 200 });
      res.writeHead(200, { 'content-type': 'text/xml' });
      res.end(
        `<?xml version="1.0" encoding="UTF-8"?><${action}Response xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>rehearsal</requestId>${xml}</${action}Response>`,
      );
    };
    const error = (status: number, code: string, message: string, unknown = false) => {
      this.record({ service: 'ec2', summary: `${summary} → ${code}`, params, status, ...(unknown ? { unknown } : {}) });
      res.writeHead(status, { 'content-type': 'text/xml' });
      res.end(
        `<?xml version="1.0" encoding="UTF-8"?><Response><Errors><Error><Code>${code}</Code><Message>${message}</Message></Error></Errors><RequestID>rehearsal</RequestID></Response>`,
      );
    };
    const eips = this.fx.elasticIps;
    switch (action) {
      case 'DescribeAddresses': {
        const ids = listParam(params, 'AllocationId');
        const ips = listParam(params, 'PublicIp');
        const filters = filterParams(params);
        const selected = eips.filter(
          (a) =>
            (ids.length === 0 || ids.includes(a.allocationId)) &&
            (ips.length === 0 || ips.includes(a.publicIp)) &&
            filters.every((f) => addressField(a, f.name).some((v) => f.values.includes(v))),
        );
        const missing = ids.find((id) => !eips.some((a) => a.allocationId === id));
        if (missing) {
          error(400, 'InvalidAllocationID.NotFound', `The allocation ID '${missing}' does not exist`);
          return;
        }
        reply(`<addressesSet>${selected.map(addressXml).join('')}</addressesSet>`);
        return;
      }
      case 'AssociateAddress': {
        const a = eips.find((x) => x.allocationId === params.AllocationId);
        if (!a) {
          error(400, 'InvalidAllocationID.NotFound', `The allocation ID '${params.AllocationId}' does not exist`);
          return;
        }
        if (params.InstanceId !== this.fx.instanceId) {
          error(400, 'InvalidInstanceID.NotFound', 'not this node');
          return;
        }
        // EC2 moves an associated address only with AllowReassociation (the CLI's default is true in a VPC).
        if (a.instanceId && a.instanceId !== params.InstanceId && params.AllowReassociation === 'false') {
          error(400, 'Resource.AlreadyAssociated', `resource ${a.allocationId} is already associated`);
          return;
        }
        for (const other of eips.filter((x) => x.instanceId === params.InstanceId)) {
          delete other.instanceId;
          delete other.associationId;
        }
        a.instanceId = params.InstanceId;
        a.associationId = `eipassoc-${randomBytes(8).toString('hex')}`;
        reply(`<return>true</return><associationId>${a.associationId}</associationId>`);
        return;
      }
      case 'DisassociateAddress': {
        const a = eips.find((x) => x.associationId === params.AssociationId);
        if (!a) {
          error(400, 'InvalidAssociationID.NotFound', 'no such association');
          return;
        }
        delete a.instanceId;
        delete a.associationId;
        reply('<return>true</return>');
        return;
      }
      default: {
        error(400, 'RehearsalStub.NoFixture', `the rehearsal stub has no fixture for ec2 ${action}`, true);
        return;
      }
    }
  }

  private autoscaling(action: string, params: Record<string, string>, res: ServerResponse): void {
    const summary = `autoscaling ${action} ${formatParams(params)}`;
    const known: Record<string, string> = {
      CompleteLifecycleAction: '<CompleteLifecycleActionResult/>',
      RecordLifecycleActionHeartbeat: '<RecordLifecycleActionHeartbeatResult/>',
      SetInstanceHealth: '',
      DescribeAutoScalingInstances: `<DescribeAutoScalingInstancesResult><AutoScalingInstances><member><InstanceId>${this.fx.instanceId}</InstanceId><AutoScalingGroupName>${this.fx.autoScalingGroupName}</AutoScalingGroupName><AvailabilityZone>${this.fx.availabilityZone}</AvailabilityZone><LifecycleState>Pending:Wait</LifecycleState><HealthStatus>HEALTHY</HealthStatus><ProtectedFromScaleIn>false</ProtectedFromScaleIn><InstanceType>${this.fx.instanceType}</InstanceType></member></AutoScalingInstances></DescribeAutoScalingInstancesResult>`,
    };
    const result = known[action];
    const bad =
      result === undefined
        ? `the rehearsal stub has no fixture for autoscaling ${action}`
        : action === 'CompleteLifecycleAction' &&
            (params.InstanceId !== this.fx.instanceId ||
              !['CONTINUE', 'ABANDON'].includes(params.LifecycleActionResult ?? '') ||
              params.AutoScalingGroupName !== this.fx.autoScalingGroupName)
          ? `CompleteLifecycleAction for instance ${params.InstanceId} of group ${params.AutoScalingGroupName} (expected ${this.fx.instanceId} of ${this.fx.autoScalingGroupName})`
          : undefined;
    if (bad) {
      this.record({ service: 'autoscaling', summary: `${summary} → ${bad}`, params, status: 400, unknown: true });
      res.writeHead(400, { 'content-type': 'text/xml' });
      res.end(
        `<ErrorResponse xmlns="http://autoscaling.amazonaws.com/doc/2011-01-01/"><Error><Type>Sender</Type><Code>ValidationError</Code><Message>${bad}</Message></Error><RequestId>rehearsal</RequestId></ErrorResponse>`,
      );
      return;
    }
    this.record({ service: 'autoscaling', summary, params, status: 200 });
    res.writeHead(200, { 'content-type': 'text/xml' });
    res.end(
      `<${action}Response xmlns="http://autoscaling.amazonaws.com/doc/2011-01-01/">${result}<ResponseMetadata><RequestId>rehearsal</RequestId></ResponseMetadata></${action}Response>`,
    );
  }

  /** SSM's JSON API: GetParameter of the fixtures' parameters; the value never goes into the record. */
  private ssm(target: string, body: Buffer, res: ServerResponse): void {
    const op = target.split('.').pop() ?? target;
    const params = JSON.parse(body.toString('utf8') || '{}') as { Name?: string; WithDecryption?: boolean };
    const summary = `ssm ${op} ${params.Name ?? ''}${params.WithDecryption ? ' WithDecryption' : ''}`;
    const json = (status: number, payload: unknown) => {
      res.writeHead(status, { 'content-type': 'application/x-amz-json-1.1' });
      res.end(JSON.stringify(payload));
    };
    const value = params.Name === undefined ? undefined : this.fx.ssmParameters?.get(params.Name);
    if (op !== 'GetParameter' || value === undefined) {
      const why = op !== 'GetParameter' ? `no fixture for ssm ${op}` : `no parameter ${params.Name}`;
      this.record({ service: 'ssm', summary: `${summary} → ${why}`, params, status: 400, unknown: true });
      json(400, { __type: 'ParameterNotFound', message: `the rehearsal stub has ${why}` });
      return;
    }
    this.record({ service: 'ssm', summary, params, status: 200 });
    json(200, {
      Parameter: {
        Name: params.Name,
        Type: 'SecureString',
        // Without decryption SSM returns the ciphertext: the script must ask for the plain value.
        Value: params.WithDecryption ? value : Buffer.from(`rehearsal-ciphertext:${params.Name}`).toString('base64'),
        Version: 1,
        LastModifiedDate: 0,
        ARN: `arn:aws:ssm:${this.fx.region}:111111111111:parameter/${params.Name!.replace(/^\//, '')}`,
        DataType: 'text',
      },
    });
  }

  private dynamodb(target: string, body: Buffer, res: ServerResponse): void {
    const op = target.split('.').pop() ?? target;
    const params = JSON.parse(body.toString('utf8') || '{}') as Record<string, unknown>;
    const table = String(params.TableName ?? '');
    const summary = `dynamodb ${op} ${table} ${JSON.stringify(params.Key ?? {})}`;
    const json = (status: number, payload: unknown) => {
      res.writeHead(status, { 'content-type': 'application/x-amz-json-1.0' });
      res.end(JSON.stringify(payload));
    };
    if (op !== 'GetItem') {
      this.record({ service: 'dynamodb', summary, params, status: 400, unknown: true });
      json(400, {
        __type: 'com.amazon.coral.validate#ValidationException',
        message: `the rehearsal stub has no fixture for dynamodb ${op}`,
      });
      return;
    }
    const key = (params.Key ?? {}) as Record<string, unknown>;
    const item = this.fx.dynamoItems
      .get(table)
      ?.find((i) => Object.entries(key).every(([k, v]) => JSON.stringify(i[k]) === JSON.stringify(v)));
    // A missing item is a normal answer ({}): the script polls until the node's heartbeat appears.
    this.record({ service: 'dynamodb', summary: `${summary} → ${item ? 'item' : 'no item'}`, params, status: 200 });
    json(200, item ? { Item: item } : {});
  }
}

function formatParams(params: Record<string, string>): string {
  return Object.entries(params)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
}

/** `AllocationId.1`, `AllocationId.2`, … of an EC2 query request. */
function listParam(params: Record<string, string>, name: string): string[] {
  return Object.entries(params)
    .filter(([k]) => new RegExp(`^${name}\\.\\d+$`).test(k))
    .map(([, v]) => v);
}

/** `Filter.N.Name` with its `Filter.N.Value.M` values. */
function filterParams(params: Record<string, string>): { name: string; values: string[] }[] {
  const out: { name: string; values: string[] }[] = [];
  for (const [k, name] of Object.entries(params)) {
    const m = /^Filter\.(\d+)\.Name$/.exec(k);
    if (m) out.push({ name, values: listParam(params, `Filter\\.${m[1]}\\.Value`) });
  }
  return out;
}

function addressField(a: ElasticIp, name: string): string[] {
  if (name.startsWith('tag:')) return [a.tags[name.slice(4)] ?? ''].filter(Boolean);
  if (name === 'tag-key') return Object.keys(a.tags);
  const fields: Record<string, string | undefined> = {
    'allocation-id': a.allocationId,
    'public-ip': a.publicIp,
    'instance-id': a.instanceId,
    'association-id': a.associationId,
    domain: 'vpc',
  };
  const v = fields[name];
  return v === undefined ? [] : [v];
}

function addressXml(a: ElasticIp): string {
  const tags = Object.entries(a.tags)
    .map(([k, v]) => `<item><key>${k}</key><value>${v}</value></item>`)
    .join('');
  return `<item><publicIp>${a.publicIp}</publicIp><allocationId>${a.allocationId}</allocationId><domain>vpc</domain>${
    a.instanceId ? `<instanceId>${a.instanceId}</instanceId><associationId>${a.associationId}</associationId>` : ''
  }<networkBorderGroup>us-east-1</networkBorderGroup><publicIpv4Pool>amazon</publicIpv4Pool><tagSet>${tags}</tagSet></item>`;
}

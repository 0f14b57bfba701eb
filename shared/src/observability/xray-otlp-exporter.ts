import { createHash, createHmac, type Hash, type Hmac } from 'node:crypto';
import { defaultProvider } from '@aws-sdk/credential-provider-node';
import { type ExportResult, ExportResultCode } from '@opentelemetry/core';
import { ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace-base';
import { SignatureV4 } from '@smithy/signature-v4';

/** SHA-256 (an HMAC when given a secret) in the shape SignatureV4 takes, on node:crypto. */
class Sha256 {
  private readonly h: Hash | Hmac;
  constructor(secret?: string | ArrayBuffer | ArrayBufferView) {
    this.h = secret === undefined ? createHash('sha256') : createHmac('sha256', toBytes(secret));
  }
  update(data: string | ArrayBuffer | ArrayBufferView): void {
    this.h.update(toBytes(data));
  }
  digest(): Promise<Uint8Array> {
    return Promise.resolve(new Uint8Array(this.h.digest()));
  }
}

function toBytes(v: string | ArrayBuffer | ArrayBufferView): Uint8Array | string {
  if (typeof v === 'string') return v;
  if (ArrayBuffer.isView(v)) return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
  return new Uint8Array(v);
}

export interface XrayExporterOptions {
  region: string;
  /** The OTLP traces endpoint; default `https://xray.<region>.amazonaws.com/v1/traces`. */
  url?: string;
  /** Default: the AWS SDK's credential chain (the instance's or the function's role). */
  credentials?: SignatureV4['credentialProvider'];
  timeoutMs?: number;
}

/**
 * Spans to AWS X-Ray through its OTLP endpoint (`https://xray.<region>.amazonaws.com/v1/traces`, OTLP/HTTP
 * protobuf, signed with SigV4 for the service `xray`). X-Ray takes W3C trace ids as they are, so a call's
 * trace id is the same in the tenant's `traceparent`, the journal and X-Ray. The account needs CloudWatch
 * Transaction Search enabled (docs/operations.md, "Traces").
 */
export class XrayOtlpExporter implements SpanExporter {
  private readonly url: URL;
  private readonly signer: SignatureV4;
  private readonly timeoutMs: number;

  constructor(opts: XrayExporterOptions) {
    this.url = new URL(opts.url ?? `https://xray.${opts.region}.amazonaws.com/v1/traces`);
    this.signer = new SignatureV4({
      service: 'xray',
      region: opts.region,
      credentials: opts.credentials ?? defaultProvider(),
      sha256: Sha256,
    });
    this.timeoutMs = opts.timeoutMs ?? 10_000;
  }

  export(spans: ReadableSpan[], done: (result: ExportResult) => void): void {
    this.send(spans).then(
      () => done({ code: ExportResultCode.SUCCESS }),
      (error: Error) => done({ code: ExportResultCode.FAILED, error }),
    );
  }

  private async send(spans: ReadableSpan[]): Promise<void> {
    const body = ProtobufTraceSerializer.serializeRequest(spans);
    if (!body) throw new Error('spans could not be serialized');
    const signed = await this.signer.sign({
      method: 'POST',
      protocol: this.url.protocol,
      hostname: this.url.hostname,
      ...(this.url.port ? { port: Number(this.url.port) } : {}),
      path: this.url.pathname,
      query: {},
      headers: { host: this.url.host, 'content-type': 'application/x-protobuf' },
      body,
    });
    // fetch sets Host itself (the same value that was signed).
    const { host: _host, ...headers } = signed.headers;
    const res = await fetch(this.url, {
      method: 'POST',
      headers,
      body,
      signal: AbortSignal.timeout(this.timeoutMs),
    });
    if (!res.ok) throw new Error(`X-Ray OTLP endpoint answered ${res.status}: ${(await res.text()).slice(0, 300)}`);
    await res.arrayBuffer();
  }

  shutdown(): Promise<void> {
    return Promise.resolve();
  }
}

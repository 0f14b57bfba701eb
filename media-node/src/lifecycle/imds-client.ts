/**
 * A minimal EC2 instance metadata (IMDSv2) client: a session token from `PUT /latest/api/token`,
 * then `GET`s that carry it. The token is refreshed before it expires and once more when IMDS
 * answers 401 (the instance may have been stopped and started, which invalidates tokens).
 */
export interface ImdsClient {
  /** The text at `path` (e.g. `latest/meta-data/instance-id`), or `undefined` when IMDS says 404. */
  get(path: string): Promise<string | undefined>;
}

export interface Imdsv2ClientOptions {
  /** Default `http://169.254.169.254`; tests point it at a local server. */
  endpoint?: string;
  /** Lifetime requested for each token (IMDS allows 1–21600 s). */
  tokenTtlSeconds?: number;
  /** Per-request timeout: IMDS answers in milliseconds, a hang means it is unreachable. */
  timeoutMs?: number;
  now?: () => number;
}

export class ImdsError extends Error {
  override name = 'ImdsError';
}

export class Imdsv2Client implements ImdsClient {
  private readonly endpoint: string;
  private readonly ttlSeconds: number;
  private readonly timeoutMs: number;
  private readonly now: () => number;
  private token: { value: string; renewAt: number } | undefined;

  constructor(opts: Imdsv2ClientOptions = {}) {
    this.endpoint = (opts.endpoint ?? 'http://169.254.169.254').replace(/\/+$/, '');
    this.ttlSeconds = opts.tokenTtlSeconds ?? 21_600;
    this.timeoutMs = opts.timeoutMs ?? 2_000;
    this.now = opts.now ?? Date.now;
  }

  async get(path: string): Promise<string | undefined> {
    const url = `${this.endpoint}/${path.replace(/^\/+/, '')}`;
    for (let attempt = 0; ; attempt++) {
      const token = await this.sessionToken();
      const res = await fetch(url, {
        headers: { 'x-aws-ec2-metadata-token': token },
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      const body = await res.text();
      if (res.status === 200) return body;
      if (res.status === 404) return undefined;
      if (res.status === 401 && attempt === 0) {
        this.token = undefined;
        continue;
      }
      throw new ImdsError(`IMDS GET ${path} answered ${res.status}`);
    }
  }

  private async sessionToken(): Promise<string> {
    if (this.token && this.now() < this.token.renewAt) return this.token.value;
    const res = await fetch(`${this.endpoint}/latest/api/token`, {
      method: 'PUT',
      headers: { 'x-aws-ec2-metadata-token-ttl-seconds': String(this.ttlSeconds) },
      signal: AbortSignal.timeout(this.timeoutMs),
    });
    const value = (await res.text()).trim();
    if (res.status !== 200 || !value) throw new ImdsError(`IMDS token request answered ${res.status}`);
    // Renew well before expiry so a token never lapses between fetch and use.
    this.token = { value, renewAt: this.now() + this.ttlSeconds * 1000 * 0.8 };
    return value;
  }
}

/** A body as JSON, or as the text itself when it is not JSON (error pages, prompt bytes): tests assert on either. */
function jsonOrText(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    if (err instanceof SyntaxError) return text;
    throw err;
  }
}

/** A thin client for the control-plane API as a tenant uses it. */
export class ApiClient {
  constructor(
    readonly baseUrl: string,
    public apiKey = '',
  ) {}

  async call(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<{ status: number; json: any; headers: Headers; bytes: Buffer }> {
    const isBytes = Buffer.isBuffer(body);
    const res = await fetch(`${this.baseUrl}${path}`, {
      method,
      headers: {
        ...(this.apiKey ? { authorization: `Bearer ${this.apiKey}` } : {}),
        ...(body === undefined ? {} : { 'content-type': isBytes ? 'application/octet-stream' : 'application/json' }),
        ...headers,
      },
      ...(body === undefined ? {} : { body: isBytes ? (body as Buffer) : JSON.stringify(body) }),
    });
    const bytes = Buffer.from(await res.arrayBuffer());
    const text = bytes.toString('utf8');
    const json: any = text ? jsonOrText(text) : undefined;
    return { status: res.status, json, headers: res.headers, bytes };
  }

  /** Signs up a tenant and keeps its API key for later calls. */
  async signup(name: string, callbackUrl?: string) {
    const res = await this.call('POST', '/v1/tenants', { name, ...(callbackUrl ? { callbackUrl } : {}) });
    if (res.status !== 201) throw new Error(`signup failed: ${res.status} ${JSON.stringify(res.json)}`);
    this.apiKey = res.json.apiKey;
    return res.json as { tenantId: string; domain: string; apiKey: string; signingSecret: string };
  }

  /**
   * The session's journal entry that `match` picks, once it is there (undefined after `timeoutMs`): a media node
   * writes its journal in batches, so an entry can land after the callback or the call's end a test waited for
   * (on a loaded machine, some hundreds of ms).
   */
  async journalEntry(
    sessionId: string,
    match: (e: Record<string, unknown>) => boolean,
    timeoutMs = 5000,
  ): Promise<Record<string, unknown> | undefined> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const res = await this.call('GET', `/v1/sessions/${sessionId}`);
      if (res.status !== 200)
        throw new Error(`GET /v1/sessions/${sessionId}: ${res.status} ${JSON.stringify(res.json)}`);
      const entry = (res.json.journal as Record<string, unknown>[]).find(match);
      if (entry || Date.now() > deadline) return entry;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

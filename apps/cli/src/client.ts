/**
 * The API client: one place that adds the token, turns problem+json into ApiError and network
 * failures into a sentence naming the server. The token goes into the Authorization header and
 * nowhere else: not into URLs, messages or output.
 */
import type { Connection } from './config.ts';
import { ApiError, CliError } from './errors.ts';

export interface RequestOptions {
  body?: unknown;
  /** Send the bearer token (default true). Public routes (/pki, /healthz) do not need it. */
  auth?: boolean;
  query?: Record<string, string | number | undefined>;
  headers?: Record<string, string>;
  timeoutMs?: number;
}

export class ApiClient {
  constructor(readonly connection: Connection) {}

  url(path: string, query?: RequestOptions['query']): string {
    const u = new URL(this.connection.url + path);
    for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined && v !== '') u.searchParams.set(k, String(v));
    return u.toString();
  }

  async request(method: string, path: string, options: RequestOptions = {}): Promise<Response> {
    const headers: Record<string, string> = { accept: 'application/json, application/problem+json, */*', ...options.headers };
    if (options.auth ?? true) {
      if (!this.connection.token) {
        throw new CliError(
          'no API token: pass --token, set ANVIL_TOKEN, or put {"token": "..."} in the config file',
          1,
          'the admin token is printed once when the server first starts',
        );
      }
      headers.authorization = `Bearer ${this.connection.token}`;
    }
    if (options.body !== undefined) headers['content-type'] = 'application/json';
    let res: Response;
    try {
      res = await fetch(this.url(path, options.query), {
        method,
        headers,
        body: options.body === undefined ? undefined : JSON.stringify(options.body),
        signal: AbortSignal.timeout(options.timeoutMs ?? 60_000),
      });
    } catch (err) {
      throw networkError(this.connection.url, err);
    }
    if (!res.ok) throw await problemOf(res, this.connection);
    return res;
  }

  async json<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    const res = await this.request(method, path, options);
    const text = await res.text();
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new CliError(
        `the server answered ${method} ${path} with something that is not JSON (is ${this.connection.url} an Anvil server?)`,
      );
    }
  }

  async bytes(path: string, options: RequestOptions = {}): Promise<Uint8Array> {
    const res = await this.request('GET', path, options);
    return new Uint8Array(await res.arrayBuffer());
  }
}

export function networkError(url: string, err: unknown): CliError {
  const e = err as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  if (e?.name === 'TimeoutError' || e?.name === 'AbortError') return new CliError(`Anvil at ${url} did not answer in time`);
  const why = e?.cause?.code ?? e?.cause?.message ?? e?.message ?? String(err);
  return new CliError(`cannot reach Anvil at ${url}: ${why}`, 1, 'check --url / ANVIL_URL and that the server is running');
}

async function problemOf(res: Response, connection: Connection): Promise<CliError> {
  const type = res.headers.get('content-type') ?? '';
  const text = await res.text().catch(() => '');
  if (/json/.test(type)) {
    try {
      const p = JSON.parse(text) as { code?: string; detail?: string; title?: string; errors?: Array<{ path: string; message: string }> };
      const code = p.code ?? `http_${res.status}`;
      return new ApiError(res.status, code, p.detail ?? p.title ?? res.statusText, p.errors ?? [], hintFor(res.status, code, connection));
    } catch {
      // fall through to the plain-text form
    }
  }
  const snippet = text.replace(/\s+/g, ' ').trim().slice(0, 200);
  return new ApiError(
    res.status,
    `http_${res.status}`,
    snippet || res.statusText || 'request failed',
    [],
    hintFor(res.status, '', connection),
  );
}

function hintFor(status: number, code: string, connection: Connection): string | undefined {
  if (status === 401) return `the token from ${connection.tokenSource ?? 'nowhere'} was refused; check it (it is not shown here)`;
  if (status === 403) return 'this token lacks the scope the operation needs';
  if (code === 'not_found') return `is ${connection.url} an Anvil server of this version?`;
  return undefined;
}

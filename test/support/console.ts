/**
 * A browser-like client of the operator console over `app.request()`: a cookie jar, redirects
 * followed by hand, and form posts that carry the CSRF token the last page showed.
 */
import type { TestAnvil } from './harness.ts';
import { ADMIN_PASSWORD } from './harness.ts';

export interface ConsolePage {
  status: number;
  url: string;
  html: string;
  headers: Headers;
}

export class ConsoleClient {
  private readonly jar = new Map<string, string>();
  /** The CSRF token of the last page that showed one. */
  csrf = '';

  constructor(private readonly anvil: Pick<TestAnvil, 'app'>) {}

  private cookieHeader(): string {
    return [...this.jar].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  private remember(res: Response) {
    for (const line of res.headers.getSetCookie()) {
      const [pair, ...attrs] = line.split(';');
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      const expired = attrs.some((a) => /max-age=0/i.test(a) || /expires=thu, 01 jan 1970/i.test(a));
      if (expired || value === '') this.jar.delete(name);
      else this.jar.set(name, value);
    }
  }

  cookie(name: string): string | undefined {
    return this.jar.get(name);
  }

  setCookie(name: string, value: string) {
    this.jar.set(name, value);
  }

  async request(method: string, path: string, body?: BodyInit, headers: Record<string, string> = {}): Promise<ConsolePage> {
    let url = path;
    let res = await this.anvil.app.request(url, { method, body, headers: { cookie: this.cookieHeader(), ...headers } });
    this.remember(res);
    for (let hops = 0; res.status >= 300 && res.status < 400 && hops < 5; hops++) {
      url = res.headers.get('location')!;
      res = await this.anvil.app.request(url, { headers: { cookie: this.cookieHeader() } });
      this.remember(res);
    }
    const html = await res.text();
    const token = /name="_csrf" value="([^"]+)"/.exec(html);
    if (token) this.csrf = token[1];
    return { status: res.status, url, html, headers: res.headers };
  }

  get(path: string): Promise<ConsolePage> {
    return this.request('GET', path);
  }

  /** A form post with this page's CSRF token (unless `_csrf` is given, or `csrf: false`). */
  post(path: string, fields: Record<string, string | string[]>, options: { csrf?: boolean } = {}): Promise<ConsolePage> {
    const form = new URLSearchParams();
    if (options.csrf !== false && !('_csrf' in fields)) form.append('_csrf', this.csrf);
    for (const [k, v] of Object.entries(fields)) for (const one of Array.isArray(v) ? v : [v]) form.append(k, one);
    return this.request('POST', path, form.toString(), { 'content-type': 'application/x-www-form-urlencoded' });
  }

  /** A multipart post (file uploads) with this page's CSRF token. */
  postMultipart(path: string, form: FormData): Promise<ConsolePage> {
    if (!form.has('_csrf')) form.append('_csrf', this.csrf);
    return this.request('POST', path, form);
  }

  async signIn(username = 'admin', password = ADMIN_PASSWORD): Promise<ConsolePage> {
    await this.get('/sign-in');
    return this.post('/sign-in', { username, password });
  }
}

/** The text of a page without tags, whitespace collapsed: what assertions read. */
export function textOf(html: string): string {
  return html
    .replace(/<(script|style)[\s\S]*?<\/\1>/g, ' ')
    .replace(/<[^>]+>/g, ' ')
    .replace(/&amp;/g, '&')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/\s+/g, ' ')
    .trim();
}

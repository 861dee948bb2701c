/** @jsxImportSource hono/jsx */
/**
 * How a console page is answered: the frame of the current user, the doctype, no-store, and the
 * pages for 403, 404 and failures (in the layout, never a stack trace).
 */
import type { Context } from 'hono';
import type { Child } from 'hono/jsx';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { CaError } from '@anvil/ca';
import { databaseUnavailableCode } from '@anvil/db';
import type { UiEnv } from '../../middleware/session.ts';
import { Layout, type PageFrame } from '../../views/layout.tsx';

export type UiContext = Context<UiEnv>;

/** The frame (user, CSRF token, section) of the page being answered. */
export function frame(c: UiContext, title: string, section?: string): PageFrame {
  return { title, user: c.get('user'), csrf: c.get('csrf'), section };
}

/** A whole page: the layout around `body`. */
export function page(c: UiContext, title: string, body: Child, options: { section?: string; status?: ContentfulStatusCode } = {}) {
  const html = `<!doctype html>${(<Layout {...frame(c, title, options.section)}>{body}</Layout>).toString()}`;
  return c.html(html, options.status ?? 200);
}

export function forbiddenPage(c: UiContext, why = 'Your role does not allow this, or the form was not one this session showed you.') {
  return page(
    c,
    'Not allowed',
    <>
      <h1>Not allowed</h1>
      <p>{why}</p>
      <p>Nothing was changed.</p>
      <p>
        <a href="/">Back to the dashboard</a>
      </p>
    </>,
    { status: 403 },
  );
}

export function notFoundPage(c: UiContext, what = 'page') {
  return page(
    c,
    'Not found',
    <>
      <h1>Not found</h1>
      <p>There is no {what} at this address.</p>
      <p>
        <a href="/">Back to the dashboard</a>
      </p>
    </>,
    { status: 404 },
  );
}

/** The console's onError: domain errors as a page with their message; anything else logged and answered without detail. */
export function errorPage(err: Error, c: UiContext) {
  if (err instanceof CaError && err.kind === 'not_found') return notFoundPage(c, 'such item');
  if (err instanceof CaError && err.kind === 'forbidden') return forbiddenPage(c, err.message);
  const unavailable = databaseUnavailableCode(err) || (err instanceof CaError && err.kind === 'unavailable');
  if (err instanceof CaError && !unavailable) {
    return page(
      c,
      'Refused',
      <>
        <h1>Refused</h1>
        <p>{err.message}</p>
        <p class="muted">
          Code <code>{err.code}</code>. Nothing was changed.
        </p>
      </>,
      { status: err.kind === 'conflict' ? 409 : 422 },
    );
  }
  if (unavailable) c.get('log')?.warn({ code: databaseUnavailableCode(err) }, 'database unavailable');
  else c.get('log')?.error({ err }, 'unhandled error in the console');
  return page(
    c,
    unavailable ? 'Unavailable' : 'Something went wrong',
    <>
      <h1>{unavailable ? 'The database is unavailable' : 'Something went wrong'}</h1>
      <p>{unavailable ? 'Try again in a few seconds.' : 'The error has been logged.'}</p>
      <p class="muted">
        Request id <code>{c.get('requestId')}</code>
      </p>
    </>,
    { status: unavailable ? 503 : 500 },
  );
}

/** Every value a parsed form holds under `name` (a repeated field, several files), in order. */
function formValues(c: UiContext, name: string): Array<string | File> {
  const v = c.get('form')?.[name];
  return Array.isArray(v) ? v : v === undefined ? [] : [v];
}

/** A string field of a parsed form ('' when absent or a file). */
export function formText(c: UiContext, name: string): string {
  const one = formValues(c, name)[0];
  return typeof one === 'string' ? one : '';
}

/** Every string value of a repeated field (checkboxes). */
export function formList(c: UiContext, name: string): string[] {
  return formValues(c, name).filter((x): x is string => typeof x === 'string');
}

/** The non-empty files uploaded under `name`. */
export function formUploads(c: UiContext, name: string): File[] {
  return formValues(c, name).filter((x): x is File => x instanceof File && x.size > 0);
}

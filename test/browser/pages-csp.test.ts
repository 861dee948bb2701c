/**
 * Issue 8, "Headers", in a browser: under the Content-Security-Policy of every page (no inline
 * script or style, nothing from another origin) the interactive API reference still renders
 * and works — authorize with a token, try an operation — and the judge's verdict page gets its
 * stylesheet, with no CSP violation and no error on the console. Drives Debian's chromium
 * through playwright-core; skipped when /usr/bin/chromium is not installed
 * (`apt-get install -y chromium`). The headers themselves: test/api/headers.test.ts.
 */
import { existsSync } from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestAnvil, type TestAnvil } from '../support/harness.ts';
import { haveTool } from '../support/tools.ts';

const CHROMIUM = '/usr/bin/chromium';
const available = existsSync(CHROMIUM) || haveTool('chromium'); // under CI=true a missing chromium fails

let anvil: TestAnvil;
let browser: Browser;

interface Watched {
  page: Page;
  /** Console errors and warnings, page errors, failed requests and CSP violation events. */
  problems: string[];
  violations: () => Promise<string[]>;
}

async function watched(): Promise<Watched> {
  const context = await browser.newContext();
  const page = await context.newPage();
  const problems: string[] = [];
  page.on('console', (m) => {
    // Chromium asks every origin for /favicon.ico; Anvil has none (a 404 problem).
    if (m.location().url.endsWith('/favicon.ico')) return;
    if (m.type() === 'error' || m.type() === 'warning') problems.push(`console ${m.type()}: ${m.text()} (${m.location().url})`);
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('requestfailed', (r) => problems.push(`request failed: ${r.url()} ${r.failure()?.errorText}`));
  page.on('response', (r) => {
    if (r.status() >= 400 && !r.url().endsWith('/favicon.ico')) problems.push(`HTTP ${r.status()}: ${r.url()}`);
  });
  // Init scripts run through the DevTools protocol, outside the page's CSP.
  await page.addInitScript(() => {
    const w = window as unknown as { __csp: string[] };
    w.__csp = [];
    document.addEventListener('securitypolicyviolation', (e) => w.__csp.push(`${e.violatedDirective} ${e.blockedURI}`));
  });
  return { page, problems, violations: () => page.evaluate(() => (window as unknown as { __csp: string[] }).__csp) };
}

describe.skipIf(!available)('pages under their Content-Security-Policy, in chromium', () => {
  beforeAll(async () => {
    anvil = await createTestAnvil({ listen: true });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    });
  });

  afterAll(async () => {
    await browser?.close();
    await anvil?.close();
  });

  it('the API reference renders, authorizes and runs an operation, without a CSP violation', async () => {
    const { page, problems, violations } = await watched();
    const response = await page.goto(`${anvil.publicUrl}/api/v1/reference`);
    expect(response?.headers()['content-security-policy']).toContain("script-src 'self'");
    await page.locator('.swagger-ui .info .title').filter({ hasText: 'Anvil' }).waitFor({ timeout: 30_000 });
    expect(await page.locator('.opblock').count()).toBeGreaterThan(15);

    await page.locator('button.authorize').first().click();
    await page.locator('.modal-ux input[type=text], .modal-ux input:not([type])').first().fill(anvil.token);
    await page.locator('.modal-ux button.authorize').click();
    await page.locator('.modal-ux button.close-modal').click();

    const op = page.locator('#operations-Profiles-get_api_v1_profiles, .opblock-get:has([data-path="/api/v1/profiles"])').first();
    await op.locator('.opblock-summary').click();
    await op.locator('button.try-out__btn').click();
    await op.locator('button.execute').click();
    const live = op.locator('.live-responses-table tr.response');
    await live.first().waitFor({ timeout: 30_000 });
    expect((await live.first().locator('.response-col_status').textContent())?.trim()).toBe('200');
    await expect.poll(() => live.first().textContent()).toContain('"client"');

    // Swagger UI's icons are data: SVG in its stylesheet: drawn, not refused.
    expect(await violations()).toEqual([]);
    expect(problems).toEqual([]);
  });

  it('the verdict page of GET /verify gets its stylesheet', async () => {
    const { page, problems, violations } = await watched();
    await page.goto(`${anvil.publicUrl}/verify`);
    await page.locator('h1').filter({ hasText: 'No client certificate was presented' }).waitFor();
    // .absent { background: var(--none) } from /verify/verdict.css
    const background = await page.locator('.status.absent').evaluate((el) => getComputedStyle(el).backgroundColor);
    expect(background).toBe('rgb(154, 103, 0)');
    expect(await violations()).toEqual([]);
    expect(problems).toEqual([]);
  });
});

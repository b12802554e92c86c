/**
 * The dashboard's operator views in a real Chromium (playwright-core) against a real node: sign in, the
 * overview's counts match the API, open a failed operation from the failures list and read its error,
 * retry it and see it succeed live, bulk-cancel what a filter selects after a confirmation that states the
 * count, follow a deep link in a fresh page, Back. Every view passes axe-core with no serious or critical
 * violation; light and dark screenshots go to test-results/console/ (gitignored).
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { resolveAuthConfig } from '../src/auth/config.js';
import { DEV_TOKEN_DEFAULTS, mintToken } from '../src/auth/tokens.js';
import { securityFor } from '../src/cli/auth-options.js';
import type { HandlerDefinition } from '../src/engine/handler.js';
import { findChromium } from './support/chromium.js';
import { startTestServer, type TestServer } from './support/server.js';

const SHOTS = 'test-results/console';
const AXE = createRequire(import.meta.url).resolve('axe-core/axe.min.js');
const TENANT = DEV_TOKEN_DEFAULTS.tid!;
let server: TestServer;
let browser: Browser;
let context: BrowserContext;
let page: Page;
let token: string;
let dir: string;
let broken = true;
/** Script errors and console errors (CSP refusals are reported there): none is expected. */
const pageErrors: string[] = [];

const handlers: HandlerDefinition<never>[] = [
  {
    name: 'flaky',
    maxAttempts: 1,
    run: async () => {
      if (broken) throw new Error('The payment gateway is down.');
      return {};
    },
  },
  { name: 'slow', run: async ({ signal }) => void (await sleep(120_000, undefined, { signal })) },
  { name: 'quick', run: async () => ({}) },
];

/** Chromium as the other browser tests find and launch it (test/support/chromium.ts). */
async function launch(): Promise<Browser> {
  const binary = await findChromium();
  return chromium.launch({
    executablePath: binary.executablePath,
    env: { ...process.env, ...binary.env },
    headless: true,
    args: [
      ...binary.args,
      '--no-sandbox',
      '--disable-gpu',
      '--no-first-run',
      '--disable-background-networking',
    ],
  });
}

beforeAll(async () => {
  mkdirSync(SHOTS, { recursive: true });
  dir = mkdtempSync(join(tmpdir(), 'longrun-console-'));
  const config = await resolveAuthConfig({}, {}, dir);
  token = await mintToken(config, {
    ...DEV_TOKEN_DEFAULTS,
    scopes: [...DEV_TOKEN_DEFAULTS.scopes!, 'LongRun.Admin'],
  });
  server = await startTestServer({
    security: securityFor(config),
    handlers,
    worker: { pollIntervalMs: 20 },
  });
  browser = await launch();
  // The page's own CSP stays on (a chart library that needed inline styles or scripts would fail here);
  // axe-core is evaluated through the DevTools protocol, which CSP does not govern.
  context = await browser.newContext({
    viewport: { width: 1280, height: 900 },

    locale: 'en-US',
  });
  page = await context.newPage();
  page.on('pageerror', (error) => pageErrors.push(error.message));
  page.on('console', (m) => {
    if (m.type() === 'error') pageErrors.push(m.text());
  });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

afterEach(() => {
  expect(pageErrors).toEqual([]);
});

const api = async (method: string, path: string, body?: unknown) => {
  const res = await server.request(method, path, { body, headers: { authorization: `Bearer ${token}` } });
  return res.json() as Promise<any>;
};

async function signIn(p: Page): Promise<void> {
  await p.fill('#token', token);
  await p.press('#token', 'Enter');
  await p.waitForSelector('#nav:not([hidden])');
}

/** axe-core on the page as it is: no serious or critical violation. */
async function accessible(p: Page, view: string): Promise<void> {
  await p.evaluate(readFileSync(AXE, 'utf8'));
  const violations = await p.evaluate(async () => {
    const axe = (
      window as unknown as {
        axe: {
          run: (c: unknown) => Promise<{ violations: { id: string; impact: string; nodes: unknown[] }[] }>;
        };
      }
    ).axe;
    const result = await axe.run(document);
    return result.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.length }));
  });
  const bad = violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  expect(bad, `${view}: ${JSON.stringify(bad)}`).toEqual([]);
}

async function shots(name: string): Promise<void> {
  await page.emulateMedia({ colorScheme: 'light' });
  await page.screenshot({ path: `${SHOTS}/${name}-light.png`, fullPage: true });
  await page.emulateMedia({ colorScheme: 'dark' });
  await page.screenshot({ path: `${SHOTS}/${name}-dark.png`, fullPage: true });
  await page.emulateMedia({ colorScheme: 'light' });
}

describe('the operator console', () => {
  let failedKey = '';

  it('lands on an overview whose counts match the API', async () => {
    for (const c of ['/operations', '/sites/s1/operations']) {
      await server.node.start('quick', {}, { collection: c, tenantId: TENANT });
    }
    const failed = await server.node.start(
      'flaky',
      {},
      { collection: '/sites/shop/operations', tenantId: TENANT, type: 'richLongRunningOperation' },
    );
    failedKey = Buffer.from(JSON.stringify([failed.scope, failed.id])).toString('base64url');
    for (;;) {
      if ((await api('GET', `/longrun/v1/operations/${failedKey}`)).status === 'failed') break;
      await sleep(20);
    }
    await page.goto(server.url + '/');
    await signIn(page);
    await page.waitForSelector('#view-overview:not([hidden]) #family-counts a');
    const overview = await api('GET', '/longrun/v1/overview');
    for (const f of overview.families as {
      family: string;
      total: number;
      counts: Record<string, number>;
    }[]) {
      await page.locator(`[data-count="${f.family}:total"]`, { hasText: String(f.total) }).waitFor();
      for (const [status, n] of Object.entries(f.counts)) {
        expect(await page.textContent(`[data-count="${f.family}:${status}"]`)).toBe(String(n));
      }
    }
    await page.locator('#chart-throughput canvas').waitFor();
    await accessible(page, 'overview');
    await shots('1-overview');
    // The day's charts: a deep link of its own.
    await page.click('#chart-window a[data-window=day]');
    await page.waitForFunction(() => location.hash === '#/overview?window=day');
    await page.locator('#chart-window a[data-window=day][aria-current]').waitFor();
    await page.locator('#chart-duration canvas').waitFor();
    await shots('1-overview-day');
  });

  it('opens a failed operation from the failures list, shows its error, retries it and sees it succeed', async () => {
    const link = page.locator('#failures a').first();
    await link.focus();
    await page.keyboard.press('Enter');
    await page.waitForSelector('#view-detail:not([hidden]) #op-error');
    expect(page.url()).toContain(`#/operation/${failedKey}`);
    expect(await page.textContent('#op-error')).toContain('The payment gateway is down.');
    expect(await page.textContent('#op-attempts')).toContain('failed');
    await accessible(page, 'detail');
    await shots('2-failed-detail');
    broken = false;
    await page.focus('#op-retry');
    await page.keyboard.press('Enter');
    await page.waitForFunction((key) => !location.hash.includes(key), failedKey);
    await page.locator('#op-facts .status', { hasText: 'succeeded' }).waitFor({ timeout: 15_000 });
    expect(await page.textContent('#op-facts')).toContain('flaky');
    await shots('3-retried');
    // Back returns to the failed original, which stays failed.
    await page.goBack();
    await page.locator('#op-facts .status', { hasText: 'failed' }).waitFor();
  });

  it('bulk-cancels what a filter selects, after a confirmation that states the count', async () => {
    for (let i = 0; i < 3; i++) {
      await server.node.start(
        'slow',
        {},
        { collection: '/employeeExperience/engagementAsyncOperations', tenantId: TENANT },
      );
    }
    await page.click('#nav a[data-view=operations]');
    await page.waitForSelector('#view-operations:not([hidden])');
    await page.fill('#f-handler', 'slow');
    await page.selectOption('#f-family', 'engagement');
    await page.press('#f-handler', 'Enter');
    await page.waitForFunction(() => location.hash.includes('handler=slow'));
    await expect.poll(() => page.locator('#all-ops tbody tr[data-key]').count()).toBe(3);
    await accessible(page, 'operations');
    await page.focus('#bulk-cancel');
    await page.keyboard.press('Enter');
    await page.waitForSelector('#confirm[open]');
    expect(await page.textContent('#confirm-text')).toBe('Cancel 3 operations that match this filter?');
    await accessible(page, 'confirmation');
    await shots('4-bulk-confirm');
    await page.click('#confirm-yes');
    await page.locator('#console-message', { hasText: 'Canceled 3 of 3' }).waitFor();
    await expect
      .poll(
        async () =>
          (await api('GET', '/longrun/v1/operations?handler=slow&status=canceled&count=true')).count,
      )
      .toBe(3);
    await page.locator('#all-ops .status', { hasText: 'canceled' }).nth(2).waitFor();
    await shots('5-operations');
  });

  it('follows a deep link in a fresh page', async () => {
    const fresh = await context.newPage();
    await fresh.goto(`${server.url}/#/operations?handler=slow&status=canceled`);
    await signIn(fresh); // a new tab has no session yet
    await fresh.waitForSelector('#view-operations:not([hidden])');
    expect(await fresh.inputValue('#f-handler')).toBe('slow');
    expect(await fresh.inputValue('#f-status')).toBe('canceled');
    await expect.poll(() => fresh.locator('#all-ops tbody tr[data-key]').count()).toBe(3);
    await fresh.close();
  });
});

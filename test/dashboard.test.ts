/**
 * The dashboard in a real Chromium (the system's, or the one shipped in npm; driven by playwright-core) against a real server: sign in,
 * filter, watch a progress bar move to done, cancel an operation, use it by keyboard. Screenshots go to
 * test-results/dashboard/.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveAuthConfig } from '../src/auth/config.js';
import { DEV_TOKEN_DEFAULTS, mintToken } from '../src/auth/tokens.js';
import { securityFor } from '../src/cli/auth-options.js';
import { findChromium } from './support/chromium.js';
import { startTestServer, type TestServer } from './support/server.js';

const SHOTS = 'test-results/dashboard';
let server: TestServer;
let browser: Browser;
let page: Page;
let token: string;
let dir: string;

beforeAll(async () => {
  const chromiumBinary = await findChromium();
  console.log(`[test] Chromium: ${chromiumBinary.description}`);
  mkdirSync(SHOTS, { recursive: true });
  dir = mkdtempSync(join(tmpdir(), 'longrun-dash-'));
  const config = await resolveAuthConfig({}, {}, dir);
  token = await mintToken(config, DEV_TOKEN_DEFAULTS);
  server = await startTestServer({
    security: securityFor(config),
    scenarios: { default: { durationMs: 2500 }, roleManagementAlertRefresh: { durationMs: 30_000 } },
    worker: { pollIntervalMs: 20, progressIntervalMs: 50 },
  });
  browser = await chromium.launch({
    executablePath: chromiumBinary.executablePath,
    env: { ...process.env, ...chromiumBinary.env },
    headless: true,
    args: [
      ...chromiumBinary.args,
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

const api = (method: string, path: string, body?: unknown) =>
  fetch(server.url + path, {
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });

async function showCollection(path: string, status = ''): Promise<void> {
  // The landing view is the operator overview; this file tests the one-collection view.
  await page.click('#nav a[data-view=collection]');
  await page.fill('#custom', path);
  await page.selectOption('#status', status);
  await page.click('#filters button[type=submit]');
}

describe('dashboard', () => {
  it('signs in with a pasted token', async () => {
    await page.goto(server.url + '/');
    await page.screenshot({ path: `${SHOTS}/1-sign-in.png` });
    await page.fill('#token', token);
    await page.click('#signin button[type=submit]');
    await page.waitForSelector('#main:not([hidden])');
    expect(await page.evaluate(() => sessionStorage.getItem('longrun.token'))).toBe(token);
  });

  it('shows an operation appear live and its progress bar move to done', async () => {
    await showCollection('/v1.0/sites/dash/operations');
    const started = await api('POST', '/v1.0/sites/dash/contentTypes/addCopyFromContentTypeHub', {
      contentTypeId: '0x0101',
    });
    expect(started.status).toBe(202);
    const row = page.locator('tr[data-id="contentTypeCopy,0x0101"]');
    await row.waitFor({ timeout: 10_000 });
    const values: number[] = [];
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline) {
      const v = await row
        .locator('progress')
        .getAttribute('value')
        .catch(() => null);
      if (v !== null && values.at(-1) !== Number(v)) values.push(Number(v));
      if ((await row.locator('.status').textContent()) === 'succeeded') break;
      await page.waitForTimeout(50);
    }
    await page.screenshot({ path: `${SHOTS}/2-progress-done.png` });
    expect(await row.locator('.status').textContent()).toBe('succeeded');
    const final = Number(await row.locator('progress').getAttribute('value'));
    if (values.at(-1) !== final) values.push(final);
    expect(values.length).toBeGreaterThanOrEqual(2); // it moved while we watched
    expect(values).toEqual([...values].sort((a, b) => a - b));
    expect(values.at(-1)).toBe(100);
  });

  it('filters by status on the server', async () => {
    await api('POST', '/v1.0/sites/dash/operations', { id: 'still-queued' });
    await showCollection('/v1.0/sites/dash/operations', 'notStarted');
    await page.locator('tr[data-id="still-queued"]').waitFor();
    const statuses = await page.locator('tbody .status').allTextContents();
    expect(statuses.length).toBeGreaterThan(0);
    expect(new Set(statuses)).toEqual(new Set(['notStarted']));
    await page.screenshot({ path: `${SHOTS}/3-filtered.png` });
  });

  it('cancels a running operation from its detail view, by keyboard', async () => {
    await showCollection('/beta/identityGovernance/roleManagementAlerts/operations');
    const started = await api(
      'POST',
      '/beta/identityGovernance/roleManagementAlerts/alerts/DashAlert/refresh',
    );
    expect(started.status).toBe(202);
    const row = page.locator('tr[data-id="refresh:DashAlert"]');
    await row.waitFor();
    await row.locator('.status', { hasText: 'running' }).waitFor();
    await row.focus();
    await page.keyboard.press('Enter');
    await page.waitForSelector('#detail[open]');
    expect(await page.textContent('#json')).toContain('refresh:DashAlert');
    expect(await page.textContent('#timeline')).toContain('created → notStarted');
    await page.screenshot({ path: `${SHOTS}/4-detail.png` });
    await page.click('#cancel');
    await row.locator('.status', { hasText: 'canceled' }).waitFor({ timeout: 10_000 });
    expect(await page.isVisible('#delete')).toBe(true);
    await page.keyboard.press('Escape');
    expect(await page.locator('#detail[open]').count()).toBe(0);
  });

  it('is readable in dark mode', async () => {
    await page.emulateMedia({ colorScheme: 'dark' });
    const background = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
    expect(background).toBe('rgb(23, 24, 28)');
    await page.screenshot({ path: `${SHOTS}/5-dark.png` });
  });
});

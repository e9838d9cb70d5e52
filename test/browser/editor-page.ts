/**
 * Driving the Node-RED editor in a real Chromium (Debian's, through
 * playwright-core: nothing is downloaded). Selectors are the editor's own
 * (see node-red-conventions.md §6). Every page records page errors and
 * console errors; the specs fail on any.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';

/** The editor's globals, as seen from page.evaluate callbacks. */
declare const RED: {
  nodes: {
    node(id: string): ({ id: string; type: string; name?: string; status?: { fill?: string; text?: string } } & Record<string, unknown>) | null;
    filterNodes(f: object): Array<{ id: string; type: string; name?: string; z?: string }>;
    getType(t: string): { credentials?: Record<string, { type: string }> } | undefined;
  };
  actions: { invoke(name: string, ...args: unknown[]): void };
  workspaces: { show(id: string): void; active(): string };
};
declare const document: {
  querySelectorAll(s: string): ArrayLike<{ textContent: string | null }>;
  querySelector(s: string): { getAttribute(a: string): string | null } | null;
};

export const CHROMIUM = process.env.C2D_CHROMIUM ?? '/usr/bin/chromium';
export const ARTIFACTS = path.resolve(__dirname, '../../../test-artifacts');
const FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

export interface Browser {
  context: BrowserContext;
  close(): Promise<void>;
}

/** Chromium with a fresh profile (--user-data-dir), removed on close. */
export async function launchChromium(): Promise<Browser> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { chromium } = require('playwright-core') as typeof import('playwright-core');
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'c2d-chromium-'));
  // launchPersistentContext is how playwright takes --user-data-dir.
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: FLAGS,
    viewport: { width: 1400, height: 900 },
  });
  return {
    context,
    async close() {
      await context.close();
      fs.rmSync(profile, { recursive: true, force: true });
    },
  };
}

const CAUGHT_BY_EDITOR = /^(Definition error|onedit\w+ |Validation error|\[[^\]]+\] )|\b\w*Error\b/;

export interface EditorPage {
  page: Page;
  /** Page errors and console errors since the page opened. */
  errors: string[];
  shot(name: string): Promise<void>;
}

/** With `login`: Node-RED runs with adminAuth; the editor's login dialog is filled in first. */
export async function openEditor(browser: Browser, url: string, login?: { username: string; password: string }): Promise<EditorPage> {
  const page = await browser.context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    // The editor catches errors thrown by a node's definition (label,
    // oneditprepare, oneditsave, validate...) and only console.logs them
    // ("Definition error: ...", "oneditprepare <id> <type> ReferenceError...").
    if (m.type() === 'error' || m.type() === 'warning' || (m.type() === 'log' && CAUGHT_BY_EDITOR.test(m.text())))
      errors.push(`console.${m.type()}: ${m.text()}`);
  });
  await page.goto(url);
  if (login) {
    await page.locator('#node-dialog-login-username').fill(login.username);
    await page.locator('#node-dialog-login-password').fill(login.password);
    await page.locator('#node-dialog-login-submit').click();
    // Before the login the editor's first requests are refused (401), as they should be.
    await page.locator('#node-dialog-login').waitFor({ state: 'detached' });
    errors.length = 0;
  }
  await page.waitForSelector(".red-ui-palette-node[data-palette-type='c2d-send']", { timeout: 30_000 });
  await page.waitForSelector('#red-ui-workspace-chart');
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  return {
    page,
    errors,
    shot: async (name) => {
      await page.screenshot({ path: path.join(ARTIFACTS, `${name.replace(/[^A-Za-z0-9._-]+/g, '-')}.png`) });
    },
  };
}

/** Import > Examples > <module> > <name>, then Import. Returns the texts of notifications shown. */
export async function importExample(page: Page, module: string, name: string): Promise<string[]> {
  await page.evaluate(() => RED.actions.invoke('core:show-examples-import-dialog'));
  const tree = page.locator('#red-ui-clipboard-dialog');
  await tree
    .locator('.red-ui-treeList-label', { hasText: new RegExp(`^${module}$`) })
    .last()
    .click();
  await tree.locator('.red-ui-treeList-label', { hasText: name }).first().click();
  await page.locator('#red-ui-clipboard-dialog-ok').click();
  await page.locator('#red-ui-clipboard-dialog').waitFor({ state: 'hidden' });
  return notifications(page);
}

export async function notifications(page: Page): Promise<string[]> {
  return page.evaluate(() => Array.from(document.querySelectorAll('.red-ui-notification')).map((n) => n.textContent ?? ''));
}

/** Clicks Deploy; confirms the "improperly configured" warning if it comes. Returns whether it came. */
export async function deploy(page: Page): Promise<{ confirmed: boolean }> {
  await page.locator('#red-ui-header-button-deploy').click();
  const confirm = page.locator('#red-ui-deploy-dialog-confirm-deploy-deploy');
  const done = page.locator('.red-ui-notification', { hasText: 'Successfully deployed' });
  const first = await Promise.race([
    confirm.waitFor({ timeout: 20_000 }).then(() => 'confirm' as const),
    done.waitFor({ timeout: 20_000 }).then(() => 'done' as const),
  ]);
  if (first === 'confirm') {
    await confirm.click();
    await done.waitFor({ timeout: 20_000 });
  }
  return { confirmed: first === 'confirm' };
}

/** The status the editor draws for a node (its DOM class), e.g. 'dot-green', or '' when none. */
export async function statusClass(page: Page, id: string): Promise<string> {
  const cls = await page.evaluate((x) => document.querySelector(`[id="${x}"] .red-ui-flow-node-status`)?.getAttribute('class') ?? '', id);
  return /red-ui-flow-node-status-((?:dot|ring)-\w+)/.exec(cls)?.[1] ?? '';
}

/** Waits until every listed node shows a green status dot; the error names those that do not. */
export async function waitGreen(page: Page, ids: string[], timeoutMs = 20_000): Promise<void> {
  try {
    await page.waitForFunction(
      (xs) => xs.every((x) => (document.querySelector(`[id="${x}"] .red-ui-flow-node-status`)?.getAttribute('class') ?? '').includes('status-dot-green')),
      ids,
      { timeout: timeoutMs },
    );
  } catch {
    const texts = await page.evaluate((xs) => xs.map((x) => `${x}: ${JSON.stringify(RED.nodes.node(x)?.status)}`), ids);
    throw new Error(`not all green: ${texts.join('; ')}`);
  }
}

/**
 * Shows the flow's tab (statuses are drawn only for the tab shown) and waits
 * until it is active. Through RED.workspaces.show rather than a click on the
 * tab: with several tabs the bar scrolls under the pointer, and a click that
 * lands on the tab just activated opens its edit dialog.
 */
export async function showTab(page: Page, z: string): Promise<void> {
  // Notifications ("Imported...", "Successfully deployed") sit over the tab
  // bar until they time out; a click closes one, as it does for a user.
  for (const n of await page.locator('.red-ui-notification').all()) await n.click({ timeout: 2_000 }).catch(() => undefined);
  await page.evaluate((t) => RED.workspaces.show(t), z);
  await page.waitForFunction((t) => RED.workspaces.active() === t, z);
}

/** Ids of the nodes of the given types on the workspace (imported nodes can get new ids). */
export async function nodesOfTypes(page: Page, types: string[]): Promise<Array<{ id: string; type: string; name?: string }>> {
  return page.evaluate((ts) => ts.flatMap((t) => RED.nodes.filterNodes({ type: t }).map((n) => ({ id: n.id, type: n.type, name: n.name }))), types);
}

export async function credentialInputs(
  page: Page,
  type: string,
  prefix: 'node-input' | 'node-config-input',
): Promise<Array<{ name: string; declared: string; input: string | null }>> {
  const creds = await page.evaluate((t) => Object.entries(RED.nodes.getType(t)?.credentials ?? {}).map(([k, v]) => [k, v.type] as const), type);
  return Promise.all(
    creds.map(async ([name, declared]) => ({
      name,
      declared,
      input: await page.evaluate((sel) => document.querySelector(sel)?.getAttribute('type') ?? null, `#${prefix}-${name}`),
    })),
  );
}

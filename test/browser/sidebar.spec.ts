/**
 * The C2D sidebar tab in a real Chromium, on a real Node-RED 4.1 with
 * adminAuth (this package through nodesDir). An admin opens the tab, sees
 * demo-device, sends it a test message and watches it pending (the device
 * flow is disabled), then locked (the flow is enabled and holds it), then
 * completed; sends one the flow rejects, finds it under dead letters,
 * requeues it and sees it delivered and completed; copies the connection
 * string. A read-only user sees the same state, no action and no key.
 * Any page or console error fails the test; screenshots go to test-artifacts/.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Page } from 'playwright-core';
import type { RedProcess } from '../install/red-process';
import { HUB_ID, RECEIVER_ID, sidebarFlow } from '../sidebar/flows';
import { USERS, call, startRedWithAuth, tokenFor, waitForHub } from '../sidebar/red-auth';
import { ARTIFACTS, CHROMIUM, launchChromium, openEditor, type Browser, type EditorPage } from './editor-page';

declare const RED: { actions: { invoke(name: string): void } };

const root = path.resolve(__dirname, '../../..');

describe('C2D sidebar in Chromium (Node-RED 4.1 with adminAuth)', function () {
  this.timeout(120_000);
  let red: RedProcess;
  let userDir: string;
  let adminToken: string;
  let browser: Browser | undefined;
  let ed: EditorPage | undefined;

  before(async function () {
    if (!fs.existsSync(CHROMIUM)) {
      console.log(`    (skipped: no Chromium at ${CHROMIUM}; install Debian's chromium or set C2D_CHROMIUM)`);
      this.skip();
    }
    userDir = fs.mkdtempSync(path.join(os.tmpdir(), 'c2d-sidebar-editor-'));
    red = await startRedWithAuth({ userDir, nodesDir: [root], flows: sidebarFlow({ receiverEnabled: false }) });
    adminToken = await tokenFor(red, 'admin');
    await waitForHub(red, HUB_ID, adminToken);
  });

  after(async function () {
    await red?.stop();
    if (userDir) fs.rmSync(userDir, { recursive: true, force: true });
  });

  afterEach(async function () {
    const current = ed;
    ed = undefined;
    if (current) {
      await current.shot(this.currentTest?.title ?? 'test');
      await current.page.close();
    }
    await browser?.close();
    browser = undefined;
    if (current) assert.deepEqual(current.errors, [], 'page errors or console errors');
  });

  async function open(user: 'admin' | 'viewer'): Promise<EditorPage> {
    browser = await launchChromium();
    ed = await openEditor(browser, red.url, { username: user, password: USERS[user].password });
    await ed.page.evaluate(() => RED.actions.invoke('c2d:show-sidebar'));
    await ed.page.locator('.c2d-sidebar').waitFor();
    return ed;
  }

  /** The sidebar alone, for the README and the artifacts. */
  async function sidebarShot(page: Page, name: string): Promise<void> {
    await page.locator('#red-ui-sidebar').screenshot({ path: path.join(ARTIFACTS, `${name}.png`) });
  }

  async function deviceKey(): Promise<string> {
    const r = await call<{ connectionStrings: Record<string, string> }>(red, 'GET', `/c2d/hubs/${HUB_ID}/devices/demo-device/connection-strings`, adminToken);
    return r.body.connectionStrings.mqtts!.split('SharedAccessKey=')[1]!;
  }

  /** Deploys the device flow's receiver enabled, changed nodes only (the hub keeps running), as a user's deploy would. */
  async function enableReceiver(): Promise<void> {
    const { flows, rev } = (await call<{ flows: Array<{ id: string; d?: boolean }>; rev: string }>(red, 'GET', '/flows', adminToken)).body;
    const r = await fetch(`${red.url}/flows`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'Node-RED-API-Version': 'v2', 'Node-RED-Deployment-Type': 'nodes', Authorization: `Bearer ${adminToken}` },
      body: JSON.stringify({ rev, flows: flows.map((n) => (n.id === RECEIVER_ID ? { ...n, d: false } : n)) }),
    });
    assert.equal(r.status, 200, await r.text());
  }

  async function sendFromSidebar(page: Page, messageId: string, properties: string): Promise<void> {
    const form = page.locator('.c2d-sidebar-send-form');
    if (await form.isHidden()) await page.locator('.c2d-sidebar-action-send').click();
    await form.locator('.c2d-sidebar-send-body').fill(`{"text":"hello from the sidebar","id":"${messageId}"}`);
    await form.locator('.c2d-sidebar-send-props').fill(properties);
    await form.locator('.c2d-sidebar-send-ack').selectOption('full');
    await form.locator('.c2d-sidebar-send-id').fill(messageId);
    await form.locator('.c2d-sidebar-send-ok').click();
  }

  it('admin: the tab lists demo-device; a message shows pending, then locked, then completed; a rejected one is a dead letter, requeued and delivered; the connection string has the key', async () => {
    const { page } = await open('admin');
    const row = page.locator('.c2d-sidebar-device[data-device="demo-device"]');
    await row.waitFor();
    assert.match(await row.innerText(), /offline/);
    assert.match(await page.locator('.c2d-sidebar-tile[data-tile="devices"]').innerText(), /0 \/ 1/);
    await row.click();
    await page.locator('.c2d-sidebar-device-title', { hasText: 'demo-device' }).waitFor();

    // Pending: nothing receives yet.
    await sendFromSidebar(page, 'sb-complete', 'room=hall');
    const msg = page.locator('.c2d-sidebar-queue-row[data-message-id="sb-complete"]');
    await msg.and(page.locator('[data-state="Enqueued"]')).waitFor();
    assert.match(await msg.innerText(), /pending/);
    assert.match(await msg.innerText(), /room=hall/);
    // Locked: the device flow takes it and holds it; the lock counts down.
    await enableReceiver();
    await msg.and(page.locator('[data-state="Invisible"]')).waitFor({ timeout: 15_000 });
    assert.match(await msg.innerText(), /locked/);
    assert.match(await msg.innerText(), /lock \d+ s left/);
    assert.match(await msg.innerText(), /delivered 0×/);
    await page.locator('.c2d-sidebar-device-state', { hasText: 'online (in-process)' }).waitFor();
    await sidebarShot(page, 'sidebar-locked');
    // Completed: gone from the queue, and the trace says so.
    await msg.waitFor({ state: 'detached', timeout: 15_000 });
    await page.locator('.c2d-sidebar-trace-row[data-event="completed"]').waitFor();
    assert.equal(await page.locator('.c2d-sidebar-trace-id').inputValue(), 'sb-complete');

    // Rejected: kept as a dead letter.
    await sendFromSidebar(page, 'sb-reject', 'outcome=reject');
    const deadRow = page.locator('.c2d-sidebar-dead-row[data-message-id="sb-reject"]');
    await deadRow.waitFor({ timeout: 15_000 });
    assert.match(await deadRow.innerText(), /rejected/);
    await page.locator('.c2d-sidebar-trace-row[data-event="deadLettered"]').waitFor();
    await page.locator('.c2d-sidebar-action-send').click();
    await page.locator('.c2d-sidebar-send-form').waitFor({ state: 'hidden' });
    await sidebarShot(page, 'sidebar-dead-letter');
    // Requeued: delivered again, completed this time.
    await deadRow.locator('.c2d-sidebar-requeue').click();
    await deadRow.waitFor({ state: 'detached' });
    await page.locator('.c2d-sidebar-trace-row[data-event="requeued"]').waitFor();
    await page.locator('.c2d-sidebar-trace-row[data-event="completed"]').waitFor({ timeout: 15_000 });
    const events = await page.locator('.c2d-sidebar-trace-row').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-event')));
    const requeuedAt = events.indexOf('requeued');
    assert.ok(events.indexOf('delivered', requeuedAt) > requeuedAt, `delivered after requeue: ${events.join(', ')}`);
    assert.ok(events.lastIndexOf('completed') > requeuedAt, events.join(', '));
    await page.locator('.c2d-sidebar-dead .c2d-sidebar-section-head', { hasText: 'Dead letters (0)' }).waitFor();

    // The connection string, for a user who may see it.
    await page.locator('.c2d-sidebar-action-conn').click();
    const cs = page.locator('.c2d-sidebar-conn-row[data-protocol="mqtts"] .c2d-sidebar-conn-value');
    await cs.waitFor();
    assert.equal(await cs.getAttribute('type'), 'password', 'hidden until asked');
    assert.match(
      await cs.inputValue(),
      new RegExp(`^HostName=localhost:\\d+;DeviceId=demo-device;SharedAccessKey=${(await deviceKey()).replace(/[+/]/g, '\\$&')}$`),
    );
    await page.locator('.c2d-sidebar-action-conn').click();

    // Back to the hub: the summary counted the traffic.
    await page.locator('.c2d-sidebar-back').click();
    await row.waitFor();
    assert.match(await page.locator('.c2d-sidebar-tile[data-tile="devices"]').innerText(), /1 \/ 1/);
    await sidebarShot(page, 'sidebar-hub');
  });

  it('read-only user: the same state, no action buttons, no key anywhere on the page or in what it fetched', async () => {
    const key = await deviceKey();
    const { page } = await open('viewer');
    const fetched: string[] = [];
    page.on('response', (r) => {
      if (r.url().includes('/c2d/')) fetched.push(r.url());
    });
    const bodies: string[] = [];
    page.on('response', (r) => {
      if (r.url().includes('/c2d/'))
        void r.text().then(
          (t) => bodies.push(t),
          () => undefined,
        );
    });
    await page.locator('.c2d-sidebar-device[data-device="demo-device"]').click();
    await page.locator('.c2d-sidebar-device-title', { hasText: 'demo-device' }).waitFor();
    await page.locator('.c2d-sidebar-queue .c2d-sidebar-section-head').waitFor();
    await page.locator('.c2d-sidebar-help-button').click();
    await page.locator('.c2d-sidebar-help-readonly').waitFor();
    await sidebarShot(page, 'sidebar-read-only');
    for (const cls of [
      '.c2d-sidebar-actions button',
      '.c2d-sidebar-device-create',
      '.c2d-sidebar-requeue',
      '.c2d-sidebar-delete-dead',
      '.c2d-sidebar-cancel-message',
      '.c2d-sidebar-send-form',
      '.c2d-sidebar-conn-value',
    ]) {
      assert.equal(await page.locator(cls).count(), 0, `${cls} for a read-only user`);
    }
    assert.ok(!(await page.content()).includes(key), 'the device key on the page');
    assert.ok(!fetched.some((u) => u.includes('connection-strings')), 'asked for connection strings');
    assert.ok(fetched.length > 0);
    for (const b of bodies) assert.ok(!b.includes(key), 'a key in a sidebar response');
  });
});

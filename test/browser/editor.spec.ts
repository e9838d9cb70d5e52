/**
 * The editor as a user meets it: a real Node-RED 4.1 (child process, temp
 * user dir, this package through settings.nodesDir) and Debian's Chromium.
 * Palette, edit dialogs, Import > Examples, deploy, statuses and the debug
 * sidebar. Any page error or console error fails the test it happened in.
 * Screenshots go to test-artifacts/ (one per test, named after it).
 *
 * Run with `npm run test:browser` (not part of `npm test`); skipped with a
 * message when there is no Chromium at /usr/bin/chromium (or $C2D_CHROMIUM).
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { problemsIn, startRed, type RedProcess } from '../install/red-process';
import {
  CHROMIUM,
  credentialInputs,
  deploy,
  importExample,
  launchChromium,
  nodesOfTypes,
  openEditor,
  showTab,
  waitGreen,
  type Browser,
  type EditorPage,
} from './editor-page';
import { EDIT_FLOW } from './flows';
import { STORIES } from '../nodes/example-stories';

declare const document: {
  querySelectorAll(s: string): ArrayLike<{ textContent: string | null }>;
  querySelector(s: string): { textContent: string | null } | null;
};

declare const RED: {
  nodes: {
    node(id: string): { name?: string; status?: { fill?: string; text?: string } } | null;
    filterNodes(f: object): Array<{ id: string; z?: string }>;
    getType(t: string): { category?: string; inputs?: number; outputs?: number } | undefined;
  };
  sidebar: { help: { show(type: string): void } };
};

const root = path.resolve(__dirname, '../../..');
const MODULE = 'node-red-contrib-c2d';
const FLOW_TYPES = ['c2d-hub', 'c2d-send', 'c2d-receive', 'c2d-ack', 'c2d-feedback'];
const EXAMPLES = fs
  .readdirSync(path.join(root, 'examples'))
  .filter((f) => f.endsWith('.json'))
  .map((f) => f.slice(0, -5))
  .sort();

type ExampleNode = Record<string, string> & { id: string; type: string };

/**
 * What an example can show without anything the user must add: the hub, and
 * every node whose config talks to a c2d-hub of this Node-RED (in-process or
 * over its sockets), turn green. Nodes whose config points at a network hub
 * by connection string need one (Azure, or a second Node-RED): they must say
 * so in words ("no connection string"). Examples without such nodes must
 * deploy without the "improperly configured" warning.
 */
function configs(name: string): Map<string, ExampleNode> {
  const flow = JSON.parse(fs.readFileSync(path.join(root, 'examples', `${name}.json`), 'utf8')) as ExampleNode[];
  return new Map(flow.filter((n) => n.type === 'c2d-hub-config').map((n) => [n.id, n]));
}

function expectations(name: string): { green: ExampleNode[]; needsUser: ExampleNode[]; portHubs: ExampleNode[]; selfContained: boolean } {
  const flow = JSON.parse(fs.readFileSync(path.join(root, 'examples', `${name}.json`), 'utf8')) as ExampleNode[];
  const cfg = configs(name);
  const statusNodes = flow.filter((n) => ['c2d-hub', 'c2d-send', 'c2d-receive', 'c2d-feedback'].includes(n.type));
  const green = statusNodes.filter((n) => n.type === 'c2d-hub' || cfg.get(n.hub)?.target !== 'network');
  const needsUser = statusNodes.filter((n) => !green.includes(n));
  // Fixed ports (not 0 = any free port) may be taken on a shared machine.
  const portHubs = flow.filter((n) => n.type === 'c2d-hub' && ['amqpsPort', 'mqttsPort', 'httpsPort'].some((p) => n[p] && n[p] !== '0'));
  return { green, needsUser, portHubs, selfContained: needsUser.length === 0 };
}

describe('editor in Chromium (Node-RED 4.1, this package via nodesDir)', function () {
  this.timeout(120_000);
  let red: RedProcess;
  let browser: Browser;
  let userDir: string;
  let ed: EditorPage | undefined;

  before(async function () {
    if (!fs.existsSync(CHROMIUM)) {
      console.log(`    (skipped: no Chromium at ${CHROMIUM}; install Debian's chromium or set C2D_CHROMIUM)`);
      this.skip();
    }
    userDir = fs.mkdtempSync(path.join(os.tmpdir(), 'c2d-editor-'));
    red = await startRed({ userDir, nodesDir: [root] });
    browser = await launchChromium();
  });

  after(async function () {
    await browser?.close();
    await red?.stop();
    if (userDir) fs.rmSync(userDir, { recursive: true, force: true });
  });

  afterEach(async function () {
    if (!ed) return;
    const current = ed;
    ed = undefined;
    await current.shot(this.currentTest?.title ?? 'test');
    await current.page.close();
    assert.deepEqual(current.errors, [], 'page errors or console errors');
  });

  async function fresh(flows: object[] = []): Promise<EditorPage> {
    await red.api('POST', '/flows', { flows }, { 'Node-RED-Deployment-Type': 'full' });
    ed = await openEditor(browser, red.url);
    return ed;
  }

  it('palette: the five flow node types are under "C2D" with a label, and c2d-hub-config is a config type', async () => {
    const { page } = await fresh();
    for (const t of FLOW_TYPES) {
      const entry = page.locator(`#red-ui-palette-base-category-C2D .red-ui-palette-node[data-palette-type='${t}']`);
      assert.equal(await entry.count(), 1, t);
      assert.match((await entry.locator('.red-ui-palette-label').innerText()).trim(), /^c2d /, t);
      assert.equal(await entry.locator('.red-ui-palette-icon-container').count(), 1, `${t} icon`);
    }
    assert.equal(await page.evaluate(() => RED.nodes.getType('c2d-hub-config')?.category), 'config');
    assert.deepEqual(problemsIn(red.log()), []);
  });

  it('help sidebar: each type is listed as "c2d ..." and has Details, and Inputs/Outputs sections where it has ports', async () => {
    const { page } = await fresh();
    for (const t of [...FLOW_TYPES, 'c2d-hub-config']) {
      await page.evaluate((x) => RED.sidebar.help.show(x), t);
      const { label, heads, inputs, outputs } = await page.evaluate(
        (x) => ({
          label: (document.querySelector('.red-ui-sidebar-help-toc .red-ui-treeList-label.selected')?.textContent ?? '').trim(),
          heads: Array.from(document.querySelectorAll('.red-ui-sidebar-help-stack .red-ui-help h3')).map((h) => (h.textContent ?? '').trim()),
          inputs: Number(RED.nodes.getType(x)?.inputs ?? 0),
          outputs: Number(RED.nodes.getType(x)?.outputs ?? 0),
        }),
        t,
      );
      assert.match(label, /^c2d [a-z ]+$/, `${t}: its label in the help list`);
      assert.ok(heads.includes('Details'), `${t}: ${heads.join(', ')}`);
      if (inputs > 0) assert.ok(heads.includes('Inputs'), `${t}: ${heads.join(', ')}`);
      if (outputs > 0) assert.ok(heads.includes('Outputs'), `${t}: ${heads.join(', ')}`);
    }
  });

  it('edit dialogs: each opens, secrets are password inputs, and each saves (name kept after deploy)', async () => {
    const { page } = await fresh(EDIT_FLOW);
    for (const n of EDIT_FLOW.filter((x) => FLOW_TYPES.includes(String(x.type)))) {
      await page.locator(`[id="${n.id}"] .red-ui-flow-node`).first().dblclick();
      // The tray's buttons come before its form (built once credentials are fetched).
      await page.locator('#node-input-name').waitFor();
      for (const c of await credentialInputs(page, n.type, 'node-input'))
        if (c.declared === 'password') assert.equal(c.input, 'password', `${n.type}.${c.name}`);
      await page.locator('#node-input-name').fill(`edited ${n.type}`);
      if (n.hub) {
        // The config node's own dialog, through the pencil beside the select.
        await page.locator('#node-input-btn-hub-edit').click();
        await page.locator('#node-config-input-name').waitFor();
        const creds = await credentialInputs(page, 'c2d-hub-config', 'node-config-input');
        assert.ok(creds.length >= 5);
        for (const c of creds) if (c.declared === 'password') assert.equal(c.input, 'password', `c2d-hub-config.${c.name}`);
        await page.locator('#node-config-dialog-ok').click();
        await page.locator('#node-config-dialog-ok').waitFor({ state: 'detached' });
      }
      await page.locator('#node-dialog-ok').click();
      await page.locator('#node-dialog-ok').waitFor({ state: 'detached' });
      assert.equal(await page.evaluate((id) => RED.nodes.node(id)?.name, n.id), `edited ${n.type}`);
    }
    const { confirmed } = await deploy(page);
    assert.equal(confirmed, false, 'deploy warned about improperly configured nodes');
    const { flows } = await red.api<{ flows: Array<{ id: string; name?: string }> }>('GET', '/flows');
    for (const n of EDIT_FLOW.filter((x) => FLOW_TYPES.includes(String(x.type)))) assert.equal(flows.find((f) => f.id === n.id)?.name, `edited ${n.type}`);
    await waitGreen(
      page,
      EDIT_FLOW.filter((x) => FLOW_TYPES.includes(String(x.type)) && x.type !== 'c2d-ack').map((x) => x.id),
    );
  });

  for (const name of EXAMPLES) {
    const { green, needsUser, portHubs, selfContained } = expectations(name);
    it(`example "${name}": imports with no unknown types, deploys, and the hub and every node on it turn green`, async () => {
      const { page } = await fresh();
      const shown = await importExample(page, MODULE, name);
      assert.ok(!shown.some((t) => /unrecogni[sz]ed|unknown/i.test(t)), shown.join(' | '));
      assert.equal((await nodesOfTypes(page, ['unknown'])).length, 0);
      // Standard ports (5671, 8883, 8443) may be taken on a shared machine:
      // set them to 0 (any free port) in the hub's dialog, as a user would.
      for (const hub of portHubs) {
        await showTab(page, hub.z);
        await page.locator(`[id="${hub.id}"] .red-ui-flow-node`).first().dblclick();
        await page.locator('#node-dialog-ok').waitFor();
        for (const p of ['amqpsPort', 'mqttsPort', 'httpsPort']) if (hub[p] && hub[p] !== '0') await page.locator(`#node-input-${p}`).fill('0');
        await page.locator('#node-dialog-ok').click();
        await page.locator('#node-dialog-ok').waitFor({ state: 'detached' });
      }
      const { confirmed } = await deploy(page);
      if (selfContained) assert.equal(confirmed, false, 'deploy warned about improperly configured nodes');
      // Statuses are drawn only on the tab shown: check tab by tab.
      for (const z of new Set(green.map((n) => n.z))) {
        await showTab(page, z);
        await waitGreen(
          page,
          green.filter((n) => n.z === z).map((n) => n.id),
        );
      }
      if (needsUser.length > 0) {
        // Without their connection strings these say so in red, and the log says what is missing.
        await page.waitForFunction(
          (ids) => ids.every((id) => RED.nodes.node(id)?.status?.fill === 'red'),
          needsUser.map((n) => n.id),
          { timeout: 20_000 },
        );
        const statuses = await page.evaluate(
          (ids) => ids.map((id) => RED.nodes.node(id)?.status?.text),
          needsUser.map((n) => n.id),
        );
        assert.deepEqual(
          statuses,
          needsUser.map(() => 'no connection string'),
        );
        for (const cfg of new Set(needsUser.map((n) => n.hub))) {
          const label = String(configs(name).get(cfg)?.name ?? cfg).replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
          await red.waitForLog(new RegExp(`\\[warn\\] \\[c2d-hub-config:${label}\\] .*is not set in the c2d-hub-config`));
        }
      }
      const story = STORIES[`${name}.json`];
      if (story)
        await storyShown(
          ed!,
          name,
          story.map(([debugNode]) => debugNode),
        );
      if (name === 'Round trip on the embedded hub') await roundTrip(ed!);
    });
  }

  /** With nothing clicked: the debug sidebar has a message from each debug node of the example's story. */
  async function storyShown({ page, shot }: EditorPage, name: string, debugNodes: string[]): Promise<void> {
    await page.locator('#red-ui-tab-debug-link-button').click();
    const list = page.locator('.red-ui-debug-content-list');
    for (const n of debugNodes)
      await list
        .locator('.red-ui-debug-msg', { hasText: `node: ${n}` })
        .first()
        .waitFor({ timeout: 30_000 });
    await shot(`example ${name}: its story in the debug sidebar`);
  }

  /** Clicks the inject button and reads the debug sidebar: the message received, then its feedback. */
  async function roundTrip({ page, shot }: EditorPage): Promise<void> {
    const [inject] = await nodesOfTypes(page, ['inject']);
    await page.locator(`[id="${inject.id}"] .red-ui-flow-node-button`).click();
    await page.locator('#red-ui-tab-debug-link-button').click();
    const list = page.locator('.red-ui-debug-content-list');
    const received = list.locator('.red-ui-debug-msg', { hasText: 'node: received' }).first();
    const feedback = list.locator('.red-ui-debug-msg', { hasText: 'node: feedback' }).first();
    await received.waitFor({ timeout: 20_000 });
    await feedback.waitFor({ timeout: 20_000 });
    // The sidebar shows objects collapsed: open msg, then msg.payload, as a user would.
    await received.locator('.red-ui-debug-msg-object-handle').first().click();
    await received
      .locator('.red-ui-debug-msg-object-key:visible', { hasText: /^payload$/ })
      .first()
      .click();
    await received.getByText('hello device').first().waitFor({ timeout: 5_000 });
    const id = /messageId: "([0-9a-f-]{36})"/.exec((await received.innerText()).replace(/\s+/g, ' '))?.[1];
    assert.ok(id, 'received messageId');
    const fbText = (await feedback.innerText()).replace(/\s+/g, ' ');
    // The collapsed preview cuts long strings; the start of the id identifies it.
    assert.ok(fbText.includes(`originalMessageId: "${id.slice(0, 20)}`), fbText);
    assert.match(fbText, /statusCode: "Success"/);
    assert.match(fbText, /deviceId: "demo-device"/);
    await shot('round trip debug sidebar');
  }
});

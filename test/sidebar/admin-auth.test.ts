/**
 * Who may use the sidebar's admin routes, on a real Node-RED 4.1 with
 * adminAuth (child process, this package through nodesDir): no session and
 * a user without c2d permissions get 401; a read-only user reads state, with
 * no key in it, and gets 403 on every change and on connection strings; an
 * admin (or a user with c2d.read and c2d.write only) does everything. No key
 * shows in Node-RED's log.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { RedProcess } from '../install/red-process';
import { HUB_ID, sidebarFlow } from './flows';
import { call, startRedWithAuth, tokenFor, waitForHub, type UserName } from './red-auth';

const root = path.resolve(__dirname, '../../..');
const base = `/c2d/hubs/${HUB_ID}`;
const dev = `${base}/devices/demo-device`;

const READS: Array<[string, string]> = [
  ['GET', '/c2d/hubs'],
  ['GET', base],
  ['GET', `${base}/devices`],
  ['GET', dev],
  ['GET', `${base}/trace/some-id`],
];
const CHANGES: Array<[string, string, unknown?]> = [
  ['GET', `${dev}/connection-strings`],
  ['POST', `${base}/devices`, { deviceId: 'made-by-test' }],
  ['PATCH', dev, { status: 'disabled' }],
  ['DELETE', dev],
  ['POST', `${dev}/messages`, { body: 'x' }],
  ['DELETE', `${dev}/messages`],
  ['DELETE', `${dev}/messages/some-id`],
  ['POST', `${dev}/dead-letters/1/requeue`],
  ['DELETE', `${dev}/dead-letters/1`],
  ['POST', `${dev}/faults`, { type: 'KillTcp' }],
];

describe('sidebar admin routes under adminAuth (real Node-RED 4.1)', function () {
  this.timeout(90_000);
  let red: RedProcess;
  let userDir: string;
  const tokens: Partial<Record<UserName, string>> = {};

  before(async function () {
    userDir = fs.mkdtempSync(path.join(os.tmpdir(), 'c2d-sidebar-auth-'));
    red = await startRedWithAuth({ userDir, nodesDir: [root], flows: sidebarFlow({ receiverEnabled: false }) });
    for (const u of ['admin', 'viewer', 'c2dOperator', 'flowsOnly'] as const) tokens[u] = await tokenFor(red, u);
    await waitForHub(red, HUB_ID, tokens.admin!);
  });

  after(async function () {
    await red?.stop();
    if (userDir) fs.rmSync(userDir, { recursive: true, force: true });
  });

  it('no session: 401 on every route, reading or changing', async () => {
    for (const [method, route, body] of [...READS, ...CHANGES]) {
      assert.equal((await call(red, method, route, undefined, body)).status, 401, `${method} ${route}`);
    }
  });

  it('a user without any c2d permission (flows.read only): 401 on every route', async () => {
    for (const [method, route, body] of [...READS, ...CHANGES]) {
      assert.equal((await call(red, method, route, tokens.flowsOnly, body)).status, 401, `${method} ${route}`);
    }
  });

  it('a read-only user: state without keys, and 403 on every change and on connection strings', async () => {
    const key = (
      await call<{ connectionStrings: Record<string, string> }>(red, 'GET', `${dev}/connection-strings`, tokens.admin)
    ).body.connectionStrings.mqtts!.split('SharedAccessKey=')[1]!;
    assert.ok(key.length > 20);
    for (const [method, route] of READS) {
      const r = await call(red, method, route, tokens.viewer);
      assert.equal(r.status, 200, `${method} ${route}: ${r.text}`);
      assert.ok(!r.text.includes(key), `${method} ${route} shows the device key`);
    }
    const summary = await call<{ devices: number }>(red, 'GET', base, tokens.viewer);
    assert.equal(summary.body.devices, 1);
    for (const [method, route, body] of CHANGES) {
      const r = await call(red, method, route, tokens.viewer, body);
      assert.equal(r.status, 403, `${method} ${route}`);
      assert.ok(!r.text.includes(key));
    }
    // Nothing changed.
    assert.equal((await call<{ status: string; pending: number }>(red, 'GET', dev, tokens.admin)).body.status, 'enabled');
    assert.equal((await call<{ total: number }>(red, 'GET', `${base}/devices`, tokens.admin)).body.total, 1);
  });

  for (const user of ['admin', 'c2dOperator'] as const) {
    it(`${user}: reads, connection strings, and every change`, async () => {
      const tok = tokens[user];
      for (const [method, route] of READS) assert.equal((await call(red, method, route, tok)).status, 200, `${method} ${route}`);
      const cs = await call<{ connectionStrings: Record<string, string> }>(red, 'GET', `${dev}/connection-strings`, tok);
      assert.equal(cs.status, 200);
      assert.match(cs.body.connectionStrings.mqtts!, /^HostName=localhost:\d+;DeviceId=demo-device;SharedAccessKey=[A-Za-z0-9+/]+=*$/);
      const id = `made-by-${user}`;
      const steps: Array<[string, string, unknown, number]> = [
        ['POST', `${base}/devices`, { deviceId: id }, 201],
        ['PATCH', `${base}/devices/${id}`, { status: 'disabled' }, 200],
        ['PATCH', `${base}/devices/${id}`, { status: 'enabled' }, 200],
        ['POST', `${base}/devices/${id}/messages`, { body: 'x', messageId: 'to-cancel' }, 201],
        ['DELETE', `${base}/devices/${id}/messages/to-cancel`, undefined, 200],
        ['POST', `${base}/devices/${id}/messages`, { body: 'y' }, 201],
        ['DELETE', `${base}/devices/${id}/messages`, undefined, 200],
        // Past the permission check: the hub's own answer (no such dead letter).
        ['POST', `${base}/devices/${id}/dead-letters/1/requeue`, undefined, 404],
        ['DELETE', `${base}/devices/${id}/dead-letters/1`, undefined, 404],
        ['POST', `${base}/devices/${id}/faults`, { type: 'KillTcp', delayInSecs: 0 }, 201],
        ['DELETE', `${base}/devices/${id}`, undefined, 200],
      ];
      for (const [method, route, body, status] of steps) {
        const r = await call(red, method, route, tok, body);
        assert.equal(r.status, status, `${method} ${route}: ${r.text}`);
      }
    });
  }

  it("no key or connection string in Node-RED's log", async () => {
    const cs = (await call<{ connectionStrings: Record<string, string> }>(red, 'GET', `${dev}/connection-strings`, tokens.admin)).body.connectionStrings.mqtts!;
    const key = cs.split('SharedAccessKey=')[1]!;
    assert.ok(!red.log().includes(key));
    assert.ok(!red.log().includes('SharedAccessKey='));
  });
});

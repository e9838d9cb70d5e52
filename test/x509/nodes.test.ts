/**
 * X.509 CA in Node-RED: the c2d-hub node's "Device CAs" setting registers the
 * CA; a c2d-hub-config (network, device, X.509) logs in as a CA-signed device
 * with its chain (certificate + intermediates in the certificate credential),
 * or with a PFX credential and its pass phrase. A setting that holds no CA
 * certificate stops the hub with 400004 in its status.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ALL_NODES, baseFlow, helper, isConnected, lastStatus, nextMsg, statusReaches, tempDir } from '../nodes/helpers';
import { deviceOf, hasOpenssl, makePki, pfxOf, skipWithoutOpenssl, type Pki } from './pki';

type M = Record<string, unknown>;

describe('nodes: X.509 CA devices (c2d-hub Device CAs, c2d-hub-config chain and PFX)', function () {
  this.timeout(60_000);
  let tmp: ReturnType<typeof tempDir>;
  let pki: Pki;
  before(async () => {
    tmp = tempDir();
    pki = await makePki('Contoso');
  });
  afterEach(async () => {
    await helper.unload();
  });
  after(() => tmp.remove());

  it('a device config with the chain, and one with a PFX, receive what a backend sends to their CA-signed devices', async () => {
    const hubFlow = [
      ...baseFlow(tmp.dir, { host: 'localhost', amqpsPort: '0', mqttsPort: '0', httpsPort: '', caCerts: pki.root.cert, wires: [['hubout']] }),
      { id: 'hubout', z: 'f1', type: 'helper' },
    ];
    await helper.load(ALL_NODES, hubFlow);
    const hubNode = helper.getNode('hub') as unknown as { ready: Promise<void>; ports: Record<string, number> } & ReturnType<typeof helper.getNode>;
    await hubNode.ready;
    assert.equal(lastStatus(hubNode)?.fill, 'green');
    // Devices are created as IoT Hub's registry describes them, through the node's createDevice action.
    const withPfx = hasOpenssl(); // the PFX half needs the openssl command to make the PFX (CI installs it)
    if (!withPfx) console.log('      (the PFX config is left out: no openssl command on PATH)');
    const ids = withPfx ? ['ca-chain', 'ca-pfx'] : ['ca-chain'];
    for (const deviceId of ids) {
      // The output also carries hub events (deviceCreated): wait for the action's reply.
      const created = new Promise<M>((resolve) =>
        helper.getNode('hubout').on('input', (m: M) => m.action === 'createDevice' && m.deviceId === deviceId && resolve(m)),
      );
      hubNode.receive({ action: 'createDevice', deviceId, payload: { authentication: { type: 'certificateAuthority' } } });
      assert.equal(((await created).payload as { authentication: { type: string } }).authentication.type, 'certificateAuthority');
    }
    const ca = fs.readFileSync(path.join(tmp.dir, 'tls', 'cert.pem'), 'utf8');
    const chainDev = await deviceOf(pki, 'ca-chain');
    const pfxDev = await deviceOf(pki, 'ca-pfx');
    const hostName = `localhost:${hubNode.ports.mqtts}`;
    const net = (id: string, deviceId: string, transport: string): object => ({
      id,
      type: 'c2d-hub-config',
      target: 'network',
      role: 'device',
      transport,
      deviceId,
      auth: 'x509',
      hostName: transport === 'mqtt' ? hostName : `localhost:${hubNode.ports.amqps}`,
    });
    const flow = [
      ...hubFlow,
      net('nchain', 'ca-chain', 'mqtt'),
      { id: 'rchain', z: 'f1', type: 'c2d-receive', hub: 'nchain', settle: 'auto', wires: [['gotchain']] },
      { id: 'gotchain', z: 'f1', type: 'helper' },
      ...(withPfx
        ? [
            net('npfx', 'ca-pfx', 'amqp'),
            { id: 'rpfx', z: 'f1', type: 'c2d-receive', hub: 'npfx', settle: 'auto', wires: [['gotpfx']] },
            { id: 'gotpfx', z: 'f1', type: 'helper' },
          ]
        : []),
      { id: 'send', z: 'f1', type: 'c2d-send', hub: 'svc', wires: [[]] },
    ];
    const pfx = withPfx ? pfxOf(pfxDev, [pki.intermediate2, pki.intermediate1], 'node pass').toString('base64') : '';
    await helper.setFlows(flow, 'nodes', {
      nchain: { cert: chainDev.chain, key: chainDev.key, ca },
      ...(withPfx ? { npfx: { pfx, passphrase: 'node pass', ca } } : {}),
    });
    // The key and the PFX are password credentials (never in the flow JSON, never sent back to the editor).
    const red = (helper as unknown as { _redNodes: { getCredentialDefinition(t: string): Record<string, { type: string }>; getFlows(): { flows: unknown[] } } })
      ._redNodes;
    assert.equal(red.getCredentialDefinition('c2d-hub-config').pfx?.type, 'password');
    assert.equal(red.getCredentialDefinition('c2d-hub-config').key?.type, 'password');
    const flowJson = JSON.stringify(red.getFlows().flows);
    assert.ok(!flowJson.includes(chainDev.key.split('\n')[1] as string), 'a private key in the flow JSON');
    if (withPfx) assert.ok(!flowJson.includes(pfx.slice(0, 40)), 'the PFX in the flow JSON');
    await statusReaches(helper.getNode('rchain'), isConnected, 30_000);
    const gotChain = nextMsg(helper.getNode('gotchain'), 30_000);
    helper.getNode('send').receive({ payload: 'to the chain', deviceId: 'ca-chain' });
    assert.equal((await gotChain).payload, 'to the chain');
    if (withPfx) {
      await statusReaches(helper.getNode('rpfx'), isConnected, 30_000);
      const gotPfx = nextMsg(helper.getNode('gotpfx'), 30_000);
      helper.getNode('send').receive({ payload: 'to the pfx', deviceId: 'ca-pfx' });
      assert.equal((await gotPfx).payload, 'to the pfx');
    }
  });

  it('a device config whose PFX pass phrase is wrong says so in its status, never connecting', async function () {
    skipWithoutOpenssl(this);
    const dev = await deviceOf(pki, 'ca-bad');
    const flow = [
      ...baseFlow(tmp.dir),
      { id: 'nbad', type: 'c2d-hub-config', target: 'network', role: 'device', transport: 'mqtt', deviceId: 'ca-bad', auth: 'x509', hostName: 'localhost:1' },
      { id: 'rbad', z: 'f1', type: 'c2d-receive', hub: 'nbad', settle: 'auto', wires: [[]] },
    ];
    await helper.load(ALL_NODES, flow, { nbad: { pfx: pfxOf(dev, [pki.intermediate2], 'right-PP-81').toString('base64'), passphrase: 'wrong-PP-42' } });
    const s = await statusReaches(helper.getNode('rbad'), (x) => x.fill === 'red', 30_000);
    assert.match(String(s.text), /400004/);
    // The config's warning says what is wrong (and carries no secret).
    const log = (helper as unknown as { log(): { args: Array<[{ level: number; id?: string; msg?: unknown }]>; WARN: number } }).log();
    const warnings = log.args
      .map(([e]) => e)
      .filter((e) => e.level === log.WARN && e.id === 'nbad')
      .map((e) => String(e.msg));
    assert.ok(
      warnings.some((w) => /the PFX cannot be opened: a wrong or missing pass phrase/.test(w)),
      JSON.stringify(warnings),
    );
    assert.ok(!warnings.some((w) => w.includes('PP-42') || w.includes('PP-81')), 'no pass phrase in the log');
  });

  it('a Device CAs setting with no CA certificate in it stops the hub with 400004', async () => {
    const dev = await deviceOf(pki, 'not-a-ca');
    await helper.load(ALL_NODES, baseFlow(tmp.dir, { caCerts: dev.cert }));
    await helper.getNode('hub').ready;
    assert.equal(lastStatus(helper.getNode('hub'))?.text, '400004 ArgumentInvalid');
  });
});

/**
 * Real AMQP stacks other than the Node SDKs against the embedded hub, over
 * TLS on an ephemeral port: Python uamqp (azure-uamqp-c: SASL MSSBCBS, then
 * put-token on `$cbs`) as azure-iot-hub sends C2D and as the C SDK's device
 * receives it, and Qpid Proton with its default link names (the `$cbs`
 * sender and receiver share one). Each skips, saying why, when Debian's
 * python3 lacks the module.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { EmbeddedHub } from '../../lib/hub/embedded';
import { runPython, whyNoPythonModule } from './python';

describe('other AMQP stacks against the embedded hub', function () {
  this.timeout(60_000);
  let hub: EmbeddedHub;
  let dataDir: string;
  let ca: string;
  let port: string;
  let deviceKey: string;

  before(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'c2d-interop-'));
    hub = await EmbeddedHub.start({ dataDir, ports: { amqps: 0, mqtts: false, https: false } });
    ca = hub.tls.caPath as string;
    port = String(hub.ports.amqps);
    deviceKey = (await hub.hub.registry.createDevice({ deviceId: 'c-dev' })).authentication.symmetricKey.primaryKey as string;
  });
  after(async () => {
    await hub?.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  describe("Python uamqp (azure-uamqp-c, the Azure IoT C SDK's AMQP stack)", () => {
    before(function () {
      const why = whyNoPythonModule('uamqp', 'python3-uamqp');
      if (why) {
        console.log(`    skipped: ${why}`);
        this.skip();
      }
    });

    it('sends C2D as azure-iot-hub does (SASL MSSBCBS, JWTTokenAuth put-token, /messages/devicebound): committed, no iothub-ack invented', async () => {
      const policy = hub.hub.registry.getPolicy('iothubowner');
      const [line] = await runPython('uamqp_service_send.py', ['localhost', port, 'iothubowner', policy?.primaryKey as string, ca, 'c-dev', 'from-uamqp-1']);
      assert.deepEqual(line?.results, ['MessageState.SendComplete']);
      const m = await hub.hub.receive('c-dev');
      assert.equal(m?.body.toString(), 'from uamqp');
      assert.equal(m?.messageId, 'from-uamqp-1');
      assert.deepEqual(m?.properties, { stack: 'uamqp' });
      assert.equal(m?.ackSetBySender, undefined);
      await hub.hub.complete('c-dev', m!.lockToken);
    });

    it('receives C2D as a C SDK device (put-token for host/devices/id): released comes again with delivery-count 1 in the header and the annotation', async () => {
      await hub.hub.send('c-dev', { body: Buffer.from('to uamqp'), messageId: 'm-u', properties: { k: 'v' } });
      const lines = await runPython('uamqp_device_receive.py', ['localhost', port, 'c-dev', deviceKey, ca, '2']);
      assert.deepEqual(
        lines.map((l) => [l.body, l.messageId, l.headerDeliveryCount, l.annotationDeliveryCount]),
        [
          ['to uamqp', 'm-u', 0, 0],
          ['to uamqp', 'm-u', 1, 1],
        ],
      );
      assert.deepEqual(lines[0]?.applicationProperties, { k: 'v' }, 'no iothub-ack when the sender set none');
      assert.deepEqual([hub.hub.stats().queued, hub.hub.stats().locked], [0, 0], 'accepted = completed');
    });
  });

  describe('Qpid Proton', () => {
    before(function () {
      const why = whyNoPythonModule('proton', 'python3-qpid-proton');
      if (why) {
        console.log(`    skipped: ${why}`);
        this.skip();
      }
    });

    it('with default link names (one name for the $cbs sender and receiver) puts a token and receives C2D; modified{delivery-failed} counts', async () => {
      await hub.hub.send('c-dev', { body: Buffer.from('to proton'), messageId: 'm-p', ack: 'none' });
      const lines = await runPython('proton_device_receive.py', ['localhost', port, 'c-dev', deviceKey, ca, '2']);
      const links = lines.find((l) => l.event === 'links');
      assert.ok(links && links.sender === links.receiver, `Proton named both $cbs links alike: ${JSON.stringify(links)}`);
      assert.deepEqual(
        lines.find((l) => l.event === 'put-token'),
        { event: 'put-token', status: 200, correlated: true },
      );
      const messages = lines.filter((l) => l.event === 'message');
      assert.deepEqual(
        messages.map((l) => [l.body, l.messageId, l.headerDeliveryCount, l.annotationDeliveryCount]),
        [
          ['to proton', 'm-p', 0, 0],
          ['to proton', 'm-p', 1, 1],
        ],
      );
      assert.deepEqual(messages[0]?.applicationProperties, { 'iothub-ack': 'none' }, 'an ack the sender set, even none, is carried');
      assert.deepEqual([hub.hub.stats().queued, hub.hub.stats().locked], [0, 0]);
    });
  });
});

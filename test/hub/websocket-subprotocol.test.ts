/**
 * WebSocket subprotocols at /$iothub/websocket are matched without regard to
 * case and answered with the client's own spelling (RFC 6455 §4.2.2: the
 * answer must be one of the values offered). The Azure IoT C SDK asks for
 * `MQTT`; the Node SDK for `mqtt`. Full C2D round trips through the
 * embedded hub's HTTPS port.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { MqttClient } from 'mqtt';
import { create_container, type EventContext } from 'rhea';
import WebSocket, { createWebSocketStream } from 'ws';
import { CbsClient } from '../../lib/client/amqp/cbs';
import { buildMqttUsername } from '../../lib/common/codec/mqtt';
import { WEBSOCKET_PATH } from '../../lib/common/limits';
import { stopHeartbeats, webSocketConnector } from '../../lib/common/rhea-internals';
import { createSas } from '../../lib/common/sas';
import { EmbeddedHub } from '../../lib/hub/embedded';
import { pickSubprotocol } from '../../lib/hub/listeners';

describe("WebSocket subprotocols: any case in, the client's spelling out", function () {
  this.timeout(20_000);
  let hub: EmbeddedHub;
  let dataDir: string;
  const token = (id: string): string =>
    createSas(
      `localhost/devices/${id}`,
      hub.hub.registry.getDevice(id)?.authentication.symmetricKey.primaryKey as string,
      Math.floor(Date.now() / 1000) + 3600,
    );
  const url = (): string => `wss://localhost:${hub.ports.https}${WEBSOCKET_PATH}`;

  before(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'c2d-wsp-'));
    hub = await EmbeddedHub.start({ dataDir, ports: { amqps: false, mqtts: false, https: 0 } });
    for (const id of ['ws-mqtt', 'ws-amqp']) await hub.hub.registry.createDevice({ deviceId: id });
  });
  after(async () => {
    await hub?.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('picks the first offered subprotocol it serves, compared case-insensitively, and keeps the offered spelling', () => {
    const handlers = { AMQPWSB10: () => undefined, mqtt: () => undefined };
    assert.equal(pickSubprotocol(['MQTT'], handlers)?.offered, 'MQTT');
    assert.equal(pickSubprotocol(['chat', 'amqpwsb10'], handlers)?.offered, 'amqpwsb10');
    assert.equal(pickSubprotocol(['chat'], handlers), undefined);
  });

  it('MQTT over WebSocket as the C SDK offers it (`MQTT`): echoed as `MQTT`, and a C2D message arrives and completes', async () => {
    const ws = new WebSocket(url(), ['MQTT'], { ca: hub.tls.cert });
    await once(ws, 'open');
    assert.equal(ws.protocol, 'MQTT');
    const client = new MqttClient(() => createWebSocketStream(ws) as never, {
      protocolVersion: 4,
      clientId: 'ws-mqtt',
      username: buildMqttUsername({ host: 'localhost', deviceId: 'ws-mqtt' }),
      password: token('ws-mqtt'),
      clean: false,
      reconnectPeriod: 0,
    });
    try {
      await new Promise<void>((resolve, reject) => client.once('connect', () => resolve()).once('error', reject));
      await client.subscribeAsync('devices/ws-mqtt/messages/devicebound/#', { qos: 1 });
      const completed = once(hub.hub.events, 'completed');
      const got = new Promise<string>((resolve) => client.once('message', (_t, p) => resolve(p.toString())));
      await hub.hub.send('ws-mqtt', { body: Buffer.from('over MQTT') });
      assert.equal(await got, 'over MQTT');
      await completed;
    } finally {
      await client.endAsync(true);
    }
  });

  it('AMQP over WebSocket offered as `amqpwsb10`: echoed so, and a C2D message arrives', async () => {
    const container = create_container({ id: 'ws-amqp' });
    const details = webSocketConnector(container, WebSocket)(url(), ['amqpwsb10'], { ca: hub.tls.cert });
    const c = container.connect({ connection_details: details, reconnect: false } as never);
    c.on('error', () => undefined);
    c.on('disconnected', () => undefined);
    try {
      await once(c, 'connection_open');
      const cbs = await CbsClient.attach(c);
      await cbs.putToken(encodeURIComponent('localhost/devices/ws-amqp'), token('ws-amqp'), 'sas');
      const r = c.open_receiver({ source: { address: '/devices/ws-amqp/messages/devicebound' }, credit_window: 1 });
      const got = new Promise<EventContext>((resolve) => r.once('message', resolve));
      await hub.hub.send('ws-amqp', { body: Buffer.from('over AMQP') });
      const ctx = await got;
      assert.equal(Buffer.from((ctx.message?.body as { content: Buffer }).content).toString(), 'over AMQP');
      ctx.delivery?.accept();
    } finally {
      c.close();
      await once(c, 'connection_close').catch(() => undefined);
      stopHeartbeats(c);
    }
  });
});

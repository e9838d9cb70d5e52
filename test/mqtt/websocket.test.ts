import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import mqtt from 'mqtt';
import { WebSocketServer } from 'ws';
import { ManualClock } from '../../lib/common/clock';
import { createSas } from '../../lib/common/sas';
import { buildMqttUsername } from '../../lib/common/codec/mqtt';
import { WEBSOCKET_PATH, WS_SUBPROTOCOL_MQTT } from '../../lib/common/limits';
import { Hub } from '../../lib/hub/index';
import { createMqttServer } from '../../lib/hub/mqtt/server';

describe('MQTT over WebSocket (subprotocol mqtt at /$iothub/websocket)', () => {
  it('receives and completes a C2D message, reported as protocol mqtt-ws', async () => {
    const clock = new ManualClock();
    const hub = await Hub.open({ clock });
    const server = createMqttServer(hub, { clock });
    const wss = new WebSocketServer({ noServer: true, handleProtocols: (p) => (p.has(WS_SUBPROTOCOL_MQTT) ? WS_SUBPROTOCOL_MQTT : false) });
    const web = http.createServer();
    web.on('upgrade', (req, socket, head) => {
      if (req.url !== WEBSOCKET_PATH) return socket.destroy();
      wss.handleUpgrade(req, socket, head, (ws) => server.handleWebSocket(ws));
    });
    web.listen(0, '127.0.0.1');
    await once(web, 'listening');
    const port = (web.address() as AddressInfo).port;

    const d = await hub.registry.createDevice({ deviceId: 'ws1' });
    const key = d.authentication.symmetricKey.primaryKey as string;
    const connected = once(hub.events, 'deviceConnected');
    const client = mqtt.connect(`ws://127.0.0.1:${port}${WEBSOCKET_PATH}`, {
      protocolVersion: 4,
      clientId: 'ws1',
      username: buildMqttUsername({ host: 'localhost', deviceId: 'ws1' }),
      password: createSas('localhost/devices/ws1', key, Math.floor(clock.now() / 1000) + 3600),
      clean: false,
      reconnectPeriod: 0,
    });
    try {
      await new Promise<void>((resolve, reject) => {
        client.once('connect', () => resolve());
        client.once('error', reject);
      });
      const [c] = await connected;
      assert.equal(c.protocol, 'mqtt-ws');
      await client.subscribeAsync('devices/ws1/messages/devicebound/#', { qos: 1 });
      const completed = once(hub.events, 'completed');
      const got = new Promise<Buffer>((resolve) => client.once('message', (_t, p) => resolve(p)));
      await hub.send('ws1', { body: Buffer.from('over ws'), messageId: 'w1' });
      assert.equal((await got).toString(), 'over ws');
      await completed;
    } finally {
      await client.endAsync(true);
      await server.close();
      wss.close();
      web.closeAllConnections();
      await new Promise<void>((resolve) => web.close(() => resolve()));
      await hub.close();
    }
  });
});

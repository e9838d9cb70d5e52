/**
 * AMQP over WebSocket (subprotocol AMQPWSB10, c2d-semantics.md §5.1): the
 * same server, fed by a `ws` server on loopback.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { WebSocket, WebSocketServer } from 'ws';
import { create_container, type Connection } from 'rhea';
import { WS_SUBPROTOCOL_AMQP } from '../../lib/common/limits';
import { startRig } from './helpers';

describe('AMQP over WebSocket', () => {
  it('serves put-token and the device link over AMQPWSB10', async () => {
    const rig = await startRig();
    await rig.hub.registry.createDevice({ deviceId: 'dev1' });
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', handleProtocols: (p) => (p.has(WS_SUBPROTOCOL_AMQP) ? WS_SUBPROTOCOL_AMQP : false) });
    wss.on('connection', (ws) => rig.server.handleWebSocket(ws));
    await once(wss, 'listening');
    const port = (wss.address() as { port: number }).port;
    const container = create_container({ id: 'ws-client' });
    const ws = container.websocket_connect(WebSocket as never);
    const conn: Connection = container.connect({
      connection_details: ws(`ws://127.0.0.1:${port}/$iothub/websocket`, [WS_SUBPROTOCOL_AMQP], {}),
      reconnect: false,
    } as never);
    try {
      await once(conn, 'connection_open');
      const connected = once(rig.hub.events, 'deviceConnected');
      const cbsOut = conn.open_sender({ target: { address: '$cbs' } });
      const cbsIn = conn.open_receiver({ source: { address: '$cbs' } });
      await once(cbsIn, 'receiver_open');
      // (rhea queues the request until the hub grants credit.)
      cbsOut.send({
        message_id: 'x1',
        reply_to: 'cbs',
        application_properties: { operation: 'put-token', type: 'servicebus.windows.net:sastoken', name: 'localhost%2Fdevices%2Fdev1' },
        body: rig.deviceToken('dev1'),
      } as never);
      const [reply] = await once(cbsIn, 'message');
      assert.equal(reply.message.correlation_id, 'x1');
      assert.equal(reply.message.application_properties['status-code'], 200);
      assert.deepEqual((await connected)[0], { deviceId: 'dev1', protocol: 'amqp-ws' });
      const r = conn.open_receiver({ source: { address: '/devices/dev1/messages/devicebound' }, autoaccept: false });
      await once(r, 'receiver_open');
      const got = once(r, 'message');
      await rig.hub.send('dev1', { body: Buffer.from('over ws'), messageId: 'w1' });
      const [ctx] = await got;
      assert.equal(ctx.message.message_id, 'w1');
      ctx.delivery.accept();
      await once(rig.hub.events, 'completed');
    } finally {
      const closed = once(conn, 'connection_close');
      conn.close();
      await closed;
      await rig.close();
      wss.close();
    }
  });
});

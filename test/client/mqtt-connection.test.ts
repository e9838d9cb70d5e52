/**
 * The DeviceClient's MQTT connection (lib/client/mqtt/packet-connection.ts) against
 * a scripted MQTT server over real loopback TLS: the server is mqtt-packet on
 * a tls.Server, so each test decides exactly what the "hub" answers (a refusal,
 * silence, no PINGRESP, garbage) and checks what the connection does with it.
 * Waits are on events; the time-outs under test are set short.
 */
import { strict as assert } from 'node:assert';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import tls from 'node:tls';
import mqttPacket, { type Packet } from 'mqtt-packet';
import { ConnackError, MqttConnection, type MqttConnectOptions } from '../../lib/client/mqtt/packet-connection';
import { DeviceClient } from '../../lib/client/device-client';
import { formatConnectionString } from '../../lib/common/connection-string';
import { generateKey } from '../../lib/common/sas';
import type { ReceivedMessage } from '../../lib/common/message';
import { testTls } from './rig';

type Script = (packet: Packet, reply: (p: Parameters<typeof mqttPacket.generate>[0]) => void, socket: tls.TLSSocket) => void;

/** A TLS server that parses what the client sends and answers as `script` says; records every packet. */
async function scriptedServer(script: Script): Promise<{ port: number; ca: string; seen: Packet[]; sockets: Set<tls.TLSSocket>; close(): Promise<void> }> {
  const material = await testTls();
  const seen: Packet[] = [];
  const sockets = new Set<tls.TLSSocket>();
  const server = tls.createServer({ cert: material.cert, key: material.key }, (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => undefined);
    const parser = mqttPacket.parser({ protocolVersion: 4 });
    parser.on('packet', (p: Packet) => {
      seen.push(p);
      script(p, (out) => s.write(mqttPacket.generate(out)), s);
    });
    s.on('data', (chunk: Buffer) => parser.parse(chunk));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as AddressInfo).port,
    ca: material.ca ?? material.cert,
    seen,
    sockets,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function options(port: number, ca: string, extra: Partial<MqttConnectOptions> = {}): MqttConnectOptions {
  return {
    webSocket: false,
    host: '127.0.0.1',
    port,
    servername: '',
    ca,
    clientId: 'dev1',
    username: 'hub/dev1/?api-version=2021-04-12',
    password: 'SharedAccessSignature sr=x&sig=y&se=1',
    keepaliveS: 60,
    connectTimeoutMs: 5000,
    ...extra,
  };
}

const accept: Script = (p, reply) => {
  if (p.cmd === 'connect') reply({ cmd: 'connack', returnCode: 0, sessionPresent: false });
  if (p.cmd === 'subscribe') reply({ cmd: 'suback', messageId: p.messageId!, granted: p.subscriptions.map((s) => s.qos) });
  if (p.cmd === 'pingreq') reply({ cmd: 'pingresp' });
};

describe('MQTT device connection (mqtt-packet on the socket)', function () {
  this.timeout(15_000);

  it('sends the CONNECT the SDKs send (MQTT 3.1.1, clean=false, keep-alive, user name, password), then SUBSCRIBE, and PUBACKs only when asked', async () => {
    const srv = await scriptedServer((p, reply, socket) => {
      accept(p, reply, socket);
      if (p.cmd === 'subscribe')
        reply({ cmd: 'publish', topic: 'devices/dev1/messages/devicebound/', payload: Buffer.from('hi'), qos: 1, messageId: 7, retain: false, dup: false });
    });
    try {
      const c = await MqttConnection.open(options(srv.port, srv.ca, { keepaliveS: 42 }));
      const connect = srv.seen[0]!;
      assert.equal(connect.cmd, 'connect');
      if (connect.cmd !== 'connect') return;
      assert.equal(connect.protocolId, 'MQTT');
      assert.equal(connect.protocolVersion, 4);
      assert.equal(connect.clean, false);
      assert.equal(connect.keepalive, 42);
      assert.equal(connect.clientId, 'dev1');
      assert.equal(connect.username, 'hub/dev1/?api-version=2021-04-12');
      assert.equal(String(connect.password), 'SharedAccessSignature sr=x&sig=y&se=1');
      const published = once(c, 'publish');
      assert.deepEqual(await c.subscribe('devices/dev1/messages/devicebound/#', 1), [1]);
      const [p] = (await published) as [mqttPacket.IPublishPacket];
      assert.equal(String(p.payload), 'hi');
      assert.equal(srv.seen.filter((x) => x.cmd === 'puback').length, 0, 'no PUBACK before puback()');
      const acked = new Promise<void>((resolve) => srv.sockets.forEach((s) => s.once('data', () => resolve())));
      await c.puback(7);
      await acked;
      assert.deepEqual(
        srv.seen.filter((x) => x.cmd === 'puback').map((x) => x.messageId),
        [7],
      );
      await c.end();
      assert.equal(srv.seen.at(-1)?.cmd, 'disconnect');
    } finally {
      await srv.close();
    }
  });

  it('a refusing CONNACK fails open() with its return code (5: not authorized)', async () => {
    const srv = await scriptedServer((p, reply) => {
      if (p.cmd === 'connect') reply({ cmd: 'connack', returnCode: 5, sessionPresent: false });
    });
    try {
      await assert.rejects(MqttConnection.open(options(srv.port, srv.ca)), (e: unknown) => e instanceof ConnackError && e.code === 5);
    } finally {
      await srv.close();
    }
  });

  it('no CONNACK within connectTimeoutMs fails open() with ETIMEDOUT and closes the socket', async () => {
    const srv = await scriptedServer(() => undefined);
    try {
      await assert.rejects(
        MqttConnection.open(options(srv.port, srv.ca, { connectTimeoutMs: 300 })),
        (e: unknown) => (e as { code?: string }).code === 'ETIMEDOUT',
      );
      while (srv.sockets.size > 0) await once([...srv.sockets][0]!, 'close');
    } finally {
      await srv.close();
    }
  });

  it('the server closing before CONNACK fails open() with ECONNRESET', async () => {
    const srv = await scriptedServer((p, _reply, socket) => {
      if (p.cmd === 'connect') socket.destroy();
    });
    try {
      await assert.rejects(MqttConnection.open(options(srv.port, srv.ca)), (e: unknown) => (e as { code?: string }).code === 'ECONNRESET');
    } finally {
      await srv.close();
    }
  });

  it('keep-alive: a PINGREQ every period while PINGRESPs come back; a PINGRESP still missing at the next period ends the connection as lost', async () => {
    let answer = true;
    let pings = 0;
    let onPing: (() => void) | undefined;
    const srv = await scriptedServer((p, reply) => {
      if (p.cmd === 'connect') reply({ cmd: 'connack', returnCode: 0, sessionPresent: false });
      if (p.cmd === 'pingreq') {
        pings++;
        onPing?.();
        if (answer) reply({ cmd: 'pingresp' });
      }
    });
    try {
      // The shortest keep-alive MQTT can say is 1 s: two answered periods, then silence.
      const c = await MqttConnection.open(options(srv.port, srv.ca, { keepaliveS: 1 }));
      while (pings < 2) await new Promise<void>((resolve) => (onPing = resolve));
      answer = false;
      const [error] = (await once(c, 'close')) as [Error & { code?: string }];
      assert.equal(error.code, 'ETIMEDOUT');
      assert.match(error.message, /keep-alive/);
    } finally {
      await srv.close();
    }
  });

  it('a packet the parser cannot read ends the connection with that error; a SUBSCRIBE waiting for its SUBACK fails too', async () => {
    const srv = await scriptedServer((p, reply, socket) => {
      if (p.cmd === 'connect') reply({ cmd: 'connack', returnCode: 0, sessionPresent: false });
      if (p.cmd === 'subscribe') socket.write(Buffer.from([0x00, 0x00])); // packet type 0 is reserved
    });
    try {
      const c = await MqttConnection.open(options(srv.port, srv.ca));
      const closed = once(c, 'close');
      await assert.rejects(c.subscribe('devices/dev1/messages/devicebound/#', 1));
      const [error] = (await closed) as [Error];
      assert.ok(error instanceof Error);
      await assert.rejects(c.puback(1), (e: unknown) => (e as { code?: string }).code === 'ECONNRESET');
    } finally {
      await srv.close();
    }
  });

  it('end() after a clean close reports no loss', async () => {
    const srv = await scriptedServer(accept);
    try {
      const c = await MqttConnection.open(options(srv.port, srv.ca));
      const closed = once(c, 'close');
      await c.end();
      const [error] = (await closed) as [Error | undefined];
      assert.equal(error, undefined);
    } finally {
      await srv.close();
    }
  });

  it('a PUBLISH in the same read as the CONNACK (a resumed clean=false session) reaches the listener added after open()', async () => {
    const srv = await scriptedServer((p, _reply, socket) => {
      if (p.cmd !== 'connect') return;
      socket.write(
        Buffer.concat([
          mqttPacket.generate({ cmd: 'connack', returnCode: 0, sessionPresent: true }),
          mqttPacket.generate({
            cmd: 'publish',
            topic: 'devices/dev1/messages/devicebound/',
            payload: Buffer.from('resumed'),
            qos: 1,
            messageId: 3,
            retain: false,
            dup: false,
          }),
        ]),
      );
    });
    try {
      const c = await MqttConnection.open(options(srv.port, srv.ca));
      const [p] = await once(c, 'publish');
      assert.equal((p as { payload: Buffer }).payload.toString(), 'resumed');
      await c.end();
    } finally {
      await srv.close();
    }
  });

  it('DeviceClient: a message right behind the SUBACK, in the same read, can be completed (MQTT-3.8.4 lets a hub send that early)', async () => {
    const srv = await scriptedServer((p, reply, socket) => {
      if (p.cmd === 'connect') reply({ cmd: 'connack', returnCode: 0, sessionPresent: false });
      if (p.cmd === 'subscribe') {
        socket.write(
          Buffer.concat([
            mqttPacket.generate({ cmd: 'suback', messageId: p.messageId!, granted: [1] }),
            mqttPacket.generate({
              cmd: 'publish',
              topic: 'devices/dev1/messages/devicebound/%24.mid=m1',
              payload: Buffer.from('early'),
              qos: 1,
              messageId: 9,
              retain: false,
              dup: false,
            }),
          ]),
        );
      }
    });
    const c = DeviceClient.fromConnectionString(
      formatConnectionString({ HostName: `127.0.0.1:${srv.port}`, DeviceId: 'dev1', SharedAccessKey: generateKey() }),
      { transport: 'mqtt', ca: srv.ca },
    );
    try {
      // Completed at once, from the message handler, as an app (or c2d-receive in auto mode) does.
      const completed = new Promise<ReceivedMessage>((resolve, reject) =>
        c.on('message', (m: ReceivedMessage) => c.complete(m).then(() => resolve(m), reject)),
      );
      await c.open();
      const m = await completed;
      assert.equal(m.messageId, 'm1');
      while (!srv.seen.some((x) => x.cmd === 'puback')) await once([...srv.sockets][0]!, 'data');
      assert.deepEqual(
        srv.seen.filter((x) => x.cmd === 'puback').map((x) => x.messageId),
        [9],
      );
    } finally {
      await c.close();
      await srv.close();
    }
  });
});

import { strict as assert } from 'node:assert';
import * as https from 'node:https';
import * as net from 'node:net';
import * as tls from 'node:tls';
import { once } from 'node:events';
import WebSocket from 'ws';
import { ensureTlsMaterial, type TlsMaterial } from '../../lib/hub/tls';
import { startListeners, type ListenerHandlers, type Listeners } from '../../lib/hub/listeners';

/** Proves a port is free by binding and releasing it. */
async function bindAndRelease(port: number): Promise<void> {
  const s = net.createServer().listen(port, '127.0.0.1');
  await once(s, 'listening');
  s.close();
  await once(s, 'close');
}

function get(port: number, ca: string, path = '/', headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = https.get({ host: 'localhost', port, path, ca, headers, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

describe('listeners: AMQPS, MQTTS and HTTPS with the WebSocket upgrade', () => {
  let material: TlsMaterial;
  let listeners: Listeners | undefined;
  const seen: string[] = [];
  const handlers: ListenerHandlers = {
    amqp: (s) => {
      seen.push('amqp');
      s.end('amqp!');
    },
    mqtt: (s) => {
      seen.push('mqtt');
      s.end('mqtt!');
    },
    http: (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('http!');
    },
    webSocket: {
      mqtt: (ws) => {
        seen.push('ws-mqtt');
        ws.send('hello mqtt');
      },
    },
  };

  before(async () => {
    material = await ensureTlsMaterial(undefined);
  });
  afterEach(async () => {
    await listeners?.close();
    listeners = undefined;
    seen.length = 0;
  });

  it('port 0 binds real ports on loopback and each port reaches its handler over TLS', async () => {
    listeners = await startListeners({ ports: { amqps: 0, mqtts: 0, https: 0 }, tls: material, handlers });
    const { amqps, mqtts, https: httpsPort } = listeners.ports;
    for (const p of [amqps, mqtts, httpsPort]) assert.ok(typeof p === 'number' && p > 0);
    assert.ok(listeners.addresses.some((a) => a.address === '127.0.0.1' && a.port === amqps));
    for (const a of listeners.addresses) assert.ok(['127.0.0.1', '::1'].includes(a.address), a.address);
    for (const [port, expect] of [
      [amqps, 'amqp!'],
      [mqtts, 'mqtt!'],
    ] as const) {
      const s = tls.connect({ host: 'localhost', port, ca: material.cert, servername: 'localhost' });
      let got = '';
      s.setEncoding('utf8').on('data', (c: string) => (got += c));
      await once(s, 'end');
      s.destroy();
      assert.equal(got, expect);
    }
    assert.deepEqual((await get(httpsPort ?? 0, material.cert)).body, 'http!');
    assert.deepEqual(seen, ['amqp', 'mqtt']);
  });

  it('false leaves a protocol off', async () => {
    listeners = await startListeners({ ports: { amqps: false, mqtts: false, https: 0 }, tls: material, handlers: { http: handlers.http } });
    assert.equal(listeners.ports.amqps, undefined);
    assert.equal(listeners.ports.mqtts, undefined);
    assert.ok(listeners.addresses.every((a) => a.protocol === 'https'));
  });

  it('a taken port rejects naming the port, after releasing what was already bound', async () => {
    const [amqps, mqtts] = [await freePort(), await freePort()];
    const blocker = net.createServer().listen(0, '127.0.0.1');
    await once(blocker, 'listening');
    const taken = (blocker.address() as net.AddressInfo).port;
    try {
      await assert.rejects(
        startListeners({ ports: { amqps, mqtts, https: taken }, tls: material, handlers }),
        (e: Error & { code?: string; port?: number }) => e.code === 'EADDRINUSE' && e.port === taken && e.message.includes(String(taken)),
      );
      // amqps and mqtts had been bound before https failed: they are free again
      await bindAndRelease(amqps);
      await bindAndRelease(mqtts);
    } finally {
      blocker.close();
      await once(blocker, 'close');
    }
  });

  it('close releases every connection, even keep-alive, WebSocket and raw TLS ones, and the ports bind again at once', async () => {
    listeners = await startListeners({ ports: { amqps: false, mqtts: 0, https: 0 }, tls: material, handlers: { ...handlers, mqtt: () => seen.push('held') } });
    const { https: httpsPort = 0, mqtts = 0 } = listeners.ports;
    const agent = new https.Agent({ keepAlive: true });
    await new Promise<void>((resolve, reject) => {
      https.get({ host: 'localhost', port: httpsPort, ca: material.cert, agent }, (res) => res.resume().on('end', resolve)).on('error', reject);
    });
    const ws = new WebSocket(`wss://localhost:${httpsPort}/$iothub/websocket`, 'mqtt', { ca: material.cert });
    await once(ws, 'message');
    const held = tls.connect({ host: 'localhost', port: mqtts, ca: material.cert, servername: 'localhost' });
    held.on('error', () => undefined);
    await once(held, 'secureConnect');
    const closed = [once(ws, 'close'), once(held, 'close')];
    await listeners.close();
    listeners = undefined;
    await Promise.all(closed); // the server ended them, not the client
    agent.destroy();
    await bindAndRelease(httpsPort);
    await bindAndRelease(mqtts);
  });

  it('a WebSocket upgrade with subprotocol mqtt reaches the mqtt handler and the subprotocol is echoed', async () => {
    listeners = await startListeners({ ports: { amqps: false, mqtts: false, https: 0 }, tls: material, handlers });
    const ws = new WebSocket(`wss://localhost:${listeners.ports.https}/$iothub/websocket`, ['mqtt'], { ca: material.cert });
    const [data] = (await once(ws, 'message')) as [Buffer];
    assert.equal(ws.protocol, 'mqtt');
    assert.equal(data.toString(), 'hello mqtt');
    assert.deepEqual(seen, ['ws-mqtt']);
    ws.close();
    await once(ws, 'close');
  });

  it('refuses an unknown or unhandled subprotocol with 400, and another path with 404', async () => {
    listeners = await startListeners({ ports: { amqps: false, mqtts: false, https: 0 }, tls: material, handlers });
    const port = listeners.ports.https;
    for (const [path, protocol, status] of [
      ['/$iothub/websocket', 'AMQPWSB10', 400], // no AMQP-WS handler given
      ['/$iothub/websocket', 'chat', 400],
      ['/other', 'mqtt', 404],
    ] as const) {
      const ws = new WebSocket(`wss://localhost:${port}${path}`, protocol, { ca: material.cert });
      ws.on('error', () => undefined);
      const [req, res] = (await once(ws, 'unexpected-response')) as [{ destroy(): void }, { statusCode: number; resume(): void }];
      assert.equal(res.statusCode, status, `${path} ${protocol}`);
      res.resume();
      req.destroy();
    }
    // and the server still serves
    assert.equal((await get(port ?? 0, material.cert)).status, 200);
  });

  it('bounds the request header block (431) and keeps serving', async () => {
    listeners = await startListeners({ ports: { amqps: false, mqtts: false, https: 0 }, tls: material, handlers });
    const port = listeners.ports.https ?? 0;
    const big = await get(port, material.cert, '/', { 'x-big': 'a'.repeat(20 * 1024) });
    assert.equal(big.status, 431);
    assert.equal((await get(port, material.cert)).status, 200);
  });

  it('an explicit host binds only that address', async () => {
    const port = await freePort();
    listeners = await startListeners({ ports: { amqps: false, mqtts: false, https: port }, host: '127.0.0.1', tls: material, handlers });
    assert.deepEqual(
      listeners.addresses.map((a) => a.address),
      ['127.0.0.1'],
    );
    assert.equal(listeners.ports.https, port);
  });
});

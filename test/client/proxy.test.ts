/**
 * The WebSocket transports through a real HTTP CONNECT proxy (the `proxy`
 * package, started here on loopback): AMQP-WS and MQTT-WS devices and an
 * AMQP-WS service reach the hub through it, with basic auth when the proxy
 * asks for it; HTTPS_PROXY is used when no proxy is set, NO_PROXY and
 * `proxy: false` go direct.
 */
import assert from 'node:assert/strict';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { formatConnectionString } from '../../lib/common/connection-string';
import { NoRetry } from '../../lib/common/retry';
import { DeviceClient } from '../../lib/client/device-client';
import { ServiceClient } from '../../lib/client/service-client';
import type { DeviceTransport } from '../../lib/client/types';
import { EmbeddedHub } from '../../lib/hub/embedded';

interface TestProxy {
  url: string;
  port: number;
  /** CONNECT requests that reached the proxy, as host:port, with whether they were let through. */
  connects: Array<{ target: string; allowed: boolean }>;
  close(): Promise<void>;
}

/** A CONNECT proxy on loopback; with `auth`, it asks for Basic credentials (407 otherwise). */
async function startProxy(auth?: { user: string; password: string }): Promise<TestProxy> {
  const { createProxy } = await import('proxy');
  const server = createProxy(http.createServer());
  const connects: TestProxy['connects'] = [];
  const expected = auth ? `Basic ${Buffer.from(`${auth.user}:${auth.password}`).toString('base64')}` : undefined;
  server.authenticate = (req) => {
    const allowed = !expected || req.headers['proxy-authorization'] === expected;
    connects.push({ target: req.url ?? '', allowed });
    return allowed;
  };
  // CONNECT tunnels leave the server's own connection tracking: close() destroys them itself.
  const tunnels = new Set<import('node:stream').Duplex>();
  server.on('connect', (_req: http.IncomingMessage, socket: import('node:stream').Duplex) => {
    tunnels.add(socket);
    socket.once('close', () => tunnels.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    connects,
    close: () =>
      new Promise((resolve) => {
        for (const t of tunnels) t.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

describe('WebSocket transports through an HTTP(S) proxy', function () {
  this.timeout(20_000);
  let hub: EmbeddedHub;
  let key: string;
  const saved = { HTTPS_PROXY: process.env.HTTPS_PROXY, https_proxy: process.env.https_proxy, NO_PROXY: process.env.NO_PROXY, no_proxy: process.env.no_proxy };
  before(async () => {
    hub = await EmbeddedHub.start({ ports: { amqps: false, mqtts: false, https: 0 }, host: '127.0.0.1', limits: { feedbackBatchWindowMs: 0 } });
    key = (await hub.hub.registry.createDevice({ deviceId: 'd1' })).authentication.symmetricKey.primaryKey!;
  });
  after(() => hub.close());
  afterEach(() => {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  });

  const device = (transport: DeviceTransport, proxy?: string | false): DeviceClient =>
    DeviceClient.fromConnectionString(formatConnectionString({ HostName: `localhost:${hub.ports.https}`, DeviceId: 'd1', SharedAccessKey: key }), {
      transport,
      ca: hub.tls.cert,
      retryPolicy: new NoRetry(),
      connectTimeoutMs: 5000,
      ...(proxy !== undefined ? { proxy } : {}),
    });

  /** Opens, takes one message sent in-process, completes it, closes. */
  async function roundTrip(d: DeviceClient): Promise<void> {
    await d.open();
    try {
      const got = new Promise<string>((resolve) =>
        d.on('message', (m: { body: Buffer; lockToken: string }) => void d.complete(m as never).then(() => resolve(m.body.toString()))),
      );
      await hub.hub.send('d1', { body: Buffer.from('via proxy') });
      assert.equal(await got, 'via proxy');
    } finally {
      await d.close();
    }
  }

  for (const transport of ['amqp-ws', 'mqtt-ws'] as DeviceTransport[]) {
    it(`${transport}: a device connects through a proxy that asks for basic auth, and is refused with the wrong password`, async () => {
      const proxy = await startProxy({ user: 'alice', password: 's3cret:!' });
      try {
        await roundTrip(device(transport, `http://alice:${encodeURIComponent('s3cret:!')}@127.0.0.1:${proxy.port}`));
        assert.deepEqual(proxy.connects, [{ target: `localhost:${hub.ports.https}`, allowed: true }], 'one CONNECT to the hub, authorized');

        const refused = device(transport, `http://alice:wrong@127.0.0.1:${proxy.port}`);
        await assert.rejects(refused.open());
        await refused.close();
        assert.equal(proxy.connects.at(-1)?.allowed, false);
      } finally {
        await proxy.close();
      }
    });

    it(`${transport}: HTTPS_PROXY is used when no proxy is set; NO_PROXY and proxy: false go direct`, async () => {
      const proxy = await startProxy();
      try {
        process.env.HTTPS_PROXY = proxy.url;
        delete process.env.https_proxy;
        await roundTrip(device(transport));
        assert.equal(proxy.connects.length, 1, 'through the proxy from the environment');

        await roundTrip(device(transport, false));
        process.env.NO_PROXY = 'example.org, localhost';
        await roundTrip(device(transport));
        assert.equal(proxy.connects.length, 1, 'proxy: false and NO_PROXY went direct');
      } finally {
        await proxy.close();
      }
    });
  }

  it('amqp-ws: a service sends through the proxy; a proxy setting that is not a URL is refused without echoing it', async () => {
    const proxy = await startProxy({ user: 'bob', password: 'pw' });
    const owner = hub.hub.registry.getPolicy('iothubowner')!;
    const cs = formatConnectionString({ HostName: `localhost:${hub.ports.https}`, SharedAccessKeyName: 'iothubowner', SharedAccessKey: owner.primaryKey });
    const service = ServiceClient.fromConnectionString(cs, {
      transport: 'amqp-ws',
      ca: hub.tls.cert,
      retryPolicy: new NoRetry(),
      proxy: `http://bob:pw@127.0.0.1:${proxy.port}`,
    });
    try {
      await service.open();
      await service.send('d1', Buffer.from('from a service behind a proxy'));
      assert.equal(proxy.connects.filter((c) => c.allowed).length, 1);
      const r = await hub.hub.receive('d1');
      assert.equal(r?.body.toString(), 'from a service behind a proxy');
      await hub.hub.complete('d1', r!.lockToken);
    } finally {
      await service.close();
      await proxy.close();
    }
    const bad = ServiceClient.fromConnectionString(cs, {
      transport: 'amqp-ws',
      ca: hub.tls.cert,
      retryPolicy: new NoRetry(),
      proxy: 'not a url with a p4ssword',
    });
    await assert.rejects(bad.open(), (e: Error & { code?: number }) => e.code === 400004 && !e.message.includes('p4ssword'));
    await bad.close();
  });
});

/**
 * Limits a user can set, checked over the wire on a real EmbeddedHub:
 * max connections (at the sockets, across every port), max message size
 * (413001), per-device queue depth (403004) and the hub's send rate (429001),
 * each with IoT Hub's value as the default.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import * as tls from 'node:tls';
import { DEFAULT_LIMITS } from '../../lib/common/limits';
import { formatConnectionString } from '../../lib/common/connection-string';
import { ServiceClient } from '../../lib/client/service-client';
import { NoRetry } from '../../lib/common/retry';
import { WireRig } from '../security/wire';

/** Opens a TLS connection; resolves 'open' after the handshake, or 'refused' when the hub closes it first. */
function tlsTry(port: number, ca: string, sockets: tls.TLSSocket[]): Promise<'open' | 'refused'> {
  return new Promise((resolve) => {
    const s = tls.connect({ host: '127.0.0.1', port, ca, servername: 'localhost' }, () => resolve('open'));
    sockets.push(s);
    s.on('error', () => resolve('refused'));
    s.on('close', () => resolve('refused'));
  });
}

function service(rig: WireRig): ServiceClient {
  const key = rig.hub.hub.registry.getPolicy('iothubowner')?.primaryKey as string;
  const cs = formatConnectionString({ HostName: `localhost:${rig.ports.amqps}`, SharedAccessKeyName: 'iothubowner', SharedAccessKey: key });
  return ServiceClient.fromConnectionString(cs, { ca: rig.ca, retryPolicy: new NoRetry(), ports: { https: rig.ports.https } });
}

async function codeOf(p: Promise<unknown>): Promise<number | string> {
  try {
    await p;
    return 'sent';
  } catch (e) {
    return (e as { code?: number }).code ?? (e as Error).message;
  }
}

describe('limits: connections, message size, queue depth and send rate', function () {
  this.timeout(30_000);

  it("defaults are IoT Hub's: 50 per device queue, 64 KB messages, no connection or rate cap", () => {
    assert.equal(DEFAULT_LIMITS.maxQueueDepth, 50);
    assert.equal(DEFAULT_LIMITS.maxMessageBytes, 64 * 1024);
    assert.equal(DEFAULT_LIMITS.maxConnections, 0);
    assert.equal(DEFAULT_LIMITS.maxSendsPerSecond, 0);
  });

  it('maxConnections: the connection over the cap is closed before TLS, on any port; a freed slot serves again', async () => {
    const rig = await WireRig.start({ maxConnections: 3 });
    const sockets: tls.TLSSocket[] = [];
    try {
      const { amqps, mqtts, https } = rig.ports;
      assert.deepEqual(await Promise.all([tlsTry(amqps, rig.ca, sockets), tlsTry(mqtts, rig.ca, sockets), tlsTry(https, rig.ca, sockets)]), [
        'open',
        'open',
        'open',
      ]);
      assert.equal(rig.hub.openConnections(), 3);
      assert.equal(await tlsTry(mqtts, rig.ca, sockets), 'refused');
      assert.equal(await tlsTry(https, rig.ca, sockets), 'refused');
      assert.ok(rig.diagnostics.some((d) => /connection refused: 3 open, limit 3/.test(d)));
      // Free one slot: a real device gets through.
      const first = sockets[0] as tls.TLSSocket;
      first.destroy();
      await once(first, 'close');
      await rig.addDevice('d1');
      const c = await rig.mqtt('d1', rig.deviceToken('d1'));
      assert.ok(!('refused' in c), 'a device connects once a slot is free');
      c.end(true);
    } finally {
      for (const s of sockets) s.destroy();
      await rig.close();
    }
  });

  it('maxMessageBytes (413001), maxQueueDepth (403004) and maxSendsPerSecond (429001) over AMQP', async () => {
    const rig = await WireRig.start({ maxMessageBytes: 1024, maxQueueDepth: 3 });
    const svc = service(rig);
    try {
      await rig.addDevice('d1');
      await svc.open();
      assert.equal(await codeOf(svc.send('d1', Buffer.alloc(1025))), 413001);
      assert.equal(await codeOf(svc.send('d1', Buffer.alloc(900))), 'sent');
      assert.equal(await codeOf(svc.send('d1', Buffer.alloc(10))), 'sent');
      assert.equal(await codeOf(svc.send('d1', Buffer.alloc(10))), 'sent');
      assert.equal(await codeOf(svc.send('d1', Buffer.alloc(10))), 403004);
    } finally {
      await svc.close();
      await rig.close();
    }
    // The rate cap (token bucket on the hub's clock): 5 per second, the 6th at once is 429001.
    const rated = await WireRig.start({ maxSendsPerSecond: 5 });
    const svc2 = service(rated);
    try {
      await rated.addDevice('d1');
      await svc2.open();
      const codes = await Promise.all(Array.from({ length: 8 }, () => codeOf(svc2.send('d1', Buffer.from('x')))));
      assert.ok(codes.filter((c) => c === 'sent').length >= 5, `at least the bucket's 5 go through: ${codes.join(',')}`);
      assert.ok(codes.includes(429001), `then 429001: ${codes.join(',')}`);
    } finally {
      await svc2.close();
      await rated.close();
    }
  });

  it('defaults: the 51st pending message is 403004, 64 KB + 1 is 413001', async () => {
    const rig = await WireRig.start();
    const svc = service(rig);
    try {
      await rig.addDevice('d1');
      await svc.open();
      assert.equal(await codeOf(svc.send('d1', Buffer.alloc(64 * 1024 + 1))), 413001);
      for (let i = 0; i < 50; i++) assert.equal(await codeOf(svc.send('d1', Buffer.from(String(i)))), 'sent');
      assert.equal(await codeOf(svc.send('d1', Buffer.from('51st'))), 403004);
    } finally {
      await svc.close();
      await rig.close();
    }
  });
});

/**
 * Access decisions: every server reports to the one `onAccess` observer of
 * an EmbeddedHub (listeners, AMQP, AMQP-WS, MQTT, MQTT-WS, HTTPS), and the
 * reason label of a refused credential is sorted from the hub's own errors
 * (each pattern pinned here with the error the hub really throws).
 */
import assert from 'node:assert/strict';
import * as net from 'node:net';
import * as tls from 'node:tls';
import { once } from 'node:events';
import { formatConnectionString } from '../../lib/common/connection-string';
import { NoRetry } from '../../lib/common/retry';
import { createSas, generateKey } from '../../lib/common/sas';
import { DeviceClient } from '../../lib/client/device-client';
import type { DeviceTransport } from '../../lib/client/types';
import { Hub } from '../../lib/hub';
import { authFailureReason, refusal, type AccessEvent } from '../../lib/hub/access';
import { EmbeddedHub } from '../../lib/hub/embedded';

const se = (inS: number): number => Math.floor(Date.now() / 1000) + inS;

describe('access decisions', function () {
  this.timeout(30_000);

  describe('the reason of a refused credential, from the error the hub throws', () => {
    let hub: Hub;
    let key: string;
    before(async () => {
      hub = await Hub.open();
      key = (await hub.registry.createDevice({ deviceId: 'd1' })).authentication.symmetricKey.primaryKey!;
      await hub.registry.createDevice({ deviceId: 'off', status: 'disabled' });
      await hub.registry.createDevice({ deviceId: 'cam', authentication: { type: 'selfSigned', x509Thumbprint: { primaryThumbprint: 'AB'.repeat(20) } } });
    });
    after(() => hub.close());

    const reasonOf = (f: () => unknown): string => {
      try {
        f();
      } catch (e) {
        const ev = refusal('amqp', e);
        assert.equal(ev.type, 'auth-refused');
        return ev.type === 'auth-refused' ? ev.reason : '';
      }
      throw new Error('no error');
    };

    it('sorts each refusal of the authenticator into its reason', () => {
      const offKey = hub.registry.getDevice('off')!.authentication.symmetricKey.primaryKey!;
      const owner = hub.registry.getPolicy('iothubowner')!;
      const service = hub.registry.getPolicy('service')!;
      const cases: Array<[string, () => unknown]> = [
        ['expired_token', () => hub.auth.authenticateSas(createSas('localhost/devices/d1', key, se(-3600)))],
        ['bad_signature', () => hub.auth.authenticateSas(createSas('localhost/devices/d1', generateKey(), se(3600)))],
        ['bad_signature', () => hub.auth.authenticateSas(createSas('localhost', generateKey(), se(3600), 'iothubowner'))],
        ['bad_signature', () => hub.auth.authenticateX509('cam', { sha1Thumbprint: 'CD'.repeat(20), sha256Thumbprint: 'EF'.repeat(32) })],
        ['unknown_identity', () => hub.auth.authenticateSas(createSas('localhost/devices/ghost', key, se(3600)))],
        ['device_disabled', () => hub.auth.authenticateSas(createSas('localhost/devices/off', offKey, se(3600)))],
        ['wrong_resource', () => hub.auth.authenticateSas(createSas('localhost/devices/d1', key, se(3600)), 'localhost/devices/d2')],
        ['wrong_resource', () => hub.auth.authenticateSas(createSas('localhost/other', key, se(3600)))],
        [
          'not_permitted',
          () => hub.auth.assertRight(hub.auth.authenticateSas(createSas('localhost', service.primaryKey, se(3600), 'service')), 'RegistryWrite'),
        ],
        ['not_permitted', () => hub.auth.assertDevice(hub.auth.authenticateSas(createSas('localhost/devices/d1', key, se(3600))), 'cam')],
        ['not_permitted', () => hub.auth.assertRight(hub.auth.authenticateSas(createSas('localhost/devices/d1', key, se(3600))), 'ServiceConnect')],
        ['malformed', () => hub.auth.authenticateSas('SharedAccessSignature sr=a&sig=b')],
        ['malformed', () => hub.auth.authenticateSas('Bearer x')],
      ];
      for (const [reason, f] of cases) assert.equal(reasonOf(f), reason, String(f));
      assert.ok(owner, 'the default policies are there');
      assert.equal(authFailureReason('Nothing was authorized within 30000 ms of connecting.'), 'timeout');
      assert.equal(authFailureReason('Neither a SAS token (password) nor a client certificate was given.'), 'missing_credential');
      assert.equal(authFailureReason("Module identities ('d/m') are not supported by this hub."), 'unsupported');
      assert.equal(authFailureReason('This hub does not accept bearer tokens.'), 'unsupported');
      assert.equal(authFailureReason('something new'), 'unauthorized');
    });
  });

  describe('every server reports to the one observer', () => {
    let hub: EmbeddedHub;
    const events: AccessEvent[] = [];
    let key: string;
    before(async () => {
      hub = await EmbeddedHub.start({ ports: { amqps: 0, mqtts: 0, https: 0 }, host: '127.0.0.1', onAccess: (e) => events.push(e) });
      key = (await hub.hub.registry.createDevice({ deviceId: 'd1' })).authentication.symmetricKey.primaryKey!;
    });
    after(() => hub.close());
    beforeEach(() => events.splice(0));

    const device = (transport: DeviceTransport, k: string): DeviceClient => {
      const port = transport.startsWith('amqp') && transport !== 'amqp-ws' ? hub.ports.amqps : transport === 'mqtt' ? hub.ports.mqtts : hub.ports.https;
      return DeviceClient.fromConnectionString(formatConnectionString({ HostName: `localhost:${port}`, DeviceId: 'd1', SharedAccessKey: k }), {
        transport,
        ca: hub.tls.cert,
        retryPolicy: new NoRetry(),
        httpPollIntervalMs: 20,
      });
    };

    for (const transport of ['amqp', 'amqp-ws', 'mqtt', 'mqtt-ws', 'http'] as DeviceTransport[]) {
      it(`${transport}: one accepted event for a good key, one refused event with its reason for a wrong one, and no key in either`, async () => {
        const good = device(transport, key);
        await good.open();
        if (transport === 'http') {
          // A polling device asks many times on one keep-alive connection: accepted once.
          for (let i = 0; i < 3; i++) await good.receive({ timeoutMs: 10 });
        }
        await good.close();
        const wrong = generateKey();
        const bad = device(transport, wrong);
        // HTTP has no connection to refuse: its first request is.
        await assert.rejects(
          transport === 'http' ? bad.open().then(() => bad.receive({ timeoutMs: 10 })) : bad.open(),
          (e: { code?: number }) => e.code === 401003,
        );
        await bad.close();
        const mine = events.filter((e) => e.type !== 'connection-refused');
        assert.deepEqual(
          mine.map((e) => [e.type, e.transport]),
          [
            ['auth-accepted', transport],
            ['auth-refused', transport],
          ],
          JSON.stringify(mine),
        );
        const [accepted, refused] = mine as [Extract<AccessEvent, { type: 'auth-accepted' }>, Extract<AccessEvent, { type: 'auth-refused' }>];
        assert.equal(accepted.identity, 'd1');
        assert.equal(accepted.kind, 'device');
        assert.equal(accepted.method, 'sas');
        assert.equal(refused.reason, 'bad_signature');
        assert.equal(refused.code, 401003);
        const text = JSON.stringify(events);
        assert.ok(!text.includes(key) && !text.includes(wrong) && !text.includes('sig='), 'no key, token or signature');
      });
    }

    it('the listeners report a refused TLS handshake, but not a client that hangs up', async () => {
      const s = net.connect(hub.ports.amqps!, '127.0.0.1');
      await once(s, 'connect');
      s.end('GET / HTTP/1.0\r\n\r\n');
      await once(s, 'close');
      const quiet = tls.connect({ port: hub.ports.mqtts!, host: '127.0.0.1', ca: hub.tls.cert, servername: 'localhost' });
      await once(quiet, 'secureConnect');
      quiet.destroy();
      const deadline = Date.now() + 5000;
      while (!events.some((e) => e.type === 'connection-refused') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      assert.deepEqual(
        events.map((e) => e.type === 'connection-refused' && [e.transport, e.reason]),
        [['amqp', 'tls_handshake']],
      );
    });
  });

  it('the listeners report connections over maxConnections as refused by max_connections', async () => {
    const events: AccessEvent[] = [];
    const hub = await EmbeddedHub.start({
      ports: { amqps: 0, mqtts: false, https: false },
      host: '127.0.0.1',
      limits: { maxConnections: 1 },
      onAccess: (e) => events.push(e),
    });
    try {
      const first = net.connect(hub.ports.amqps!, '127.0.0.1');
      await once(first, 'connect');
      const second = net.connect(hub.ports.amqps!, '127.0.0.1');
      second.on('error', () => undefined);
      await once(second, 'close');
      first.destroy();
      assert.deepEqual(
        events.map((e) => e.type === 'connection-refused' && [e.transport, e.reason, e.detail]),
        [['amqp', 'max_connections', '1 open, limit 1']],
      );
    } finally {
      await hub.close();
    }
  });
});

/**
 * Attackers against a real EmbeddedHub over its TLS ports (AMQP, MQTT, HTTPS).
 * Each attempt is made on the wire and must be refused the way IoT Hub
 * refuses it (401003, 404001, 412002, 400004, CONNACK 5, AMQP
 * unauthorized-access...). The test prints a table (attempt, expected
 * refusal, result), then checks that a well-behaved device and backend still
 * get through, and that no key, token or signature reached the hub's
 * diagnostics.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { MqttClient } from 'mqtt';
import { generate } from 'selfsigned';
import { WireRig, httpCode } from './wire';

interface Attempt {
  attempt: string;
  expected: string;
  /** What the result must match. */
  match: RegExp;
  run: () => Promise<string>;
}

const API = 'api-version=2021-04-12';

/** The outcome of an MQTT connect: "connected" or "CONNACK <code>"/"closed". */
function mqttOutcome(r: MqttClient | { refused: number | string }): string {
  if ('refused' in r) return typeof r.refused === 'number' ? `CONNACK ${r.refused}` : String(r.refused);
  r.end(true);
  return 'connected';
}

/** SUBACK granted QoS list of a subscribe. */
function suback(c: MqttClient, topic: string): Promise<string> {
  return new Promise((resolve) => {
    c.subscribe(topic, { qos: 1 }, (err, granted) => {
      // mqtt.js 5 turns a granted 0x80 (failure) into this error.
      if (err) return resolve(/Unspecified error/.test(err.message) ? 'SUBACK 0x80' : `error ${err.message}`);
      resolve(`SUBACK ${(granted ?? []).map((g) => `0x${g.qos.toString(16)}`).join(',')}`);
    });
  });
}

describe('security: attackers are refused as IoT Hub refuses them, and the hub keeps serving', function () {
  this.timeout(60_000);
  let rig: WireRig;
  let keyA: string;
  let keyB: string;
  let certKnown: { cert: string; private: string };
  let certUnknown: { cert: string; private: string };

  before(async () => {
    rig = await WireRig.start();
    keyA = await rig.addDevice('devA');
    keyB = await rig.addDevice('devB');
    await rig.addDevice('devOff');
    await rig.hub.hub.registry.updateDevice({ deviceId: 'devOff', status: 'disabled' });
    const known = await generate([{ name: 'commonName', value: 'devX' }], { keySize: 2048, algorithm: 'sha256' });
    const unknown = await generate([{ name: 'commonName', value: 'devX' }], { keySize: 2048, algorithm: 'sha256' });
    certKnown = known;
    certUnknown = unknown;
    await rig.hub.hub.registry.createDevice({
      deviceId: 'devX',
      authentication: {
        type: 'selfSigned',
        x509Thumbprint: { primaryThumbprint: known.fingerprint.replace(/:/g, '').toUpperCase(), secondaryThumbprint: null },
      },
    });
  });
  after(() => rig.close());

  it('refuses 28 attacks, prints the table, and still serves a good device', async () => {
    const hub = rig.hub.hub;
    const tokA = rig.deviceToken('devA');
    const auth = (t: string): Record<string, string> => ({ authorization: t });
    /** B's live lock token, received over HTTP by B. */
    const lockOfB = async (): Promise<string> => {
      await hub.send('devB', { body: Buffer.from('for B') });
      const r = await rig.request('GET', `/devices/devB/messages/devicebound?${API}`, auth(rig.deviceToken('devB')));
      return String(r.headers.etag).replace(/"/g, '');
    };
    const amqpDevice = async (token: string, audience: string): Promise<string> => {
      const c = await rig.amqp();
      const r = await c.putToken(token, audience);
      return `put-token ${String(r.status)}`;
    };
    const amqpAttach = async (token: string, audience: string, dir: 'receiver' | 'sender', address: string): Promise<string> => {
      const c = await rig.amqp();
      const r = await c.putToken(token, audience);
      if (r.status !== 200) return `put-token ${String(r.status)}`;
      try {
        if (dir === 'receiver') await c.attachReceiver(address);
        else await c.attachSender(address);
        return 'attached';
      } catch (e) {
        return `attach refused ${String((e as { condition?: string }).condition)}: ${(e as Error).message.slice(0, 6)}`;
      }
    };
    const tampered = tokA.replace(/sig=([^&]+)/, (_m, s: string) => `sig=${s.startsWith('A') ? 'B' : 'A'}${s.slice(1)}`);

    const attempts: Attempt[] = [
      {
        attempt: 'MQTT connect with a wrong key',
        expected: 'CONNACK 5',
        match: /^CONNACK 5$/,
        run: async () => mqttOutcome(await rig.mqtt('devA', rig.deviceToken('devA', keyB))),
      },
      {
        attempt: 'MQTT connect with an expired token',
        expected: 'CONNACK 5',
        match: /^CONNACK 5$/,
        run: async () => mqttOutcome(await rig.mqtt('devA', rig.deviceToken('devA', keyA, -3600))),
      },
      { attempt: "MQTT as B with A's token", expected: 'CONNACK 5', match: /^CONNACK 5$/, run: async () => mqttOutcome(await rig.mqtt('devB', tokA)) },
      {
        attempt: "MQTT device A subscribes to B's queue",
        expected: 'SUBACK 0x80',
        match: /^SUBACK 0x80$/,
        run: async () => {
          const c = await rig.mqtt('devA', tokA);
          if ('refused' in c) return 'could not connect';
          const r = await suback(c, 'devices/devB/messages/devicebound/#');
          c.end(true);
          return r;
        },
      },
      {
        attempt: 'MQTT a disabled device connects',
        expected: 'CONNACK 5',
        match: /^CONNACK 5$/,
        run: async () => mqttOutcome(await rig.mqtt('devOff', rig.deviceToken('devOff'))),
      },
      {
        attempt: 'MQTT a token with a tampered signature',
        expected: 'CONNACK 5',
        match: /^CONNACK 5$/,
        run: async () => mqttOutcome(await rig.mqtt('devA', tampered)),
      },
      {
        attempt: "MQTT a token whose sr is widened to 'localhost/devices'",
        expected: 'CONNACK 5',
        match: /^CONNACK 5$/,
        run: async () => mqttOutcome(await rig.mqtt('devA', rig.deviceToken('devA', keyA, 3600, 'localhost/devices'))),
      },
      {
        attempt: 'MQTT an X.509 certificate with an unknown thumbprint',
        expected: 'CONNACK 5',
        match: /^CONNACK 5$/,
        run: async () => mqttOutcome(await rig.mqtt('devX', undefined, { cert: certUnknown.cert, key: certUnknown.private })),
      },
      {
        attempt: 'MQTT without TLS on the mqtts port',
        expected: 'no CONNACK, socket closed',
        match: /^closed without CONNACK$/,
        run: async () => {
          const s = await rig.rawSocket(rig.ports.mqtts);
          const got: Buffer[] = [];
          s.on('data', (b: Buffer) => got.push(b));
          // A valid MQTT 3.1.1 CONNECT (client id "devA", clean session) in plain text.
          s.write(Buffer.from('101000044d5154540402003c000464657641', 'hex'));
          await once(s, 'close');
          return got.some((b) => b[0] === 0x20) ? 'CONNACK sent' : 'closed without CONNACK';
        },
      },
      {
        attempt: 'AMQP put-token with a wrong key',
        expected: 'put-token 401',
        match: /^put-token 401$/,
        run: () => amqpDevice(rig.deviceToken('devA', keyB), 'localhost/devices/devA'),
      },
      {
        attempt: 'AMQP put-token with an expired token',
        expected: 'put-token 401',
        match: /^put-token 401$/,
        run: () => amqpDevice(rig.deviceToken('devA', keyA, -3600), 'localhost/devices/devA'),
      },
      {
        attempt: "AMQP A's token put for B's audience",
        expected: 'put-token 401',
        match: /^put-token 401$/,
        run: () => amqpDevice(tokA, 'localhost/devices/devB'),
      },
      {
        attempt: "AMQP device A attaches to B's queue",
        expected: 'attach refused unauthorized-access (401003)',
        match: /^attach refused amqp:unauthorized-access: 401003$/,
        run: () => amqpAttach(tokA, 'localhost/devices/devA', 'receiver', '/devices/devB/messages/devicebound'),
      },
      {
        attempt: "AMQP device A attaches to '/devices/devA/../devB' (traversal)",
        expected: 'attach refused',
        match: /^attach refused /,
        run: () => amqpAttach(tokA, 'localhost/devices/devA', 'receiver', '/devices/devA/../devB/messages/devicebound'),
      },
      {
        attempt: 'AMQP a device token sends C2D',
        expected: 'put-token 401 or attach refused',
        match: /^(put-token 401|attach refused amqp:unauthorized-access)/,
        run: () => amqpAttach(tokA, 'localhost', 'sender', '/messages/devicebound'),
      },
      {
        attempt: 'AMQP a device token reads feedback',
        expected: 'put-token 401 or attach refused',
        match: /^(put-token 401|attach refused amqp:unauthorized-access)/,
        run: () => amqpAttach(tokA, 'localhost', 'receiver', '/messages/servicebound/feedback'),
      },
      {
        attempt: 'AMQP a registryRead policy sends C2D',
        expected: 'attach refused unauthorized-access (401003)',
        match: /^(put-token 401|attach refused amqp:unauthorized-access: 401003)$/,
        run: () => amqpAttach(rig.policyToken('registryRead'), 'localhost', 'sender', '/messages/devicebound'),
      },
      {
        attempt: 'HTTP receive without Authorization',
        expected: '401003',
        match: /^401003$/,
        run: async () => httpCode(await rig.request('GET', `/devices/devA/messages/devicebound?${API}`)),
      },
      {
        attempt: "HTTP device A settles B's lock token on B's path",
        expected: '401003',
        match: /^401003$/,
        run: async () => httpCode(await rig.request('DELETE', `/devices/devB/messages/devicebound/${await lockOfB()}?${API}`, auth(tokA))),
      },
      {
        attempt: "HTTP device A settles B's lock token on its own path",
        expected: '412002',
        match: /^412002$/,
        run: async () => httpCode(await rig.request('DELETE', `/devices/devA/messages/devicebound/${await lockOfB()}?${API}`, auth(tokA))),
      },
      {
        attempt: 'HTTP a lock token replayed after complete',
        expected: '412002',
        match: /^412002$/,
        run: async () => {
          await hub.send('devA', { body: Buffer.from('once') });
          const got = await rig.request('GET', `/devices/devA/messages/devicebound?${API}`, auth(tokA));
          const lock = String(got.headers.etag).replace(/"/g, '');
          const first = await rig.request('DELETE', `/devices/devA/messages/devicebound/${lock}?${API}`, auth(tokA));
          assert.equal(first.status, 204);
          return httpCode(await rig.request('DELETE', `/devices/devA/messages/devicebound/${lock}?${API}`, auth(tokA)));
        },
      },
      {
        attempt: "HTTP a deleted device's old token",
        expected: '401003',
        match: /^401003$/,
        run: async () => {
          await rig.addDevice('devGone');
          const old = rig.deviceToken('devGone');
          await hub.registry.deleteDevice('devGone');
          await rig.addDevice('devGone'); // same id again, new keys: the old token must not work
          return httpCode(await rig.request('GET', `/devices/devGone/messages/devicebound?${API}`, auth(old)));
        },
      },
      {
        attempt: 'HTTP path traversal in the device id',
        expected: '401003, 404000 or 400004 (never B)',
        match: /^(401003|404000|400004)$/,
        run: async () => httpCode(await rig.request('GET', `/devices/devA%2F..%2FdevB/messages/devicebound?${API}`, auth(tokA))),
      },
      {
        attempt: "HTTP a device token reads B's registry entry",
        expected: '401003',
        match: /^401003$/,
        run: async () => httpCode(await rig.request('GET', `/devices/devB?${API}`, auth(tokA))),
      },
      {
        attempt: 'HTTP registryRead policy deletes a device',
        expected: '401003',
        match: /^401003$/,
        run: async () => httpCode(await rig.request('DELETE', `/devices/devB?${API}`, { ...auth(rig.policyToken('registryRead')), 'if-match': '*' })),
      },
      {
        attempt: 'HTTP a device token reads feedback',
        expected: '401003',
        match: /^401003$/,
        run: async () => httpCode(await rig.request('GET', `/messages/serviceBound/feedback?${API}`, auth(tokA))),
      },
      {
        attempt: 'Registry: create a device with a traversal id',
        expected: '400004',
        match: /^400004$/,
        run: async () => {
          const r = await rig.request(
            'PUT',
            `/devices/..?${API}`,
            { ...auth(rig.policyToken('iothubowner')), 'content-type': 'application/json' },
            JSON.stringify({ deviceId: '..' }),
          );
          return httpCode(r);
        },
      },
      {
        attempt: 'Header injection through a property value',
        expected: '400004 at send',
        match: /^400004$/,
        run: async () => {
          try {
            await hub.send('devA', { body: Buffer.from('x'), properties: { p: 'v\r\nx-injected: yes' } });
            const r = await rig.request('GET', `/devices/devA/messages/devicebound?${API}`, auth(tokA));
            return r.headers['x-injected'] !== undefined ? 'header injected' : 'sent, no header injected';
          } catch (e) {
            return String((e as { code?: number }).code);
          }
        },
      },
    ];

    const table: { attempt: string; expected: string; result: string }[] = [];
    for (const a of attempts) {
      let result: string;
      try {
        result = await a.run();
      } catch (e) {
        result = `threw ${(e as Error).message}`;
      }
      table.push({ attempt: a.attempt, expected: a.expected, result });
    }
    console.log('\n      Attacker table:');
    console.table(table);
    const failed = table.filter((row, i) => !(attempts[i] as Attempt).match.test(row.result));
    assert.deepEqual(failed, [], 'every attempt must be refused as expected');
    assert.ok(attempts.length >= 20);

    // The hub keeps serving: a good device (MQTT X.509 and SAS) and the backend.
    const good = await rig.mqtt('devX', undefined, { cert: certKnown.cert, key: certKnown.private });
    assert.ok(!('refused' in good), 'the known certificate connects');
    good.end(true);
    const c = await rig.mqtt('devA', tokA);
    assert.ok(!('refused' in c));
    assert.equal(await suback(c, 'devices/devA/messages/devicebound/#'), 'SUBACK 0x1');
    const got = new Promise<Buffer>((resolve) => c.once('message', (_t: string, p: Buffer) => resolve(p)));
    await hub.send('devA', { body: Buffer.from('still serving') });
    assert.equal((await got).toString(), 'still serving');
    c.end(true);

    // No secret reached the diagnostics.
    const secrets = [keyA, keyB, tokA, tampered, ...hub.registry.listPolicies().flatMap((p) => [p.primaryKey, p.secondaryKey])];
    const sigs = secrets.map((s) => /sig=([^&]+)/.exec(s)?.[1]).filter((s): s is string => !!s);
    const log = rig.diagnostics.join('\n');
    for (const s of [...secrets, ...sigs, ...sigs.map(decodeURIComponent)]) assert.ok(!log.includes(s), 'a secret appeared in the hub diagnostics');
  });
});

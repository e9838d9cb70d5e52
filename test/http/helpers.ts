/**
 * A real hub behind real HTTPS on loopback (port 0), with its generated
 * certificate as the client's trust anchor, and policies of every kind.
 */
import * as https from 'node:https';
import type { IncomingHttpHeaders } from 'node:http';
import { ManualClock } from '../../lib/common/clock';
import { createSas, generateKey, type Right } from '../../lib/common/sas';
import { Hub } from '../../lib/hub/index';
import { createHttpHandler } from '../../lib/hub/http/index';
import { startListeners, type Listeners } from '../../lib/hub/listeners';
import { ensureTlsMaterial, type TlsMaterial } from '../../lib/hub/tls';

export interface HttpReply {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  text: string;
  json: () => unknown;
}

export interface Rig {
  hub: Hub;
  clock: ManualClock;
  tls: TlsMaterial;
  listeners: Listeners;
  port: number;
  request(method: string, path: string, opts?: { headers?: Record<string, string>; body?: string | Buffer }): Promise<HttpReply>;
  /** A policy token for the named test policy. */
  serviceToken(keyName: keyof typeof POLICIES): string;
  deviceToken(deviceId: string, key: string, expiresInS?: number): string;
  /** Creates a SAS device and returns its primary key. */
  addDevice(deviceId: string): Promise<string>;
  close(): Promise<void>;
}

export const POLICIES: Record<string, Right[]> = {
  owner: ['RegistryRead', 'RegistryWrite', 'ServiceConnect', 'DeviceConnect'],
  reader: ['RegistryRead'],
  service: ['ServiceConnect'],
};

export async function startRig(tls?: TlsMaterial): Promise<Rig> {
  const clock = new ManualClock(Date.now());
  const material = tls ?? (await ensureTlsMaterial(undefined));
  const hub = await Hub.open({ clock });
  const keys = new Map<string, string>();
  for (const [keyName, rights] of Object.entries(POLICIES)) {
    const primaryKey = generateKey();
    keys.set(keyName, primaryKey);
    await hub.registry.setPolicy({ keyName, primaryKey, secondaryKey: generateKey(), rights });
  }
  const listeners = await startListeners({
    ports: { amqps: false, mqtts: false, https: 0 },
    tls: material,
    handlers: { http: createHttpHandler(hub) },
  });
  const port = listeners.ports.https ?? 0;
  const agent = new https.Agent({ keepAlive: true, ca: material.cert });
  const se = (inS: number): number => Math.floor(clock.now() / 1000) + inS;
  return {
    hub,
    clock,
    tls: material,
    listeners,
    port,
    request: (method, path, opts = {}) =>
      new Promise((resolve, reject) => {
        const req = https.request({ host: 'localhost', port, method, path, agent, headers: opts.headers }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const body = Buffer.concat(chunks);
            const text = body.toString('utf8');
            resolve({ status: res.statusCode ?? 0, headers: res.headers, body, text, json: () => JSON.parse(text) as unknown });
          });
        });
        req.on('error', reject);
        req.end(opts.body);
      }),
    serviceToken: (keyName) => createSas('localhost', keys.get(keyName) ?? '', se(3600), keyName),
    deviceToken: (deviceId, key, expiresInS = 3600) => createSas(`localhost/devices/${deviceId}`, key, se(expiresInS)),
    addDevice: async (deviceId) => (await hub.registry.createDevice({ deviceId })).authentication.symmetricKey.primaryKey ?? '',
    close: async () => {
      agent.destroy();
      await listeners.close();
      await hub.close();
    },
  };
}

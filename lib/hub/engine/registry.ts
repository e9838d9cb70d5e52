/**
 * The identity registry: devices and shared access policies, kept in memory
 * and persisted through the store before any change resolves. Shapes are IoT
 * Hub's registry JSON (c2d-semantics.md §7.3). What a device's life means
 * for the rest of the engine (its queue, receiver, connections, live counts)
 * is the DeviceLifecycle's business (lifecycle.ts).
 */
import { randomBytes } from 'node:crypto';
import { C2DError, errors } from '../../common/errors';
import { generateKey, RIGHTS, type Right } from '../../common/sas';
import { assertDeviceId } from '../../common/validate';
import { BOUNDS } from '../../common/limits';
import type { Clock } from '../../common/clock';
import type { Device, DeviceSpec, Registry, SharedAccessPolicy } from '../api';
import type { DeviceRecord, StoreOp } from './store';
import type { Change } from './transitions';

/** What the rest of the engine does when a device comes, goes or is disabled. */
export interface DeviceLifecycle {
  /** Pending (Enqueued + Invisible) messages of the device. */
  pendingCount(deviceId: string): number;
  /** The live connection state, when the device connected or disconnected since the hub started. */
  connection(deviceId: string): { connected: boolean; changedAtUtc: number } | undefined;
  /** A device was created (or re-created: new generationId): its empty queue. */
  created(device: DeviceRecord): Change;
  /** A device is being deleted: its queue, receiver, connections, pending feedback and dead letters go. */
  deleted(deviceId: string): Change;
  /** A device was disabled: its receiver and connections end. */
  disabled(deviceId: string): void;
}

/** Makes a change durable (Transitions.commit). */
export interface Committer {
  commit(change: Change): Promise<void>;
}

/** Default policies of a new hub, as IoT Hub creates them (c2d-semantics.md §6.3). */
const DEFAULT_POLICIES: ReadonlyArray<[string, Right[]]> = [
  ['iothubowner', ['RegistryRead', 'RegistryWrite', 'ServiceConnect', 'DeviceConnect']],
  ['service', ['ServiceConnect']],
  ['device', ['DeviceConnect']],
  ['registryRead', ['RegistryRead']],
  ['registryReadWrite', ['RegistryRead', 'RegistryWrite']],
];

const EPOCH_ZERO = '0001-01-01T00:00:00Z';

/** Base64 of an 8-byte big-endian counter, IoT Hub's etag look ("AAAAAAAAAAE="). */
function etagOf(version: number): string {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(version));
  return b.toString('base64');
}

function isBase64Key(k: string): boolean {
  return /^[A-Za-z0-9+/]+={0,2}$/.test(k) && k.length % 4 === 0 && Buffer.from(k, 'base64').length >= 16 && Buffer.from(k, 'base64').length <= 64;
}

export class DeviceRegistry implements Registry {
  private readonly devices = new Map<string, DeviceRecord>();
  private readonly policies = new Map<string, SharedAccessPolicy>();

  constructor(
    private readonly clock: Clock,
    private readonly committer: Committer,
    private readonly lifecycle: DeviceLifecycle,
  ) {}

  private persist(ops: StoreOp[], events: Change['events'] = []): Promise<void> {
    return this.committer.commit({ ops, events });
  }

  /** Loads stored state; writes the default policies when there are none yet. */
  async load(devices: DeviceRecord[], policies: SharedAccessPolicy[]): Promise<void> {
    for (const d of devices) this.devices.set(d.deviceId, d);
    for (const p of policies) this.policies.set(p.keyName, p);
    if (policies.length === 0) {
      for (const [keyName, rights] of DEFAULT_POLICIES) await this.setPolicy({ keyName, primaryKey: generateKey(), secondaryKey: generateKey(), rights });
    }
  }

  /** The stored record (keys included) for auth; undefined when absent. */
  record(deviceId: string): DeviceRecord | undefined {
    return this.devices.get(deviceId);
  }

  private view(r: DeviceRecord): Device {
    const { version: _version, ...rest } = r;
    const live = this.lifecycle.connection(r.deviceId);
    const view = structuredClone({ ...rest, cloudToDeviceMessageCount: this.lifecycle.pendingCount(r.deviceId) });
    if (live) {
      const at = new Date(live.changedAtUtc).toISOString();
      view.connectionState = live.connected ? 'Connected' : 'Disconnected';
      view.connectionStateUpdatedTime = at;
      view.lastActivityTime = at;
    }
    return view;
  }

  private build(spec: DeviceSpec, old: DeviceRecord | undefined): DeviceRecord {
    assertDeviceId(spec.deviceId);
    const now = new Date(this.clock.now()).toISOString();
    const type = spec.authentication?.type ?? old?.authentication.type ?? 'sas';
    if (!['sas', 'selfSigned', 'certificateAuthority', 'none'].includes(type)) throw errors.invalid(`Unknown authentication type '${String(type)}'.`);
    const status = spec.status ?? old?.status ?? 'enabled';
    if (status !== 'enabled' && status !== 'disabled') throw errors.invalid(`Device status must be enabled or disabled.`);
    const statusReason = spec.statusReason !== undefined ? spec.statusReason : (old?.statusReason ?? null);
    if (statusReason !== null && (typeof statusReason !== 'string' || statusReason.length > BOUNDS.maxIdLength)) {
      throw errors.invalid('statusReason must be at most 128 characters.');
    }
    const keys = spec.authentication?.symmetricKey;
    let primaryKey: string | null = keys?.primaryKey || null;
    let secondaryKey: string | null = keys?.secondaryKey || null;
    for (const k of [primaryKey, secondaryKey]) if (k !== null && !isBase64Key(k)) throw errors.invalid('Symmetric keys must be base64 of 16 to 64 bytes.');
    if (type === 'sas') {
      // Keys the caller left out are kept from the old identity, else generated.
      primaryKey ??= old?.authentication.symmetricKey.primaryKey ?? generateKey();
      secondaryKey ??= old?.authentication.symmetricKey.secondaryKey ?? generateKey();
    }
    const tp = spec.authentication?.x509Thumbprint;
    const norm = (t: string | null | undefined): string | null => {
      if (!t) return null;
      if (!/^([0-9A-Fa-f]{40}|[0-9A-Fa-f]{64})$/.test(t)) throw errors.invalid('A thumbprint is 40 (SHA-1) or 64 (SHA-256) hex digits.');
      return t.toUpperCase();
    };
    const primaryThumbprint = norm(tp?.primaryThumbprint);
    const secondaryThumbprint = norm(tp?.secondaryThumbprint);
    if (type === 'selfSigned' && !primaryThumbprint && !secondaryThumbprint) throw errors.invalid('A selfSigned device needs a thumbprint.');
    const version = (old?.version ?? 0) + 1;
    return {
      deviceId: spec.deviceId,
      // Fixed for the life of the identity; a re-created device gets a new one (c2d-semantics.md §7.3).
      generationId: old?.generationId ?? BigInt.asUintN(63, randomBytes(8).readBigUInt64BE()).toString(),
      etag: etagOf(version),
      version,
      status,
      statusReason,
      statusUpdatedTime: old && old.status === status ? old.statusUpdatedTime : old ? now : EPOCH_ZERO,
      connectionState: old?.connectionState ?? 'Disconnected',
      connectionStateUpdatedTime: old?.connectionStateUpdatedTime ?? EPOCH_ZERO,
      lastActivityTime: old?.lastActivityTime ?? EPOCH_ZERO,
      authentication: {
        type,
        symmetricKey: type === 'sas' ? { primaryKey, secondaryKey } : { primaryKey: null, secondaryKey: null },
        x509Thumbprint: { primaryThumbprint, secondaryThumbprint },
      },
      capabilities: { iotEdge: spec.capabilities?.iotEdge ?? old?.capabilities.iotEdge ?? false },
      deviceScope: old?.deviceScope ?? null,
    };
  }

  private async put(r: DeviceRecord, old: DeviceRecord | undefined): Promise<Device> {
    this.devices.set(r.deviceId, r);
    const put: Change = { ops: [{ t: 'putDevice', device: r }], events: [] };
    const created = old ? undefined : this.lifecycle.created(r);
    if (old?.status === 'enabled' && r.status === 'disabled') this.lifecycle.disabled(r.deviceId);
    const view = this.view(r);
    await this.persist([...put.ops, ...(created?.ops ?? [])], created?.events);
    return view;
  }

  async createDevice(spec: DeviceSpec): Promise<Device> {
    assertDeviceId(spec?.deviceId);
    if (this.devices.has(spec.deviceId)) throw new C2DError('DeviceAlreadyExists', `Device '${spec.deviceId}' already exists.`);
    return this.put(this.build(spec, undefined), undefined);
  }

  async updateDevice(spec: DeviceSpec, ifMatch?: string): Promise<Device> {
    assertDeviceId(spec?.deviceId);
    const old = this.devices.get(spec.deviceId);
    if (!old && ifMatch !== undefined && ifMatch !== '*') throw errors.notFound(`Device '${spec.deviceId}' does not exist.`);
    if (old) this.checkEtag(old, ifMatch);
    return this.put(this.build(spec, old), old);
  }

  private checkEtag(r: DeviceRecord, ifMatch: string | undefined): void {
    if (ifMatch === undefined || ifMatch === '*') return;
    const bare = ifMatch.replace(/^W\//, '').replace(/^"(.*)"$/, '$1');
    if (bare !== r.etag) throw errors.precondition(`The etag of device '${r.deviceId}' does not match.`);
  }

  getDevice(deviceId: string): Device | undefined {
    const r = this.devices.get(deviceId);
    return r ? this.view(r) : undefined;
  }

  async deleteDevice(deviceId: string, ifMatch?: string): Promise<void> {
    const r = this.devices.get(deviceId);
    if (!r) throw errors.notFound(`Device '${deviceId}' does not exist.`);
    this.checkEtag(r, ifMatch);
    this.devices.delete(deviceId);
    const gone = this.lifecycle.deleted(deviceId);
    await this.persist([{ t: 'deleteDevice', deviceId }, ...gone.ops], gone.events);
  }

  listDevices(max: number = BOUNDS.maxListDevices): Device[] {
    const n = Math.max(0, Math.min(max, BOUNDS.maxListDevices));
    return [...this.devices.values()].slice(0, n).map((r) => this.view(r));
  }

  deviceIds(): string[] {
    return [...this.devices.keys()];
  }

  getPolicy(keyName: string): SharedAccessPolicy | undefined {
    const p = this.policies.get(keyName);
    return p ? structuredClone(p) : undefined;
  }

  listPolicies(): SharedAccessPolicy[] {
    return [...this.policies.values()].map((p) => structuredClone(p));
  }

  async setPolicy(policy: SharedAccessPolicy): Promise<void> {
    if (typeof policy?.keyName !== 'string' || !/^[A-Za-z0-9_.-]{1,64}$/.test(policy.keyName))
      throw errors.invalid('A policy needs a keyName of letters, digits, _ . -.');
    if (!Array.isArray(policy.rights) || policy.rights.some((r) => !RIGHTS.includes(r)))
      throw errors.invalid(`Policy rights must be among ${RIGHTS.join(', ')}.`);
    const p: SharedAccessPolicy = {
      keyName: policy.keyName,
      primaryKey: policy.primaryKey || generateKey(),
      secondaryKey: policy.secondaryKey || generateKey(),
      rights: [...new Set(policy.rights)],
    };
    for (const k of [p.primaryKey, p.secondaryKey]) if (!isBase64Key(k)) throw errors.invalid('Policy keys must be base64 of 16 to 64 bytes.');
    this.policies.set(p.keyName, p);
    await this.persist([{ t: 'putPolicy', policy: p }]);
  }

  async deletePolicy(keyName: string): Promise<void> {
    if (!this.policies.delete(keyName)) throw errors.invalid(`No policy named '${keyName}'.`);
    await this.persist([{ t: 'deletePolicy', keyName }]);
  }
}

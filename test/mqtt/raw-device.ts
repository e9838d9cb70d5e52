/**
 * A device that writes MQTT packets by hand (mqtt-packet) on any byte stream:
 * for the endpoint's own rules, where a real client would hide the bytes
 * (split packets, a second CONNECT, a will, the order of what arrives).
 */
import { once } from 'node:events';
import net from 'node:net';
import { Duplex } from 'node:stream';
import mqttPacket, { type IConnectPacket, type Packet } from 'mqtt-packet';
import { buildMqttUsername } from '../../lib/common/codec/mqtt';

export class RawDevice {
  readonly packets: Packet[] = [];
  private readonly waiting: { cmd: string; resolve: (p: Packet) => void }[] = [];
  readonly closed: Promise<void>;
  /** Indexes of `packets` that next() has handed out. */
  private readonly taken = new Set<number>();

  constructor(readonly stream: Duplex) {
    const parser = mqttPacket.parser({ protocolVersion: 4 });
    parser.on('packet', (p: Packet) => {
      this.packets.push(p);
      const i = this.waiting.findIndex((w) => w.cmd === p.cmd);
      if (i < 0) return;
      this.taken.add(this.packets.length - 1);
      this.waiting.splice(i, 1)[0]!.resolve(p);
    });
    stream.on('data', (b: Buffer) => parser.parse(b));
    stream.on('error', () => undefined);
    this.closed = new Promise((resolve) => stream.once('close', () => resolve()));
  }

  static async tcp(port: number): Promise<RawDevice> {
    const s = net.connect(port, '127.0.0.1');
    await once(s, 'connect');
    return new RawDevice(s);
  }

  /** CONNECT as the Azure SDKs send it (clean=false unless said), with `password` a SAS token. */
  static connectPacket(deviceId: string, password: string, extra: Partial<IConnectPacket> = {}): IConnectPacket {
    return {
      cmd: 'connect',
      protocolId: 'MQTT',
      protocolVersion: 4,
      clean: false,
      keepalive: 60,
      clientId: deviceId,
      username: buildMqttUsername({ host: 'localhost', deviceId, params: {} }),
      password: Buffer.from(password),
      ...extra,
    };
  }

  bytes(p: Packet): Buffer {
    return mqttPacket.generate(p);
  }

  send(p: Packet | Buffer): void {
    this.stream.write(Buffer.isBuffer(p) ? p : mqttPacket.generate(p));
  }

  /** The next packet of `cmd` not yet taken (one that already came counts). */
  next(cmd: Packet['cmd']): Promise<Packet> {
    const i = this.packets.findIndex((p, k) => !this.taken.has(k) && p.cmd === cmd);
    if (i >= 0) {
      this.taken.add(i);
      return Promise.resolve(this.packets[i]!);
    }
    return new Promise((resolve) => this.waiting.push({ cmd, resolve }));
  }
}

/**
 * A stream pair whose hub side holds what the hub writes until the device side
 * is allowed to read it (`flowing`): what the hub has written but the device
 * has not taken stays in the hub's stream, as on a socket whose peer is slow.
 */
export function heldPair(): { hubSide: Duplex; deviceSide: Duplex; setFlowing(on: boolean): void } {
  let flowing = true;
  const held: [Buffer, (e?: Error | null) => void][] = [];
  const release = (): void => {
    while (flowing && held.length > 0) {
      const [chunk, cb] = held.shift()!;
      deviceSide.push(chunk);
      cb();
    }
  };
  const hubSide = new Duplex({
    read() {},
    write(chunk: Buffer, _enc, cb) {
      held.push([chunk, cb]);
      release();
    },
    final(cb) {
      deviceSide.push(null);
      cb();
    },
    destroy(err, cb) {
      held.length = 0;
      deviceSide.destroy();
      cb(err);
    },
  });
  const deviceSide: Duplex = new Duplex({
    read() {},
    write(chunk: Buffer, _enc, cb) {
      hubSide.push(chunk);
      cb();
    },
    final(cb) {
      hubSide.push(null);
      cb();
    },
    destroy(err, cb) {
      if (!hubSide.destroyed) hubSide.destroy();
      cb(err);
    },
  });
  return {
    hubSide,
    deviceSide,
    setFlowing(on) {
      flowing = on;
      release();
    },
  };
}

/**
 * The standalone hub (`bin/c2d-hub.js`) as a child process on fixed free
 * loopback ports and a data folder, so it can be SIGKILLed and started again
 * on the same ports (clients reconnect to where they were).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import net from 'node:net';
import path from 'node:path';
import { createInterface } from 'node:readline';

const BIN = path.resolve(__dirname, '../../../bin/c2d-hub.js');

/** Free loopback ports, picked by binding port 0 and releasing it. */
export async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: n }, async () => {
      const s = net.createServer();
      s.listen(0, '127.0.0.1');
      await once(s, 'listening');
      return s;
    }),
  );
  const ports = servers.map((s) => (s.address() as net.AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

export class HubProcess {
  private child: ChildProcess | undefined;
  starts = 0;
  kills = 0;
  /** Processes spawned so far: a delivery seen while this is n came from process n (or, rarely, n-1). */
  spawned = 0;

  constructor(
    readonly dataDir: string,
    readonly ports: { amqps: number; mqtts: number; https: number },
    readonly extraArgs: string[] = [],
  ) {}

  /** Starts the command and resolves once it says it is running (its ports are bound). */
  async start(): Promise<void> {
    const args = [
      BIN,
      '--data',
      this.dataDir,
      '--host',
      '127.0.0.1',
      '--amqps',
      String(this.ports.amqps),
      '--mqtts',
      String(this.ports.mqtts),
      '--https',
      String(this.ports.https),
      ...this.extraArgs,
    ];
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.spawned++;
    this.child = child;
    let err = '';
    child.stderr?.on('data', (b: Buffer) => {
      err += b.toString();
      if (process.env.C2D_DEBUG) process.stderr.write(b);
    });
    await new Promise<void>((resolve, reject) => {
      const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
      lines.on('line', (line) => {
        if (line.includes('is running')) resolve();
      });
      child.once('exit', (code) => reject(new Error(`c2d-hub exited ${String(code)} before it was running: ${err}`)));
    });
    this.starts++;
  }

  /** SIGKILL: no shutdown code runs, as in a power cut of the process. */
  async kill(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, 'exit');
    child.kill('SIGKILL');
    await exited;
    this.kills++;
  }

  /** SIGTERM: the command closes the hub (pending commits finish) and exits 0. */
  async stop(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    await exited;
  }
}

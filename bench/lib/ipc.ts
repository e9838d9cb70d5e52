/**
 * Request/response over Node's IPC channel between the bench driver and the
 * processes it starts (hub, broker, relay, client under test). Each process
 * runs on its own core when `taskset` exists, so the hub never shares a core
 * with its load generator.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- each handler types its own args
type Handler = (args: any) => unknown;
interface Request {
  id: number;
  cmd: string;
  args: unknown;
}
interface Reply {
  id: number;
  ok: boolean;
  value?: unknown;
  error?: string;
}

const TASKSET = '/usr/bin/taskset';

/** Whether processes can be pinned to a cpu (taskset exists). */
export function pinnable(): boolean {
  return existsSync(TASKSET);
}

/**
 * Pins this running process, every thread of it, to `cpu`. `-a` matters: V8's
 * worker threads (parallel scavenges, concurrent marking) exist before this
 * call, and `taskset -p` alone moves only the main thread, which left them free
 * to run on the hub's core. Children started by Child.start are pinned before
 * exec instead, so all their threads inherit it.
 */
export function pinSelf(cpu: number): void {
  if (pinnable()) spawnSync(TASKSET, ['-a', '-p', '-c', String(cpu), String(process.pid)], { stdio: 'ignore' });
}

export class Child {
  private next = 1;
  private readonly waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private exited = false;
  readonly exit: Promise<number | null>;

  private constructor(readonly proc: ChildProcess) {
    // A child that died mid-scenario: its pending calls fail (below), the run goes on.
    proc.on('error', () => undefined);
    proc.on('message', (m: Reply) => {
      const w = this.waiting.get(m.id);
      if (!w) return;
      this.waiting.delete(m.id);
      if (m.ok) w.resolve(m.value);
      else w.reject(new Error(m.error));
    });
    this.exit = new Promise((resolve) =>
      proc.once('exit', (code) => {
        this.exited = true;
        for (const w of this.waiting.values()) w.reject(new Error(`child exited (${code})`));
        this.waiting.clear();
        resolve(code);
      }),
    );
  }

  /**
   * Starts `dist/bench/<script>.js` (of another build when `benchDir` names its `dist/bench`),
   * on `cpu` when given and pinning is possible.
   */
  static start(script: string, options: { cpu?: number; nodeArgs?: string[]; env?: NodeJS.ProcessEnv; benchDir?: string } = {}): Child {
    const file = path.join(options.benchDir ?? path.join(__dirname, '..'), `${script}.js`);
    const nodeArgv = [...(options.nodeArgs ?? []), file];
    const pin = options.cpu !== undefined && pinnable();
    const [cmd, argv] = pin ? [TASKSET, ['-c', String(options.cpu), process.execPath, ...nodeArgv]] : [process.execPath, nodeArgv];
    const proc = spawn(cmd, argv, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], env: options.env ?? process.env });
    return new Child(proc);
  }

  call<T = unknown>(cmd: string, args: unknown = {}): Promise<T> {
    if (this.exited) return Promise.reject(new Error('child has exited'));
    const id = this.next++;
    return new Promise<T>((resolve, reject) => {
      this.waiting.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.proc.send({ id, cmd, args } satisfies Request, (e) => {
        if (!e) return;
        this.waiting.delete(id);
        reject(e);
      });
    });
  }

  /** Asks the child to close, then waits for it to exit (kills it after 20 s). */
  async stop(): Promise<void> {
    if (this.exited) return;
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), 20_000);
    try {
      await this.call('close').catch(() => undefined);
      await this.exit;
    } finally {
      clearTimeout(timer);
    }
  }

  kill(): Promise<number | null> {
    if (!this.exited) this.proc.kill('SIGKILL');
    return this.exit;
  }
}

/**
 * Child side: answers requests with `handlers`; `close` replies, then disconnects. A child
 * exits once its channel to the driver is gone, so a driver that dies (Ctrl-C, a crash, a
 * timeout) leaves no hub or broker behind on the core the next run measures.
 */
export function serve(handlers: Record<string, Handler>): void {
  process.once('disconnect', () => process.exit(0));
  process.on('message', (m: Request) => {
    void (async () => {
      const h = handlers[m.cmd];
      try {
        if (!h) throw new Error(`unknown command ${m.cmd}`);
        const value = await h(m.args);
        process.send?.({ id: m.id, ok: true, value } satisfies Reply);
      } catch (e) {
        process.send?.({ id: m.id, ok: false, error: e instanceof Error ? (e.stack ?? e.message) : String(e) } satisfies Reply);
      }
      if (m.cmd === 'close') process.disconnect?.();
    })();
  });
}

/**
 * This process's CPU seconds (user + system) and peak/current RSS in MB. Peak
 * RSS is VmHWM from /proc: getrusage's maxrss survives exec, so a child would
 * report the bench driver's peak from before it was spawned.
 */
export function processStats(): { cpuS: number; userS: number; systemS: number; maxRssMB: number; rssMB: number; heapMB: number; externalMB: number } {
  const u = process.resourceUsage();
  const m = process.memoryUsage();
  const hwm = /VmHWM:\s*(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1];
  const maxRssMB = hwm !== undefined ? Number(hwm) / 1024 : u.maxRSS / 1024;
  return {
    cpuS: (u.userCPUTime + u.systemCPUTime) / 1e6,
    userS: u.userCPUTime / 1e6,
    systemS: u.systemCPUTime / 1e6,
    maxRssMB,
    rssMB: m.rss / 1048576,
    heapMB: m.heapUsed / 1048576,
    externalMB: m.external / 1048576,
  };
}

/**
 * `c2d-hub`: the embedded hub as a standalone process, so any IoT Hub app can
 * use it as a local C2D hub, and the store commands (export, import, reset)
 * for a stopped hub. Options come from one table (cli/options.ts): flags,
 * a JSON config file and `C2D_*` variables; `c2d-hub --help` lists them.
 */
import * as fs from 'node:fs';
import { usage } from './cli/help';
import { resolve, type Invocation } from './cli/resolve';
import { serve, type RunningHub } from './cli/serve';
import { checkSnapshot, exportStore, importStore, resetStore } from './snapshot';

async function storeCommand(inv: Invocation): Promise<void> {
  const { config } = inv;
  switch (inv.command) {
    case 'export': {
      const { snapshot, counts } = exportStore(config.dataDir);
      // The export holds every key of the store: readable by its owner only.
      fs.writeFileSync(inv.file!, `${JSON.stringify(snapshot, null, 2)}\n`, { mode: 0o600 });
      console.log(
        `Exported ${counts.devices} devices, ${counts.policies} policies, ${counts.messages} pending messages, ${counts.deadLetters} dead letters, ${counts.feedbackRecords + counts.feedbackBatches} feedback items from ${config.dataDir} to ${inv.file}.`,
      );
      return;
    }
    case 'import': {
      let parsed: unknown;
      try {
        parsed = JSON.parse(fs.readFileSync(inv.file!, 'utf8'));
      } catch (e) {
        throw new Error(`Cannot read the export ${inv.file}: ${(e as Error).message}`, { cause: e });
      }
      const counts = await importStore(config.dataDir, checkSnapshot(parsed), { force: config.force });
      console.log(
        `Imported ${counts.devices} devices, ${counts.policies} policies, ${counts.messages} pending messages, ${counts.deadLetters} dead letters into ${config.dataDir}.`,
      );
      return;
    }
    case 'reset': {
      if (!config.yes)
        throw new Error(
          `c2d-hub reset empties the store in ${config.dataDir}${config.keepRegistry ? ' (devices and policies are kept)' : ', devices and policies included'}; add --yes to do it.`,
        );
      const counts = await resetStore(config.dataDir, { keepRegistry: config.keepRegistry });
      console.log(
        `Reset ${config.dataDir}: ${counts.messages} messages, ${counts.deadLetters} dead letters and ${counts.feedbackRecords + counts.feedbackBatches} feedback items removed${config.keepRegistry ? `; ${counts.devices} devices and ${counts.policies} policies kept` : `, with ${counts.devices} devices and ${counts.policies} policies`}.`,
      );
      return;
    }
    default:
      return;
  }
}

/** Runs the command line; resolves with the running hub for `serve`, undefined otherwise. */
export async function main(argv: string[] = process.argv.slice(2), env: NodeJS.ProcessEnv = process.env): Promise<RunningHub | undefined> {
  const inv = resolve(argv, env);
  if (inv.help) {
    console.log(usage());
    return undefined;
  }
  if (inv.command !== 'serve') {
    await storeCommand(inv);
    return undefined;
  }
  // Handlers first: whoever reads the banner may signal at once.
  const started: { hub?: Promise<RunningHub> } = {};
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    console.error(`${signal}: stopping...`);
    (started.hub ?? Promise.reject(new Error('not started')))
      .then((r) => r.stop())
      .then(
        () => process.exit(0),
        (err: unknown) => {
          console.error(err);
          process.exit(1);
        },
      );
  };
  process.once('SIGINT', () => stop('SIGINT'));
  process.once('SIGTERM', () => stop('SIGTERM'));
  started.hub = serve(inv.config);
  const running = await started.hub;
  return running;
}

/** Entry point of the `c2d-hub` command: exits 1 with a clear message when it cannot do what it was asked. */
export function run(): void {
  main().catch((err: unknown) => {
    const e = err as NodeJS.ErrnoException & { port?: number };
    console.error(`c2d-hub: ${e.message ?? String(err)}`);
    if (e.code === 'EACCES') console.error('Ports below 1024 need root or CAP_NET_BIND_SERVICE; try --https 8443.');
    process.exit(1);
  });
}

if (require.main === module) run();

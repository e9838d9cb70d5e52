/**
 * Runs the independent clients in test/interop/python with Debian's
 * /usr/bin/python3 (python3-uamqp is azure-uamqp-c, the Azure IoT C SDK's
 * AMQP stack; python3-qpid-proton is Qpid Proton), which .ci/run installs.
 * A pyenv python first on PATH may lack them, hence the fixed path.
 */
import { spawn, spawnSync } from 'node:child_process';
import * as path from 'node:path';

export const PYTHON = '/usr/bin/python3';
const SCRIPTS = path.resolve(__dirname, '../../../test/interop/python');

/** Why `module` cannot be used here (a sentence for the skip), or undefined when it can. */
export function whyNoPythonModule(module: string, debianPackage: string): string | undefined {
  const r = spawnSync(PYTHON, ['-c', `import ${module}`], { encoding: 'utf8' });
  if (r.error) return `${PYTHON} is not installed (the Debian package ${debianPackage} is needed; .ci/run installs it)`;
  if (r.status !== 0) return `${PYTHON} has no module '${module}' (install the Debian package ${debianPackage}; .ci/run does)`;
  return undefined;
}

/** Runs a script of test/interop/python; resolves the JSON lines it printed. Rejects with its stderr on a failure. */
export function runPython(script: string, args: string[], timeoutMs = 30_000): Promise<Record<string, unknown>[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(PYTHON, [path.join(SCRIPTS, script), ...args], { cwd: SCRIPTS, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const lines = out
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      if (code === 0) resolve(lines);
      else reject(new Error(`${script} exited ${code ?? signal}: ${err.slice(-2000)}\nstdout: ${out.slice(-1000)}`));
    });
  });
}

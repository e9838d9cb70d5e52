/** `c2d-hub --help`, made from the option table so it cannot leave an option out. */
import { CONFIG_ENV, CONFIG_FLAG, OPTIONS, type OptionSpec } from './options';

const wrap = (text: string, width: number, indent: string): string[] => {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) lines.push(line);
  return lines.map((l, i) => (i === 0 ? l : indent + l));
};

function section(which: (o: OptionSpec) => boolean): string[] {
  const out: string[] = [];
  for (const o of OPTIONS.filter(which)) {
    const left = `  --${o.flag}${o.kind.arg ? ` ${o.kind.arg}` : ''}`;
    const right = `${o.help}${o.defaultText ? ` [${o.defaultText}]` : ''}`;
    const names = [o.key ? `file: ${o.key}` : '', o.env ? `env: ${o.env}` : ''].filter(Boolean).join(', ');
    const head = left.padEnd(30);
    const body = wrap(right, 48, ' '.repeat(32));
    out.push(`${head}${head.length > 30 ? `\n${' '.repeat(32)}` : '  '}${body.join('\n')}`);
    if (names) out.push(`${' '.repeat(32)}(${names})`);
  }
  return out;
}

export function usage(): string {
  return [
    'Usage: c2d-hub [options]              run the hub',
    '       c2d-hub export FILE [options]  write the store (devices, policies, pending',
    '                                      messages, feedback) to FILE as JSON',
    '       c2d-hub import FILE [options]  load FILE into an empty store (--force: replace)',
    '       c2d-hub reset --yes [options]  empty the store (--keep-registry: keep devices',
    '                                      and policies)',
    '',
    'Runs an IoT-Hub-style cloud-to-device hub: AMQP (amqps), MQTT (mqtts) and HTTPS,',
    'with AMQP and MQTT over WebSocket on the HTTPS port, and a durable SQLite store.',
    'export, import and reset work on a stopped store only.',
    '',
    'Options (a config file key and a C2D_* variable each; the variable wins over the',
    'flag, the flag over the file):',
    `  --${CONFIG_FLAG} <file>`.padEnd(32) + `a JSON config file (env: ${CONFIG_ENV})`,
    ...section((o) => o.key !== undefined),
    '',
    'Command options:',
    ...section((o) => o.key === undefined),
    '  -h, --help'.padEnd(32) + 'this text',
    '',
    'Admin endpoints (with --admin-port): GET /health (alive), GET /ready (503 with the',
    'reasons while the store is not writable or the listeners are not bound), GET /metrics',
    '(Prometheus text format).',
    'Port 443 needs root (or CAP_NET_BIND_SERVICE); use e.g. --https 8443 otherwise.',
    'The official Azure IoT SDKs reach HTTPS and WebSocket only on 443.',
  ].join('\n');
}

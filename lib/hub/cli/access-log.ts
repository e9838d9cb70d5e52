/**
 * The command's log: one line per access decision (connection refused,
 * credential accepted or refused, with the reason) and per device connection
 * and disconnection, as text or as one JSON object per line (`--log json`).
 * Lines are made from access events and hub events only, which never carry
 * a key, a token or a signature.
 */
import type { AccessEvent } from '../access';
import type { HubEvents } from '../api';

export type LogFormat = 'text' | 'json';

export interface LogLine {
  time: string;
  level: 'info' | 'warn' | 'error';
  event: string;
  message: string;
  [field: string]: unknown;
}

export class AccessLog {
  constructor(
    private readonly format: LogFormat,
    private readonly write: (line: string) => void = (l) => process.stdout.write(`${l}\n`),
    private readonly now: () => Date = () => new Date(),
  ) {}

  line(level: LogLine['level'], event: string, message: string, fields: Record<string, unknown> = {}): void {
    const time = this.now().toISOString();
    if (this.format === 'json') this.write(JSON.stringify({ time, level, event, message, ...fields }));
    else {
      const extra = Object.entries(fields)
        .filter(([k, v]) => v !== undefined && k !== 'detail')
        .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
        .join(' ');
      this.write(`${time} ${level.toUpperCase().padEnd(5)} ${event} ${message}${extra ? ` (${extra})` : ''}`);
    }
  }

  /** Give to EmbeddedHub.start as `onAccess`. */
  readonly onAccess = (e: AccessEvent): void => {
    const { type, ...fields } = e;
    switch (e.type) {
      case 'connection-refused':
        this.line('warn', type, `${e.transport} connection refused: ${e.detail}`, fields);
        return;
      case 'auth-accepted':
        this.line('info', type, `${e.transport} ${e.kind} '${e.identity}' authenticated by ${e.method}`, fields);
        return;
      case 'auth-refused':
        this.line('warn', type, `${e.transport}${e.identity !== undefined ? ` '${e.identity}'` : ''} refused: ${e.code} ${e.detail}`, fields);
        return;
    }
  };

  /** Device connections and disconnections from the hub's events; returns the detach function. */
  attach(events: HubEvents): () => void {
    const up = (e: { deviceId: string; protocol: string }): void =>
      this.line('info', 'device-connected', `device '${e.deviceId}' connected over ${e.protocol}`, { deviceId: e.deviceId, protocol: e.protocol });
    const down = (e: { deviceId: string; protocol: string; reason?: string }): void =>
      this.line('info', 'device-disconnected', `device '${e.deviceId}' disconnected from ${e.protocol}${e.reason ? `: ${e.reason}` : ''}`, {
        deviceId: e.deviceId,
        protocol: e.protocol,
        ...(e.reason ? { reason: e.reason } : {}),
      });
    events.on('deviceConnected', up);
    events.on('deviceDisconnected', down);
    return () => {
      events.off('deviceConnected', up);
      events.off('deviceDisconnected', down);
    };
  }
}

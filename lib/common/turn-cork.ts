/**
 * Holds a stream's writes until the end of the current turn (process.nextTick),
 * so that what one turn writes (a dispatch run, the PUBACKs of one read) leaves
 * as one write, and on TLS as one record: a small write wakes the guest
 * kernel's network path once per call.
 */
import type { Writable } from 'node:stream';

export class TurnCork {
  private held = false;

  constructor(private readonly stream: Writable) {}

  /** Call before each write of the turn: the first one corks, the turn's end uncorks. */
  hold(): void {
    if (this.held) return;
    this.held = true;
    this.stream.cork();
    process.nextTick(() => {
      this.held = false;
      this.stream.uncork();
    });
  }
}

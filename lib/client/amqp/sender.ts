/**
 * A sender link whose every transfer waits for the hub's outcome: resolves
 * on `accepted` (the hub took, or committed, the message), rejects with the
 * hub's error on `rejected`, and on `released`/`modified` (not taken). The
 * link is attached on first use and again after the hub detached it; sends
 * that find no credit wait for it, first come first served. Used for C2D
 * sends (`/messages/devicebound`) and device-to-cloud (`/devices/{id}/messages/events`).
 */
import type { Connection, Delivery, EventContext, Message, Sender, SenderOptions } from 'rhea';
import { amqpFailure, attachSender, outcomeError } from './rhea-connection';
import { linkCredit } from '../../common/rhea-internals';
import { connectionReset } from '../../common/errors';

type Pending = { resolve: () => void; reject: (e: Error) => void };

export class ConfirmedSender {
  private sender: Promise<Sender> | undefined;
  private readonly inFlight = new Map<Delivery, Pending>();
  /** Sends waiting for link credit (one 'sendable' listener wakes them). */
  private creditWaiters: Pending[] = [];
  private closed = false;

  constructor(
    private readonly connection: Connection,
    private readonly options: SenderOptions,
    /** Names the link in errors ("send link", "D2C link"). */
    private readonly what: string,
  ) {}

  /** Fails everything waiting (the connection went); later sends fail at once. */
  abort(e: Error): void {
    this.closed = true;
    for (const f of this.inFlight.values()) f.reject(e);
    this.inFlight.clear();
    this.failCreditWaiters(e);
  }

  private failCreditWaiters(e: Error): void {
    for (const w of this.creditWaiters.splice(0)) w.reject(e);
  }

  private link(): Promise<Sender> {
    if (this.sender) return this.sender;
    const attached: Promise<Sender> = attachSender(this.connection, this.options).then((link) => {
      const settle = (ctx: EventContext, ok: boolean): void => {
        const d = ctx.delivery as Delivery;
        const f = this.inFlight.get(d);
        if (!f) return;
        this.inFlight.delete(d);
        if (ok) f.resolve();
        else f.reject(outcomeError(ctx));
      };
      link.on('accepted', (ctx: EventContext) => settle(ctx, true));
      for (const ev of ['rejected', 'released', 'modified']) link.on(ev, (ctx: EventContext) => settle(ctx, false));
      // The hub detached the link (e.g. no right to send): fail what waits on it; the next send re-attaches.
      const detached = (ctx: EventContext): void => {
        if (this.sender === attached) this.sender = undefined;
        const e = amqpFailure(ctx, this.what);
        for (const [d, f] of this.inFlight) {
          if (d.link !== link) continue;
          this.inFlight.delete(d);
          f.reject(e);
        }
        this.failCreditWaiters(e);
      };
      link.on('sender_error', detached);
      link.on('sender_close', detached);
      // As many waiting sends as the new credit allows go on; each checks again before sending.
      link.on('sendable', () => {
        const wake = this.creditWaiters.splice(0, Math.max(1, linkCredit(link)));
        for (const w of wake) w.resolve();
      });
      return link;
    });
    this.sender = attached;
    attached.catch(() => {
      if (this.sender === attached) this.sender = undefined;
    });
    return attached;
  }

  /** Sends and resolves once the hub accepted the message. */
  async send(message: Message): Promise<void> {
    if (this.closed) throw connectionReset('The connection is closed.');
    const link = await this.link();
    if (this.closed) throw connectionReset('The connection is closed.');
    while (!link.sendable()) {
      await new Promise<void>((resolve, reject) => this.creditWaiters.push({ resolve, reject }));
      if (this.closed || !link.is_open()) throw connectionReset(`The ${this.what} is gone.`);
    }
    await new Promise<void>((resolve, reject) => {
      const d = link.send(message);
      this.inFlight.set(d, { resolve, reject });
    });
  }
}

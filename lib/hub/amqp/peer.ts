/**
 * What every link module gets: the hub, the connection's auth state, and a
 * few services of the server (tracking in-flight sends for close, closing
 * the connection, logging). Link modules return a LinkHandler; the server
 * routes rhea's events for that link to it.
 */
import type { Connection, EventContext, Sender, link as Link } from 'rhea';
import type { Clock } from '../../common/clock';
import type { C2DError } from '../../common/errors';
import type { DeviceSession, HubApi, Principal } from '../api';
import type { ConnectionAuth } from './auth';

export type AmqpLog = (event: string, detail: Record<string, unknown>) => void;

/** Checks a `Bearer <jwt>` put-token (Microsoft Entra); resolves the principal or throws 401003. */
export type BearerVerifier = (token: string, audience: string) => Promise<Principal>;

/** The hub's own side of one AMQP connection (not the remote peer), as each link module sees it. */
export interface HubSide {
  readonly hub: HubApi;
  readonly clock: Clock;
  readonly auth: ConnectionAuth;
  readonly connection: Connection;
  /** 'amqp' or 'amqp-ws' (a TransportName), as reported to hub.noteConnection and in delivered events. */
  readonly protocol: string;
  readonly verifyBearer: BearerVerifier | undefined;
  readonly log: AmqpLog;
  /** The server is shutting down: new sends are refused. */
  readonly closing: boolean;
  /** The sender link on which put-token replies go (source `$cbs`), once attached. */
  cbsReplies: Sender | undefined;
  /** The hub's session for a device this connection acts for (D2C goes with it, so a fault it asks for hits this connection). */
  sessionOf(deviceId: string): DeviceSession | undefined;
  /** Keeps a service send in view until it settles, so close() can wait for it. */
  track(p: Promise<unknown>): void;
  /** Closes the whole connection with the error (the SDKs reconnect on that; they do not re-attach a detached link). */
  closeConnection(err: C2DError): void;
}

export type Outcome = 'accepted' | 'rejected' | 'released';

/** What a link is for, so a fault can find it (amqp/faults.ts). */
export type LinkKind = 'cbs-requests' | 'cbs-replies' | 'c2d' | 'd2c' | 'service-send' | 'feedback';

export interface LinkHandler {
  readonly kind?: LinkKind;
  /** The device a c2d or d2c link serves. */
  readonly deviceId?: string;
  /** Rechecks the link's right to exist after a token expired; throws 401003 when it has none. */
  reauthorize?(): void;
  onMessage?(ctx: EventContext): void;
  onOutcome?(ctx: EventContext, outcome: Outcome): void;
  /** The peer changed the link credit. */
  onFlow?(): void;
  /** The link or its connection is gone: release what the link holds. */
  onClose(): void;
}

/** Echoes the peer's terminus addresses in our attach, as the SDKs expect (sdk-wire.md §2.3). */
export function echoTermini(link: Link): void {
  link.set_source({ address: link.source?.address });
  link.set_target({ address: link.target?.address });
}

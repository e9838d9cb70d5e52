/**
 * Injected faults on one AMQP connection (lib/common/fault-injection.ts),
 * for one device it acts for: the socket cut with nothing said (KillTcp), the
 * connection closed with an error carrying the close reason or cleanly
 * (ShutDownAmqp), the device's session ended, or one of its links ($cbs
 * request or reply, C2D, D2C) detached with an error. What a fault takes down
 * is released at once (C2D locks go back to the queue), not when the peer
 * answers.
 */
import type { Receiver, Sender, Session } from 'rhea';
import { FAULT_AMQP_CONDITIONS, type ConnectionFault } from '../../common/fault-injection';
import type { AmqpError } from '../../common/codec/amqp';
import type { LinkHandler, LinkKind } from './peer';

export type Link = Sender | Receiver;

/** What a connection lets the fault module do. */
export interface FaultTarget {
  links(): Iterable<[Link, LinkHandler]>;
  /** Destroys the socket (or terminates the WebSocket): no AMQP close, no WebSocket close. */
  kill(): void;
  /** AMQP close with this error; the socket is cut if the peer does not answer in time. */
  closeConnection(error: AmqpError): void;
  /** AMQP close without an error. */
  shutDown(): void;
  /** Detaches the link with the error and releases what it held. */
  dropLink(link: Link, error: AmqpError): void;
  /** Ends the session with the error and releases its links. */
  endSession(session: Session, error: AmqpError): void;
}

function find(target: FaultTarget, kind: LinkKind, deviceId?: string): Link | undefined {
  for (const [link, h] of target.links()) if (h.kind === kind && (deviceId === undefined || h.deviceId === deviceId)) return link;
  return undefined;
}

/** The session the device's links are on (C2D first, then D2C, then the connection's $cbs links). */
function deviceSession(target: FaultTarget, deviceId: string): Session | undefined {
  const link = find(target, 'c2d', deviceId) ?? find(target, 'd2c', deviceId) ?? find(target, 'cbs-requests') ?? find(target, 'cbs-replies');
  return link?.session;
}

/** Performs `fault` for `deviceId`; false when this connection has nothing it applies to. */
export function performAmqpFault(target: FaultTarget, deviceId: string, fault: ConnectionFault): boolean {
  const error = (condition: string): AmqpError => ({ condition, description: fault.closeReason });
  const drop = (link: Link | undefined): boolean => {
    if (!link) return false;
    target.dropLink(link, error(FAULT_AMQP_CONDITIONS.link));
    return true;
  };
  switch (fault.type) {
    case 'KillTcp':
      target.kill();
      return true;
    case 'KillAmqpConnection':
      target.closeConnection(error(FAULT_AMQP_CONDITIONS.connection));
      return true;
    case 'ShutDownAmqp':
      target.shutDown();
      return true;
    case 'KillAmqpSession': {
      const session = deviceSession(target, deviceId);
      if (!session) return false;
      target.endSession(session, error(FAULT_AMQP_CONDITIONS.session));
      return true;
    }
    case 'KillAmqpCBSLinkReq':
      return drop(find(target, 'cbs-requests'));
    case 'KillAmqpCBSLinkResp':
      return drop(find(target, 'cbs-replies'));
    case 'KillAmqpC2DLink':
      return drop(find(target, 'c2d', deviceId));
    case 'KillAmqpD2CLink':
      return drop(find(target, 'd2c', deviceId));
    default:
      return false;
  }
}

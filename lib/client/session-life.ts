/**
 * The end of a client session, written once for every transport: a session
 * ends either because its connection was lost (the ConnectionKeeper is told,
 * and reconnects) or because the app closed it; either way its resources are
 * released exactly once.
 */
export abstract class SessionLife {
  private lostListener: ((cause: Error) => void) | undefined;
  protected closed = false;

  /** The keeper's hook: called once when the connection is lost (never after close()). */
  onLost(listener: (cause: Error) => void): void {
    this.lostListener = listener;
  }

  /** The connection went away: release, then tell the keeper. */
  protected lost(e: Error): void {
    if (this.closed) return;
    this.closed = true;
    this.release(e);
    this.lostListener?.(e);
  }

  /** The app closes the session: release (once) without telling the keeper. */
  protected markClosed(): void {
    if (this.closed) return;
    this.closed = true;
    this.release(new Error('The session was closed.'));
  }

  /** Fails what waits on this session and stops its timers. */
  protected abstract release(e: Error): void;
}

/** Authenticates a freshly opened session; on failure closes it (releasing its connection) and rethrows. */
export async function authenticated<S extends { authenticate(): Promise<void>; close(): Promise<void> }>(session: S): Promise<S> {
  try {
    await session.authenticate();
  } catch (e) {
    await session.close();
    throw e;
  }
  return session;
}

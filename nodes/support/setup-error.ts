/**
 * A config node's setup problem that only its user can fix (a missing or
 * malformed connection string, no device id, a hub without the port the
 * transport needs): 400004 for Catch nodes and the log, with the full reason,
 * plus a few words for the node status ("no connection string"), where a bare
 * "400004 ArgumentInvalid" would tell a person nothing.
 */
import { C2DError } from '../../lib/common/errors';

export class SetupError extends C2DError {
  constructor(
    /** The status text: short, lower case, never a secret. */
    readonly statusText: string,
    message: string,
  ) {
    super('ArgumentInvalid', message);
  }
}

/**
 * `POST /devices`: IoT Hub's bulk registry operation, what Node's
 * Registry.addDevices/updateDevices/removeDevices, Python's
 * bulk_create_or_update_devices and C#'s AddDevices2Async send. The body is
 * an array of up to 100 ExportImportDevice entries (`id`, `importMode`,
 * `eTag`, and the device fields); the reply is a BulkRegistryOperationResult
 * `{ isSuccessful, errors: [{ deviceId, errorCode, errorStatus }], warnings: [] }`
 * (field names from the C#, Python and Node service SDKs' models).
 *
 * A request that is malformed as a whole (not an array, too many entries,
 * an entry without an id or with an unknown importMode, an id given twice)
 * is refused before anything is applied. Otherwise every entry is applied in
 * order, each on its own: one that fails is reported in `errors` by IoT Hub's
 * error name and text, and the others still take effect. IoT Hub answers 200
 * when all succeeded and 400 with the same result shape when some did not
 * (the service REST spec lists both), which Node's Registry turns into an
 * ArgumentError carrying the result as its responseBody.
 */
import { BOUNDS } from '../../common/limits';
import { C2DError, errors } from '../../common/errors';
import { HttpWireError } from '../../common/codec/http-errors';
import { assertDeviceId } from '../../common/validate';
import type { HubApi } from '../api';
import { authenticateService } from './auth';
import { json, type RequestContext, type Reply } from './context';
import { deviceSpecFromObject, isObject, parseJsonBody } from './device-json';

/** importMode values by their lower-case spelling (Node writes `Update`, C# `update`). */
const IMPORT_MODES = {
  create: 'create',
  update: 'update',
  updateifmatchetag: 'updateIfMatchETag',
  delete: 'delete',
  deleteifmatchetag: 'deleteIfMatchETag',
} as const;
type ImportMode = (typeof IMPORT_MODES)[keyof typeof IMPORT_MODES];

export interface DeviceRegistryOperationError {
  deviceId: string;
  /** IoT Hub's error name, e.g. DeviceAlreadyExists. */
  errorCode: string;
  errorStatus: string;
}

export interface BulkRegistryOperationResult {
  isSuccessful: boolean;
  errors: DeviceRegistryOperationError[];
  warnings: { deviceId: string; warningCode: string; warningStatus: string }[];
}

interface Entry {
  id: string;
  mode: ImportMode;
  etag: string | undefined;
  body: Record<string, unknown>;
}

/** Checks the request as a whole; throws (nothing applied) when it is malformed. */
function entriesOf(v: unknown): Entry[] {
  if (!Array.isArray(v)) throw errors.invalid('The body of POST /devices must be a JSON array of device operations.');
  if (v.length === 0) throw errors.invalid('The bulk request names no device.');
  if (v.length > BOUNDS.maxBulkDevices) {
    throw new HttpWireError('TooManyDevices', `A bulk request may name at most ${BOUNDS.maxBulkDevices} devices (got ${v.length}).`);
  }
  const seen = new Set<string>();
  return v.map((e: unknown, i): Entry => {
    if (!isObject(e)) throw errors.invalid(`Entry ${i} of the bulk request is not an object.`);
    const id = e.id ?? e.deviceId;
    if (typeof id !== 'string') throw errors.invalid(`Entry ${i} of the bulk request has no device id.`);
    assertDeviceId(id);
    if (seen.has(id)) throw errors.invalid(`Device '${id}' appears more than once in the bulk request.`);
    seen.add(id);
    const mode = typeof e.importMode === 'string' ? IMPORT_MODES[e.importMode.toLowerCase() as keyof typeof IMPORT_MODES] : undefined;
    if (!mode) {
      throw errors.invalid(
        `Entry ${i} (device '${id}') has importMode ${JSON.stringify(e.importMode)}: use create, update, updateIfMatchETag, delete or deleteIfMatchETag.`,
      );
    }
    const etag = e.eTag ?? e.etag;
    return { id, mode, etag: typeof etag === 'string' && etag !== '' ? etag : undefined, body: e };
  });
}

function etagFor(e: Entry): string {
  if (e.etag === undefined) throw errors.precondition(`importMode ${e.mode} needs the device's eTag.`);
  return e.etag;
}

/** Applies one entry; throws the C2DError that goes into `errors`. */
async function apply(hub: HubApi, e: Entry): Promise<void> {
  const r = hub.registry;
  switch (e.mode) {
    case 'create':
      await r.createDevice(deviceSpecFromObject(e.id, e.body));
      return;
    case 'update':
      // Creates the device when absent, overwrites it regardless of its etag otherwise.
      await r.updateDevice(deviceSpecFromObject(e.id, e.body), '*');
      return;
    case 'updateIfMatchETag':
      if (!r.getDevice(e.id)) throw errors.deviceNotFound(e.id);
      await r.updateDevice(deviceSpecFromObject(e.id, e.body), etagFor(e));
      return;
    case 'delete':
      await r.deleteDevice(e.id);
      return;
    case 'deleteIfMatchETag':
      await r.deleteDevice(e.id, etagFor(e));
      return;
  }
}

export async function bulkRegistryOperation(ctx: RequestContext<{ kind: 'devices' }>): Promise<Reply> {
  await authenticateService(ctx, 'RegistryWrite', '/devices');
  const entries = entriesOf(parseJsonBody(ctx.body));
  const result: BulkRegistryOperationResult = { isSuccessful: true, errors: [], warnings: [] };
  for (const e of entries) {
    try {
      await apply(ctx.hub, e);
    } catch (err) {
      if (!(err instanceof C2DError)) throw err;
      result.isSuccessful = false;
      result.errors.push({ deviceId: e.id, errorCode: err.name, errorStatus: err.message });
    }
  }
  return json(result.isSuccessful ? 200 : 400, result);
}

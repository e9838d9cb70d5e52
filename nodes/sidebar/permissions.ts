/**
 * Who may use the sidebar's admin routes, by Node-RED's own permission check
 * (RED.auth.needsPermission, with adminAuth's users and scopes):
 *   c2d.read   see hub state (no key, no connection string)
 *   c2d.write  change it, and see keys and connection strings
 * Without adminAuth Node-RED lets everyone through, as for its own routes.
 *
 * Node-RED answers a missing permission with 401, as it does a missing
 * session. A changing route first asks for c2d.read (no session or no read
 * right: 401), then for c2d.write, whose refusal is turned into 403: the user
 * is known and may look, but not change.
 */
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { RED } from '../support/red';

export const READ = 'c2d.read';
export const WRITE = 'c2d.write';

type PermissionCheck = (permission: string) => RequestHandler;

function needsPermission(red: RED): PermissionCheck {
  return (red as unknown as { auth: { needsPermission: PermissionCheck } }).auth.needsPermission;
}

export function canRead(red: RED): RequestHandler[] {
  return [needsPermission(red)(READ)];
}

export function canWrite(red: RED): RequestHandler[] {
  const write = needsPermission(red)(WRITE);
  const forbidden: RequestHandler = (req: Request, res: Response, next: NextFunction) => {
    // The response as the check sees it: the same object in every way, except that its 401 becomes a 403.
    const asForbidden = new Proxy(res, {
      get(target, prop) {
        if (prop === 'status') return (code: number) => target.status(code === 401 ? 403 : code);
        const v: unknown = Reflect.get(target, prop, target);
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
      set: (target, prop, value) => Reflect.set(target, prop, value, target),
    });
    return write(req, asForbidden, next);
  };
  return [needsPermission(red)(READ), forbidden];
}

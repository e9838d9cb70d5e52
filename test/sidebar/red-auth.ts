/**
 * A real Node-RED with adminAuth, as a site that restricts its editor runs
 * it: users with every permission, with read only, with the C2D ones only,
 * and one without any c2d permission. Passwords are checked by a plain
 * function in settings.js (Node-RED's custom `authenticate`), so no hashing
 * library is needed. Used by the admin-route tests and the sidebar's browser tests.
 */
import { startRed, type RedOptions, type RedProcess } from '../install/red-process';

export const USERS = {
  admin: { password: 'admin-pass', permissions: '*' },
  viewer: { password: 'viewer-pass', permissions: 'read' },
  c2dOperator: { password: 'operator-pass', permissions: ['c2d.read', 'c2d.write'] },
  flowsOnly: { password: 'flows-pass', permissions: ['flows.read'] },
} as const;
export type UserName = keyof typeof USERS;

export const ADMIN_AUTH = `adminAuth: {
    type: 'credentials',
    users: function (username) {
      const u = (${JSON.stringify(USERS)})[username];
      return Promise.resolve(u ? { username: username, permissions: u.permissions } : null);
    },
    authenticate: function (username, password) {
      const u = (${JSON.stringify(USERS)})[username];
      return Promise.resolve(u && u.password === password ? { username: username, permissions: u.permissions } : null);
    },
  },`;

export async function startRedWithAuth(opts: Omit<RedOptions, 'extraSettings'>): Promise<RedProcess> {
  return startRed({ ...opts, extraSettings: ADMIN_AUTH });
}

/** An access token for the user, from Node-RED's /auth/token (the scope the user has). */
export async function tokenFor(red: RedProcess, user: UserName): Promise<string> {
  const res = await fetch(`${red.url}/auth/token`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ client_id: 'node-red-admin', grant_type: 'password', scope: '', username: user, password: USERS[user].password }),
  });
  if (!res.ok) throw new Error(`login as ${user}: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { access_token: string }).access_token;
}

export interface Answer<T = unknown> {
  status: number;
  body: T;
  text: string;
}

/** One admin API call with a bearer token (or none), whatever the status. */
export async function call<T = unknown>(red: RedProcess, method: string, route: string, token?: string, body?: unknown): Promise<Answer<T>> {
  const res = await fetch(red.url + route, {
    method,
    headers: {
      Accept: 'application/json',
      'Node-RED-API-Version': 'v2',
      ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}),
      ...(token ? { Authorization: `Bearer ${token}` } : {}),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let parsed: unknown = undefined;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = undefined;
  }
  return { status: res.status, body: parsed as T, text };
}

/** Waits until the sidebar lists the hub as running (it starts after the flows do). */
export async function waitForHub(red: RedProcess, hubId: string, token: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const hubs = await call<Array<{ id: string; running: boolean }>>(red, 'GET', '/c2d/hubs', token);
    if (hubs.body?.some((h) => h.id === hubId && h.running)) return;
    if (Date.now() > deadline) throw new Error(`the hub did not start: ${hubs.text}\n${red.log()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

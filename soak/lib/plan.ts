/**
 * What a soak run does, as numbers: the fleet, the load, the churn, the
 * settlement mix and the time windows the pass criteria compare. Two
 * profiles: `full` is the (1,000 MQTT, 200 AMQP, 50 HTTPS devices,
 * 500 msg/s), `ci` is the same mix scaled down for `npm test` on two cores.
 */
import type { DeviceTransport } from '../../lib';

export type Profile = 'full' | 'ci';

/** How a device settles a delivery, as probabilities that add up to 1. */
export interface SettleMix {
  complete: number;
  reject: number;
  abandon: number;
  /** Never settled: the lock expires and the message comes again. */
  ignore: number;
}

export interface SoakPlan {
  profile: Profile;
  minutes: number;
  devices: { mqtt: number; amqp: number; http: number; sleepy: number };
  /** Backend sends per second (steady). */
  ratePerSecond: number;
  /** Share of the sends that go to sleepy devices (offline most of the time, short TTLs, full queues). */
  sleepyShare: number;
  /** Each churn round takes this share of the (non-sleepy) devices off: half closed, half cut. */
  churnEveryMs: number;
  churnFraction: number;
  /** How long a closed device stays away, and for how long a cut one is refused, [min, max] ms. */
  awayMs: [number, number];
  refusedMs: [number, number];
  /** Sleepy devices: offline for [min, max] ms, then online for onlineMs. */
  sleepyOfflineMs: [number, number];
  sleepyOnlineMs: number;
  tokenLifetimeMs: number;
  tokenRenewalMarginMs: number;
  httpPollIntervalMs: number;
  settle: { mqtt: SettleMix; amqp: SettleMix; http: SettleMix };
  /** Share of feedback batches the backend abandons (they come again). */
  feedbackAbandon: number;
  /** Node-RED: a full redeploy every redeployEveryMs; each of its two flows sends every redInjectS seconds. */
  redeployEveryMs: number;
  redInjectS: number;
  /** The first warmupMinutes are not judged; then the first and last windowMinutes are compared. */
  warmupMinutes: number;
  windowMinutes: number;
  /** At the end: how long to wait for every queue to drain and every feedback batch to be settled. */
  drainTimeoutMs: number;
}

const MQTT_MIX: SettleMix = { complete: 0.97, reject: 0, abandon: 0, ignore: 0.03 };
const LINK_MIX: SettleMix = { complete: 0.93, reject: 0.03, abandon: 0.02, ignore: 0.02 };

export function planFor(profile: Profile, minutes: number): SoakPlan {
  const full = profile === 'full';
  const warmupMinutes = minutes >= 30 ? 10 : Math.max(1, Math.floor(minutes / 3));
  return {
    profile,
    minutes,
    devices: full ? { mqtt: 1000, amqp: 200, http: 50, sleepy: 20 } : { mqtt: 60, amqp: 24, http: 8, sleepy: 2 },
    ratePerSecond: full ? 500 : 40,
    sleepyShare: 0.04,
    churnEveryMs: 60_000,
    churnFraction: 0.1,
    awayMs: [2_000, 20_000],
    refusedMs: [1_000, 10_000],
    sleepyOfflineMs: full ? [60_000, 180_000] : [60_000, 100_000],
    sleepyOnlineMs: 15_000,
    tokenLifetimeMs: 120_000,
    tokenRenewalMarginMs: 30_000,
    httpPollIntervalMs: 1_000,
    settle: { mqtt: MQTT_MIX, amqp: LINK_MIX, http: LINK_MIX },
    feedbackAbandon: 0.05,
    redeployEveryMs: full ? 300_000 : 60_000,
    redInjectS: full ? 0.1 : 0.5,
    warmupMinutes,
    windowMinutes: Math.max(1, Math.min(10, Math.floor((minutes - warmupMinutes) / 2))),
    drainTimeoutMs: 150_000,
  };
}

export type FleetKind = 'mqtt' | 'amqp' | 'http';

/** One device of the soak fleet. `index` is its place in the plan's device list (the body carries it). */
export interface SoakDevice {
  index: number;
  deviceId: string;
  transport: DeviceTransport;
  sleepy: boolean;
}

/** Every device of a plan, in a fixed order: MQTT, AMQP, HTTPS, then the sleepy ones (AMQP). */
export function devicesOf(plan: SoakPlan): SoakDevice[] {
  const out: SoakDevice[] = [];
  const add = (n: number, prefix: string, transport: DeviceTransport, sleepy: boolean): void => {
    for (let i = 0; i < n; i++) out.push({ index: out.length, deviceId: `soak-${prefix}${i}`, transport, sleepy });
  };
  add(plan.devices.mqtt, 'm', 'mqtt', false);
  add(plan.devices.amqp, 'a', 'amqp', false);
  add(plan.devices.http, 'h', 'http', false);
  add(plan.devices.sleepy, 's', 'amqp', true);
  return out;
}

/** A uniform draw from [min, max]. */
export function between([min, max]: [number, number], rnd: () => number = Math.random): number {
  return min + (max - min) * rnd();
}

/**
 * The renewal margin of one device's SAS tokens: spread over
 * [tokenRenewalMarginMs, tokenLifetimeMs / 2] by the device's place in the
 * fleet, so the fleet does not renew in lockstep. (Its devices open within
 * seconds of each other; with one margin every MQTT device would reconnect
 * to renew in the same few seconds, every 90 s, a storm no real fleet makes.)
 */
export function renewalMarginMs(plan: SoakPlan, index: number): number {
  const min = plan.tokenRenewalMarginMs;
  const max = Math.max(min, plan.tokenLifetimeMs / 2);
  // Golden-ratio steps: any run of consecutive devices covers the range evenly.
  const u = (index * 0.6180339887498949) % 1;
  return Math.round(min + (max - min) * u);
}

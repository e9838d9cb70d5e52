/**
 * The soak's plan: its fleet renews SAS tokens spread over time, not in
 * lockstep (an MQTT device renews by reconnecting, so a lockstep fleet makes
 * a reconnection storm every renewal period that no real fleet makes).
 */
import assert from 'node:assert/strict';
import { devicesOf, planFor, renewalMarginMs } from '../../soak/lib/plan';

describe('soak plan', () => {
  for (const profile of ['full', 'ci'] as const) {
    it(`${profile}: devices renew their tokens spread over the renewal window, a few at a time`, () => {
      const plan = planFor(profile, 60);
      const mqtt = devicesOf(plan).filter((d) => d.transport === 'mqtt');
      const renewAfterS = mqtt.map((d) => (plan.tokenLifetimeMs - renewalMarginMs(plan, d.index)) / 1000);
      for (const s of renewAfterS) {
        assert.ok(s >= plan.tokenLifetimeMs / 2000 && s <= (plan.tokenLifetimeMs - plan.tokenRenewalMarginMs) / 1000, `renews after ${s} s`);
      }
      // Devices open within seconds of each other: no 5-second slot may hold more than a fifth of them.
      const slots = new Map<number, number>();
      for (const s of renewAfterS) slots.set(Math.floor(s / 5), (slots.get(Math.floor(s / 5)) ?? 0) + 1);
      assert.ok(Math.max(...slots.values()) <= mqtt.length / 5, `renewals per 5-second slot: ${JSON.stringify([...slots])}`);
    });
  }
});

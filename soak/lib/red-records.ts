/**
 * The records of the soak's Node-RED flows (red-probe.ts), as the driver
 * takes them every minute and adds them up: what each flow sent, received,
 * settled and got feedback for, by message id.
 */

export interface RedFlowRecords {
  accepted: string[];
  sendErrors: Record<string, number>;
  received: Record<string, number>;
  settled: Record<string, string[]>;
  settleErrors: Record<string, number>;
  feedback: Record<string, string[]>;
}

export const emptyRecords = (): RedFlowRecords => ({ accepted: [], sendErrors: {}, received: {}, settled: {}, settleErrors: {}, feedback: {} });

function addCounts(into: Record<string, number>, more: Record<string, number>): void {
  for (const [k, v] of Object.entries(more)) into[k] = (into[k] ?? 0) + v;
}

function addLists(into: Record<string, string[]>, more: Record<string, string[]>): void {
  for (const [k, v] of Object.entries(more)) (into[k] ??= []).push(...v);
}

/** Adds one takeRecords() answer to the driver's running records, flow by flow. */
export function mergeRecords(into: Record<string, RedFlowRecords>, more: Record<string, RedFlowRecords>): void {
  for (const [name, m] of Object.entries(more)) {
    const r = (into[name] ??= emptyRecords());
    for (const id of m.accepted) r.accepted.push(id);
    addCounts(r.sendErrors, m.sendErrors);
    addCounts(r.received, m.received);
    addLists(r.settled, m.settled);
    addCounts(r.settleErrors, m.settleErrors);
    addLists(r.feedback, m.feedback);
  }
}

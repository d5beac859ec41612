// Data shared by several views: the catalog, classifications on a date, rulesets in force.
import * as api from "./api.js";

export function catalog(params = {}) {
  return api.all("/v1/accelerators", { limit: 200, ...params });
}

export function classification(id, date) {
  return api.get(`/v1/accelerators/${encodeURIComponent(id)}/classification`, { as_of: date });
}

// Classify every item on `date`, a few requests at a time (the browser keeps ~6 connections).
export async function classifyAll(items, date, limit = 6) {
  const out = new Map();
  let next = 0;
  async function worker() {
    while (next < items.length) {
      const item = items[next++];
      try {
        out.set(item.id, await classification(item.id, date));
      } catch (error) {
        out.set(item.id, { error });
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

export async function rulesets() {
  return (await api.get("/v1/rulesets")).items;
}

export function ruleset(id) {
  return api.get(`/v1/rulesets/${encodeURIComponent(id)}`);
}

// Every date on which the set of rulesets in force changes, oldest first.
export function changeDates(list) {
  const dates = new Set();
  for (const r of list) {
    if (!r.enforced) continue;
    dates.add(r.effective_from);
    if (r.effective_to) dates.add(r.effective_to);
  }
  return [...dates].sort();
}

export async function countries() {
  return (await api.get("/v1/countries")).items;
}

export function flags(item) {
  const out = [];
  const kinds = item.sources || {};
  const figures = [
    ["die area", item.die_area_mm2],
    ["memory bandwidth", item.memory_bandwidth_gbps],
    ["interconnect bandwidth", item.interconnect_bandwidth_gbps],
    ...(item.throughput || []).map((t) => [`${t.precision} throughput`, t]),
  ];
  for (const [label, figure] of figures) {
    if (!figure || typeof figure !== "object") continue;
    if (figure.source && kinds[figure.source]?.kind === "unverified") out.push(`${label}: unverified source`);
    if (figure.min != null || figure.max != null) out.push(`${label}: a range`);
  }
  return out;
}

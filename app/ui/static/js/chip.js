// A chip's page: classification on a date with every clause and its margin, notes, citations,
// figures with their sources; history for a destination and buyer profile; today's answers for
// common destinations.
import * as api from "./api.js";
import { add, external, field, fmt, h, s, select, sortableTable, today } from "./dom.js";
import { classification, countries, flags } from "./data.js";
import { OUTCOME_COLOURS, render } from "./plot.js";
import {
  OUTCOMES,
  eccnBadge,
  errorBox,
  exceptionsText,
  figureText,
  isRanged,
  loading,
  outcomeBadge,
  outcomeOf,
  rangeNote,
} from "./ui.js";

export const COMMON_DESTINATIONS = ["CN", "HK", "MO", "SG", "MY", "TH", "AE", "IN", "DE", "US"];
const METRIC_LABELS = {
  tpp: "TPP",
  performance_density: "Performance density",
  interconnect_bandwidth_gbps: "Interconnect bandwidth (GB/s)",
  memory_bandwidth_gbps: "Memory bandwidth (GB/s)",
  memory_bandwidth_density: "Memory bandwidth density",
  datacenter: "Datacenter",
  kind: "Kind",
};

export async function chipView(container, { arg, params, remember }) {
  const id = arg;
  const state = {
    date: params.date || today(),
    destination: params.destination || "CN",
    headquarters: params.headquarters ?? "",
    parent: params.parent || "",
    transaction: params.transaction || "export",
  };
  const [item, places] = await Promise.all([api.get(`/v1/accelerators/${encodeURIComponent(id)}`), countries()]);
  const itemFlags = flags(item);
  container.append(
    ...[
    h("h1", {}, `${item.vendor} ${item.model}`),
    h(
      "p",
      { class: "muted" },
      `${item.id} · ${item.kind === "hbm" ? "HBM stack" : "logic IC"} · ${item.datacenter ? "designed or marketed for datacenters" : "not marketed for datacenters"}`,
      item.released ? ` · released ${item.released}` : "",
      ` · data ${item.data_version}`,
    ),
    itemFlags.length
      ? h("p", { class: "flag", role: "note" }, `⚠ Figures to treat with care: ${itemFlags.join("; ")}.`)
      : null,
    ].filter(Boolean),
  );

  const classSection = h("section", { "aria-labelledby": "cls-h" });
  const historySection = h("section", { "aria-labelledby": "hist-h" });
  const todaySection = h("section", { "aria-labelledby": "today-h" });
  container.append(classSection, figuresSection(item), historySection, todaySection);

  const save = () => remember(state);
  await Promise.all([
    classificationPart(classSection, item, state, save),
    historyPart(historySection, item, state, places, save),
    todayPart(todaySection, item),
  ]);
}

async function classificationPart(section, item, state, save) {
  const date = h("input", { type: "date", value: state.date, required: true, id: "cls-date" });
  const body = h("div");
  const form = h(
    "form",
    { class: "inline" },
    field("Classification on", date),
    h("button", { type: "submit" }, "Show"),
  );
  section.append(h("h2", { id: "cls-h" }, "Classification"), form, body);
  async function show() {
    state.date = date.value || today();
    save();
    body.replaceChildren();
    const spinner = loading(body);
    try {
      const c = await classification(item.id, state.date);
      spinner.replaceWith(classificationBody(c));
    } catch (error) {
      spinner.replaceWith(errorBox(error));
    }
  }
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    show();
  });
  await show();
}

function classificationBody(c) {
  const out = h("div", { class: "classification" });
  add(
    out,
    h(
      "div",
      { class: "verdict" },
      h("span", { class: "big" }, eccnBadge(c.eccn)),
      c.assembly_eccn ? h("span", {}, ` assemblies containing it: ${c.assembly_eccn}`) : null,
      h("p", { class: "summary" }, c.summary),
    ),
    rangeNote(c),
    h(
      "dl",
      { class: "facts" },
      h("dt", {}, "TPP"),
      h(
        "dd",
        { "data-metric": "tpp" },
        c.tpp ? `${fmt(c.tpp.value, 2)} (${fmt(c.tpp.dense_tops, 2)} dense TOPS at ${c.tpp.precision} × ${c.tpp.bit_length} bits)` : "not determined",
      ),
      h("dt", {}, "Performance density"),
      h("dd", { "data-metric": "performance_density" }, c.performance_density === null ? "not determined" : fmt(c.performance_density, 4)),
      c.memory_bandwidth_density !== null ? [h("dt", {}, "Memory bandwidth density"), h("dd", {}, fmt(c.memory_bandwidth_density, 4))] : null,
      h("dt", {}, "As of"),
      h("dd", {}, `${c.as_of} (data ${c.data_version})`),
    ),
  );
  const notes = [
    ...c.warnings.map((w) => h("li", { class: "flag" }, `⚠ ${w}`)),
    ...c.spec_notes.map((n) => h("li", {}, n)),
    ...c.notes_applied.map((n) => h("li", {}, `Note applied: ${n}`)),
  ];
  if (notes.length) out.append(h("ul", { class: "notes" }, notes));
  if (!c.rulesets.length) out.append(h("p", {}, "No advanced-computing ruleset was in force on this date."));
  for (const rc of c.rulesets) out.append(rulesetBlock(rc));
  out.append(h("p", { class: "muted" }, "Definitions: ", citation(c.definitions), ". ", c.disclaimer));
  return out;
}

function rulesetBlock(rc) {
  const r = rc.ruleset;
  const rows = [];
  for (const clause of rc.clauses) {
    rows.push(
      h(
        "tr",
        { class: "clause", "data-clause": clause.id },
        h("th", { scope: "rowgroup", colspan: 4 }, `${clause.id} (${clause.eccn}) — ${clause.met ? "met" : "not met"}: `, h("span", { class: "clause-text" }, clause.text)),
      ),
    );
    for (const cond of clause.conditions) rows.push(conditionRow(cond, clause.id));
  }
  for (const note of rc.notes) {
    rows.push(
      h(
        "tr",
        { class: "clause" },
        h("th", { scope: "rowgroup", colspan: 4 }, `${note.id} — ${note.applies ? "applies" : "does not apply"}: `, h("span", { class: "clause-text" }, note.text)),
      ),
    );
    for (const cond of note.conditions) rows.push(conditionRow(cond, note.id));
  }
  return h(
    "article",
    { class: "ruleset" },
    h("h3", {}, `${r.title}`),
    h(
      "p",
      { class: "muted" },
      `${r.id} · ${r.family} · in force ${r.effective_from} to ${r.effective_to || "today"} · ${r.source_kind}${r.enforced ? "" : " · NOT ENFORCED"} · ECCN under it: ${rc.eccn || "none"}`,
    ),
    h("p", {}, "Citations: ", r.citations.map((cit, i) => [i ? "; " : "", citation(cit)])),
    h(
      "div",
      { class: "table-wrap" },
      h(
        "table",
        { class: "data clauses" },
        h("caption", {}, `Clauses of ${r.id} with each condition's margin`),
        h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Condition"), h("th", { scope: "col" }, "Value"), h("th", { scope: "col" }, "Margin"), h("th", { scope: "col" }, "Met"))),
        h("tbody", {}, rows),
      ),
    ),
  );
}

function conditionRow(cond, clauseId) {
  const label = METRIC_LABELS[cond.metric] || cond.metric;
  return h(
    "tr",
    { "data-condition": `${clauseId} ${cond.metric} ${cond.operator} ${cond.threshold}` },
    h("td", {}, `${label} ${cond.operator} ${cond.threshold}`),
    h("td", { class: "num" }, cond.value === null ? "missing" : typeof cond.value === "number" ? fmt(cond.value, 4) : String(cond.value)),
    h("td", { class: "margin" }, marginBar(cond), h("span", { class: "explanation" }, cond.explanation)),
    h("td", {}, cond.met === null ? "unknown" : cond.met ? "✓ yes" : "✗ no"),
  );
}

// How far the value sits from the line: a bar from the threshold (centre) to the value, on a log
// scale (a full half-width is ten times above or below).
function marginBar(cond) {
  const value = Number(cond.value);
  const threshold = Number(cond.threshold);
  if (cond.margin === null || !(value > 0) || !(threshold > 0)) return null;
  const width = 160;
  const half = width / 2;
  const ratio = Math.max(-1, Math.min(1, Math.log10(value / threshold)));
  const x = half + ratio * half;
  const above = value >= threshold;
  return s(
    "svg",
    { class: "marginbar", width, height: 14, viewBox: `0 0 ${width} 14`, role: "img", "aria-label": cond.explanation },
    s("rect", { x: 0, y: 5, width, height: 4, class: "track" }),
    s("rect", { x: Math.min(x, half), y: 2, width: Math.max(1, Math.abs(x - half)), height: 10, class: above ? "above" : "below" }),
    s("line", { x1: half, x2: half, y1: 0, y2: 14, class: "line" }),
  );
}

function citation(cit) {
  if (!cit) return "—";
  const text = `${cit.source}${cit.document ? ` (${cit.document})` : ""} [${cit.source_kind}]`;
  return cit.url ? external(cit.url, text) : text;
}

function figuresSection(item) {
  const sources = item.sources || {};
  const row = (label, figure, unit) => {
    if (!figure) return null;
    const src = sources[figure.source];
    const unverified = src?.kind === "unverified";
    return h(
      "tr",
      { class: unverified || isRanged(figure) ? "flagged" : null },
      h("th", { scope: "row" }, label),
      h("td", { class: "num" }, `${figureText(figure)}${unit ? ` ${unit}` : ""}`),
      h(
        "td",
        {},
        src ? (src.url ? external(src.url, src.title) : src.title) : figure.source || "—",
        src ? ` [${src.kind}]` : "",
        unverified ? h("strong", { class: "flag" }, " ⚠ unverified") : null,
        isRanged(figure) ? h("strong", { class: "flag" }, " ⚠ range") : null,
      ),
      h("td", {}, figure.note || ""),
    );
  };
  return h(
    "section",
    { "aria-labelledby": "fig-h" },
    h("h2", { id: "fig-h" }, "Figures and sources"),
    h(
      "div",
      { class: "table-wrap" },
      h(
        "table",
        { class: "data" },
        h("thead", {}, h("tr", {}, ["Figure", "Value", "Source", "Note"].map((t) => h("th", { scope: "col" }, t)))),
        h(
          "tbody",
          {},
          (item.throughput || []).map((t) => row(`${t.precision} dense throughput`, t, "TOPS")),
          row("Die area", item.die_area_mm2, "mm²"),
          row("Memory bandwidth", item.memory_bandwidth_gbps, "GB/s"),
          row("Interconnect bandwidth", item.interconnect_bandwidth_gbps, "GB/s"),
          item.datacenter_evidence ? row("Datacenter marketing", { value: item.datacenter ? "yes" : "no", source: item.datacenter_evidence.source, note: item.datacenter_evidence.text }) : null,
        ),
      ),
    ),
  );
}

async function historyPart(section, item, state, places, save) {
  const options = places.map((c) => [c.code, `${c.code} ${c.name}`]);
  const dest = select({ id: "hist-dest" }, options, state.destination);
  const hq = select({ id: "hist-hq" }, [["", "Same as destination"], ...options], state.headquarters);
  const parent = select({ id: "hist-parent" }, [["", "None"], ...options], state.parent);
  const tx = select({ id: "hist-tx" }, [["export", "Export"], ["reexport", "Reexport"], ["transfer", "In-country transfer"]], state.transaction);
  const body = h("div");
  const form = h(
    "form",
    { class: "filters" },
    field("Destination", dest),
    field("Buyer headquarters", hq),
    field("Parent headquarters", parent),
    field("Transaction", tx),
    h("div", { class: "actions" }, h("button", { type: "submit" }, "Show history")),
  );
  section.append(h("h2", { id: "hist-h" }, "History"), form, body);
  async function show() {
    Object.assign(state, { destination: dest.value, headquarters: hq.value, parent: parent.value, transaction: tx.value });
    save();
    body.replaceChildren();
    const spinner = loading(body);
    try {
      const history = await api.get(`/v1/accelerators/${encodeURIComponent(item.id)}/history`, {
        destination: state.destination,
        headquarters: state.headquarters || state.destination,
        parent_headquarters: state.parent,
        transaction_type: state.transaction,
      });
      spinner.replaceWith(historyBody(history));
    } catch (error) {
      spinner.replaceWith(errorBox(error));
    }
  }
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    show();
  });
  await show();
}

function historyBody(history) {
  const start = new Date("2022-01-01");
  const now = new Date(today());
  const intervals = history.intervals.map((iv) => ({
    ...iv,
    outcome: outcomeOf(iv),
    from: iv.effective_from ? new Date(iv.effective_from) : start,
    to: iv.effective_to ? new Date(iv.effective_to) : new Date(Math.max(now, new Date(iv.effective_from)) + 180 * 864e5),
  }));
  const profile = `${history.destination}, buyer headquartered in ${history.headquarters || history.destination}${history.parent_headquarters ? ` with a parent in ${history.parent_headquarters}` : ""} (${history.transaction_type})`;
  const chart = render({
    width: 900,
    height: 90,
    marginLeft: 10,
    marginRight: 10,
    x: { type: "utc", label: null, domain: [start, intervals.at(-1).to] },
    y: { axis: null },
    color: OUTCOME_COLOURS,
    ariaLabel: `Outcome over time for ${profile}`,
    marks: [
      Plot.rectX(intervals, {
        x1: "from",
        x2: "to",
        y1: 0,
        y2: 1,
        fill: "outcome",
        stroke: "white",
        title: (d) => `${d.effective_from || "before"} to ${d.effective_to || "now"}: ${OUTCOMES[d.outcome]}; ${d.summary}`,
      }),
      Plot.ruleX([now], { stroke: "black", strokeDasharray: "3,3" }),
    ],
  });
  const legend = h(
    "ul",
    { class: "legend" },
    OUTCOME_COLOURS.domain.map((o) => h("li", { class: `key outcome-${o}` }, OUTCOMES[o])),
  );
  const rows = history.intervals.map((iv) =>
    h(
      "tr",
      {},
      h("td", {}, iv.effective_from || "—"),
      h("td", {}, iv.effective_to || "(in force)"),
      h("td", {}, eccnBadge(iv.eccn)),
      h("td", {}, outcomeBadge(iv)),
      h("td", {}, iv.review_policy || "—"),
      h("td", {}, exceptionsText(iv.license_exceptions)),
      h("td", {}, rangeNote(iv), iv.reasons.map((r) => h("div", {}, `${r.label} (${r.basis}; ${r.citation})`)), iv.warnings.map((w) => h("div", { class: "flag" }, `⚠ ${w}`))),
    ),
  );
  return h(
    "div",
    { class: "history" },
    h("p", {}, `Intervals between rule changes for ${profile}.`),
    h("figure", { class: "chart timeline" }, chart, h("figcaption", {}, legend)),
    h(
      "div",
      { class: "table-wrap" },
      h(
        "table",
        { class: "data" },
        h("caption", {}, `History for ${profile}`),
        h("thead", {}, h("tr", {}, ["From", "To", "ECCN", "Outcome", "Review policy", "Exceptions", "Reasons"].map((t) => h("th", { scope: "col" }, t)))),
        h("tbody", {}, rows),
      ),
    ),
  );
}

async function todayPart(section, item) {
  const date = today();
  section.append(
    h("h2", { id: "today-h" }, `Today (${date}) for common destinations`),
    h("p", { class: "muted" }, "Export to a buyer headquartered in the destination, no foreign parent."),
  );
  const spinner = loading(section);
  const answers = await Promise.all(
    COMMON_DESTINATIONS.map(async (code) => {
      try {
        const history = await api.get(`/v1/accelerators/${encodeURIComponent(item.id)}/history`, {
          destination: code,
          headquarters: code,
        });
        const iv = history.intervals.find((x) => (!x.effective_from || x.effective_from <= date) && (!x.effective_to || date < x.effective_to));
        return { code, iv };
      } catch (error) {
        return { code, error };
      }
    }),
  );
  spinner.replaceWith(
    sortableTable(
      [
        { key: "code", label: "Destination" },
        { key: "outcome", label: "Outcome", value: (r) => (r.iv ? OUTCOMES[outcomeOf(r.iv)] : "error"), render: (r) => (r.iv ? outcomeBadge(r.iv) : r.error?.message || "—") },
        { key: "exceptions", label: "Exception", value: (r) => (r.iv ? exceptionsText(r.iv.license_exceptions) : "") },
        { key: "policy", label: "Review policy", value: (r) => r.iv?.review_policy || "—" },
        { key: "eccn", label: "ECCN", value: (r) => r.iv?.eccn || "not 3A090" },
      ],
      answers,
      { caption: `Outcome today by destination`, initial: null, rowAttrs: (r) => ({ "data-destination": r.code }) },
    ),
  );
}

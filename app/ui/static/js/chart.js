// The chart: every catalog item by TPP (x) and performance density (y), log scales, with the
// regions of the classification clauses in force on the chosen date shaded. The regions come from
// the clauses the API reports for that date (metric, operator, threshold): no threshold is written
// here. A spec typed by the officer is classified by the API and plotted too.
import * as api from "./api.js";
import { field, fmt, h, select, sortableTable, today } from "./dom.js";
import { catalog, changeDates, classifyAll, rulesets } from "./data.js";
import { render } from "./plot.js";
import { eccnBadge, errorBox, loading, status } from "./ui.js";

const PLANE = new Set(["tpp", "performance_density"]);
const LABELS = {
  interconnect_bandwidth_gbps: "interconnect",
  memory_bandwidth_gbps: "memory bandwidth",
  memory_bandwidth_density: "memory bandwidth density",
  datacenter: "datacenter",
};
const ECCN_STYLE = {
  domain: ["3A090.a", "3A090.b", "3A090.c", "not 3A090"],
  region: ["#f6d5d2", "#fbe5bf", "#e8def8", "#e3f1e6"],
  point: ["#b3261e", "#8a4b00", "#6a3ea1", "#1e6b34"],
};
const PRECISIONS = ["fp64", "fp32", "tf32", "fp16", "bf16", "fp8", "int8", "fp6", "fp4", "int4"];
// a product "sits just under a line" when an unmet lower bound on TPP or performance density is
// within this fraction below its threshold (a display choice, not a regulatory number)
const NEAR = 0.85;

let officerSpec = null;

export async function chartView(container, { params, navigate, remember }) {
  const state = { date: params.date || today() };
  const [items, list] = await Promise.all([catalog(), rulesets()]);
  const versions = changeDates(list).map((d) => {
    const starting = list.filter((r) => r.enforced && r.effective_from === d).map((r) => r.id);
    return [d, `${d}${starting.length ? ` — ${starting.join(", ")}` : " — end of a ruleset"}`];
  });

  const date = h("input", { type: "date", value: state.date, required: true, id: "chart-date" });
  const version = select({ id: "chart-version" }, [["", "Jump to a rule change…"], ...versions], "");
  const prev = h("button", { type: "button", "aria-label": "Previous rule change" }, "◀ Previous change");
  const next = h("button", { type: "button", "aria-label": "Next rule change" }, "Next change ▶");
  const controls = h(
    "form",
    { class: "filters", "aria-label": "Chart date" },
    field("Rules as of", date),
    field("Rule versions", version),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Show"), prev, next),
  );
  const figure = h("div", { class: "chart-area" });
  const specForm = specControls(async (spec) => {
    officerSpec = spec;
    await draw();
  });
  container.append(
    h("h1", {}, "TPP and performance density"),
    h("p", { class: "muted" }, "Log scales. Shaded: the 3A090 regions of the rules in force on the date; points coloured by each item's ECCN on that date. Select a point to open its page; the table below the chart lists the same."),
    controls,
    figure,
    specForm,
  );

  async function draw() {
    state.date = date.value || today();
    remember(state);
    figure.replaceChildren();
    const spinner = loading(figure, `Classifying ${items.length} items on ${state.date}…`);
    const classes = await classifyAll(items, state.date);
    let spec = null;
    if (officerSpec) {
      try {
        spec = await api.post("/v1/classifications", { spec: officerSpec.spec, as_of: state.date });
      } catch (error) {
        spec = { error };
      }
    }
    spinner.remove();
    figure.append(chartBody(items, classes, spec, state.date, navigate));
    status(`Chart for ${state.date}.`);
  }

  function step(direction) {
    const dates = versions.map(([d]) => d);
    const current = date.value || today();
    const target = direction > 0 ? dates.find((d) => d > current) : [...dates].reverse().find((d) => d < current);
    if (target) {
      date.value = target;
      draw();
    }
  }
  controls.addEventListener("submit", (event) => {
    event.preventDefault();
    draw();
  });
  version.addEventListener("change", () => {
    if (version.value) {
      date.value = version.value;
      draw();
    }
  });
  prev.addEventListener("click", () => step(-1));
  next.addEventListener("click", () => step(1));
  await draw();
}

// Clauses on the TPP x performance density plane, from a classification's clause results.
function planeClauses(classification) {
  const clauses = [];
  const off = [];
  const notes = [];
  for (const rc of classification.rulesets) {
    for (const clause of rc.clauses) {
      const box = { id: clause.id, eccn: clause.eccn, text: clause.text, ruleset: rc.ruleset.id, tpp: [null, null], pd: [null, null], qualifiers: [] };
      let onPlane = true;
      for (const c of clause.conditions) {
        if (c.metric === "kind") {
          if (!String(c.threshold).split(/[,\s]+/).includes("logic")) onPlane = false;
        } else if (PLANE.has(c.metric)) {
          const bounds = c.metric === "tpp" ? box.tpp : box.pd;
          const t = Number(c.threshold);
          if (c.operator === ">=" || c.operator === ">") bounds[0] = Math.max(bounds[0] ?? -Infinity, t);
          else if (c.operator === "<" || c.operator === "<=") bounds[1] = Math.min(bounds[1] ?? Infinity, t);
        } else {
          box.qualifiers.push(`${LABELS[c.metric] || c.metric} ${c.operator} ${c.threshold}`);
        }
      }
      if (onPlane && (box.tpp[0] !== null || box.pd[0] !== null)) clauses.push(box);
      else off.push(box);
    }
    for (const note of rc.notes) notes.push({ id: note.id, text: note.text, ruleset: rc.ruleset.id });
  }
  return { clauses, off, notes };
}

function regionOf(point, clauses) {
  const inside = clauses.filter(
    (b) =>
      (b.tpp[0] === null || point.tpp >= b.tpp[0]) &&
      (b.tpp[1] === null || point.tpp < b.tpp[1]) &&
      (b.pd[0] === null || point.pd >= b.pd[0]) &&
      (b.pd[1] === null || point.pd < b.pd[1]),
  );
  if (!inside.length) return "uncontrolled region";
  inside.sort((a, b) => a.eccn.localeCompare(b.eccn));
  return inside.map((b) => `${b.id}${b.qualifiers.length ? ` if ${b.qualifiers.join(" and ")}` : ""}`).join("; ");
}

// The closest unmet lower bound on the plane, when it is within NEAR of its threshold.
function nearLine(classification) {
  let best = null;
  for (const rc of classification.rulesets) {
    for (const clause of rc.clauses) {
      for (const c of clause.conditions) {
        if (!PLANE.has(c.metric) || c.met !== false || !(c.operator === ">=" || c.operator === ">")) continue;
        const ratio = Number(c.value) / Number(c.threshold);
        if (ratio >= NEAR && ratio < 1 && (!best || ratio > best.ratio)) best = { ratio, text: `${c.metric === "tpp" ? "TPP" : "PD"} ${fmt(c.value, 4)} under ${c.threshold} (${clause.id})` };
      }
    }
  }
  return best;
}

function chartBody(items, classes, spec, date, navigate) {
  const points = [];
  const unplotted = [];
  let sample = null;
  for (const item of items) {
    const c = classes.get(item.id);
    if (!c || c.error) {
      unplotted.push(`${item.model} (${c?.error?.message || "no answer"})`);
      continue;
    }
    sample = sample || c;
    if (!(c.tpp?.value > 0) || !(c.performance_density > 0)) {
      unplotted.push(`${item.model} (${c.tpp ? "no performance density: die area missing" : "TPP not determined"})`);
      continue;
    }
    const near = nearLine(c);
    const range = c.range_analysis;
    points.push({
      id: item.id,
      model: `${item.vendor} ${item.model}`,
      tpp: c.tpp.value,
      pd: c.performance_density,
      eccn: c.eccn || "not 3A090",
      near: near ? near.text : null,
      officer: false,
      range: range ? (range.decisive ? range.summary : "a range, not decisive on this date") : null,
      tppMin: range?.tpp_min ?? c.tpp.value,
      tppMax: range?.tpp_max ?? c.tpp.value,
      pdMin: range?.performance_density_min ?? c.performance_density,
      pdMax: range?.performance_density_max ?? c.performance_density,
    });
  }
  if (spec && !spec.error && spec.tpp?.value > 0 && spec.performance_density > 0) {
    points.push({ id: null, model: "Your spec", tpp: spec.tpp.value, pd: spec.performance_density, eccn: spec.eccn || "not 3A090", near: nearLine(spec)?.text || null, officer: true });
    sample = sample || spec;
  }
  if (!sample) return h("p", {}, "Nothing to plot.");
  const { clauses, off, notes } = planeClauses(sample);
  for (const p of points) p.region = regionOf(p, clauses);

  const thresholds = (k) => clauses.flatMap((b) => b[k]).filter((v) => v !== null);
  const extent = (values) => [Math.min(...values) / 2, Math.max(...values) * 2];
  const [x0, x1] = extent([...points.flatMap((p) => [p.tpp, p.tppMin, p.tppMax]).filter((v) => v > 0), ...thresholds("tpp")]);
  const [y0, y1] = extent([...points.flatMap((p) => [p.pd, p.pdMin, p.pdMax]).filter((v) => v > 0), ...thresholds("pd")]);
  // regions, painted uncontrolled first, then 3A090.b, then 3A090.a on top (a takes precedence)
  const rank = (e) => ECCN_STYLE.domain.length - ECCN_STYLE.domain.indexOf(e);
  const boxes = [...clauses]
    .sort((a, b) => rank(a.eccn) - rank(b.eccn))
    .map((b) => ({
      ...b,
      x1: b.tpp[0] ?? x0,
      x2: b.tpp[1] ?? x1,
      y1: b.pd[0] ?? y0,
      y2: b.pd[1] ?? y1,
      label: `${b.id}${b.qualifiers.length ? `\nif ${b.qualifiers.join(", ")}` : ""}`,
    }));
  const regionFill = (eccn) => ECCN_STYLE.region[ECCN_STYLE.domain.indexOf(eccn)] || "#eee";
  const pointFill = (eccn) => ECCN_STYLE.point[ECCN_STYLE.domain.indexOf(eccn)] || "#333";
  const plotted = points.filter((p) => !p.officer);
  const officer = points.filter((p) => p.officer);
  const near = plotted.filter((p) => p.near);
  const ranged = plotted.filter((p) => p.range);
  const svg = render({
    width: 960,
    height: 560,
    marginLeft: 60,
    marginBottom: 44,
    x: { type: "log", domain: [x0, x1], label: "Total processing performance (TPP) →", grid: true },
    y: { type: "log", domain: [y0, y1], label: "↑ Performance density (TPP / mm²)", grid: true, tickFormat: "~g" },
    ariaLabel: `Catalog by TPP and performance density with the 3A090 regions in force on ${date}`,
    ariaDescription: `${plotted.length} items plotted; regions from ${[...new Set(clauses.map((b) => b.ruleset))].join(", ") || "no ruleset in force"}.`,
    marks: [
      Plot.frame({ fill: ECCN_STYLE.region[3] }),
      Plot.rect(boxes, { x1: "x1", x2: "x2", y1: "y1", y2: "y2", fill: (d) => regionFill(d.eccn), stroke: (d) => pointFill(d.eccn), strokeOpacity: 0.5 }),
      // each region's name at its lower-left corner (regions sharing an upper edge do not share it)
      Plot.text(boxes, { x: "x1", y: "y1", text: "label", textAnchor: "start", lineAnchor: "bottom", dx: 4, dy: -4, fill: (d) => pointFill(d.eccn), fontWeight: "bold" }),
      // a figure known only as a range: the span of TPP and density it allows
      Plot.link(ranged, { x1: "tppMin", y1: "pdMin", x2: "tppMax", y2: "pdMax", stroke: (d) => pointFill(d.eccn), strokeWidth: 2, strokeOpacity: 0.45 }),
      Plot.dot(near, { x: "tpp", y: "pd", r: 9, stroke: "black", strokeWidth: 1.5, strokeDasharray: "2,2" }),
      Plot.text(near, { x: "tpp", y: "pd", text: "model", dx: 10, textAnchor: "start", fill: "black", stroke: "white", strokeWidth: 3, paintOrder: "stroke" }),
      Plot.dot(plotted, {
        x: "tpp",
        y: "pd",
        r: 5,
        fill: (d) => pointFill(d.eccn),
        symbol: "eccn",
        stroke: "white",
        tip: true,
        channels: { Model: "model", ECCN: "eccn", Region: "region", "Near a line": "near", Range: "range" },
        ariaLabel: (d) => `${d.model}: TPP ${fmt(d.tpp, 0)}, performance density ${fmt(d.pd, 2)}, ${d.eccn} on ${date}`,
      }),
      Plot.dot(officer, { x: "tpp", y: "pd", r: 9, symbol: "star", fill: "#0b5cad", stroke: "white" }),
      Plot.text(officer, { x: "tpp", y: "pd", text: (d) => `Your spec: ${d.eccn}`, dy: -14, fill: "#0b5cad", fontWeight: "bold", stroke: "white", strokeWidth: 3, paintOrder: "stroke" }),
    ],
    symbol: { domain: ECCN_STYLE.domain, range: ["triangle", "square", "diamond", "circle"] },
  });
  svg.addEventListener("click", () => {
    const d = svg.value;
    if (d && d.id) navigate("chip", d.id, { date });
  });
  svg.classList.add("clickable");

  const legend = h(
    "ul",
    { class: "legend" },
    ECCN_STYLE.domain.map((e, i) => h("li", { class: `key eccn-key-${i}` }, e === "not 3A090" ? "Not 3A090 (uncontrolled region)" : e)),
    officer.length ? h("li", { class: "key officer" }, "★ your spec") : null,
    near.length ? h("li", { class: "key near" }, "◌ just under a line") : null,
    ranged.length ? h("li", { class: "key ranged" }, "a figure known only as a range (the bar spans it)") : null,
  );
  const table = sortableTable(
    [
      { key: "model", label: "Model", render: (p) => (p.id ? h("a", { href: `#/chip/${encodeURIComponent(p.id)}?date=${date}` }, p.model) : p.model) },
      { key: "tpp", label: "TPP", numeric: true, render: (p) => fmt(p.tpp, 0) },
      { key: "pd", label: "Perf. density", numeric: true, render: (p) => fmt(p.pd, 2) },
      { key: "eccn", label: `ECCN on ${date}`, render: (p) => eccnBadge(p.eccn === "not 3A090" ? null : p.eccn) },
      { key: "region", label: "Region on the chart" },
      { key: "near", label: "Just under a line" },
      { key: "range", label: "Ranged figure" },
    ],
    points,
    { caption: `Chart data on ${date}`, initial: { key: "tpp", direction: -1 }, rowAttrs: (p) => ({ "data-id": p.id || "officer-spec" }) },
  );
  return h(
    "div",
    { "data-date": date },
    h("figure", { class: "chart" }, svg, h("figcaption", {}, legend)),
    h(
      "div",
      { class: "chart-notes" },
      h("p", {}, `Rulesets in force on ${date}: ${[...new Set(sample.rulesets.map((rc) => rc.ruleset.id))].join(", ") || "none"}.`),
      clauses.length ? h("ul", {}, clauses.map((b) => h("li", {}, `${b.id} (${b.ruleset}): ${b.text}`))) : h("p", {}, "No 3A090 clause was in force: every item is uncontrolled."),
      off.length ? h("p", { class: "muted" }, `Not on this plane: ${off.map((b) => `${b.id} (${b.text})`).join("; ")}.`) : null,
      notes.length ? h("p", { class: "muted" }, `Notes not shaded (they depend on other facts): ${notes.map((n) => `${n.id}: ${n.text}`).join("; ")}.`) : null,
      unplotted.length ? h("p", { class: "muted" }, `Not plotted: ${unplotted.join("; ")}.`) : null,
      spec?.error ? errorBox(spec.error) : null,
    ),
    h("details", { class: "chart-table", open: true }, h("summary", {}, "Chart data as a table"), table),
  );
}

function specControls(onPlot) {
  const precision = select({}, PRECISIONS, "fp16");
  const tops = h("input", { type: "number", min: "0", step: "any", required: true, inputmode: "decimal" });
  const area = h("input", { type: "number", min: "0", step: "any", inputmode: "decimal" });
  const io = h("input", { type: "number", min: "0", step: "any", inputmode: "decimal" });
  const mem = h("input", { type: "number", min: "0", step: "any", inputmode: "decimal" });
  const dc = h("input", { type: "checkbox", id: "spec-dc", checked: true });
  const clearButton = h("button", { type: "button" }, "Remove spec");
  const form = h(
    "form",
    { class: "filters spec", "aria-labelledby": "spec-h" },
    h("h2", { id: "spec-h" }, "Plot a spec"),
    field("Precision", precision),
    field("Dense TOPS at that precision", tops),
    field("Die area (mm²)", area),
    field("Interconnect (GB/s)", io),
    field("Memory bandwidth (GB/s)", mem),
    h("div", { class: "check" }, dc, h("label", { for: "spec-dc" }, "Designed or marketed for datacenters")),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Plot spec"), clearButton),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const spec = { throughput: [{ precision: precision.value, dense_tops: Number(tops.value) }], datacenter: dc.checked };
    if (area.value) spec.die_area_mm2 = Number(area.value);
    if (io.value) spec.interconnect_bandwidth_gbps = Number(io.value);
    if (mem.value) spec.memory_bandwidth_gbps = Number(mem.value);
    onPlot({ spec });
  });
  clearButton.addEventListener("click", () => onPlot(null));
  return form;
}

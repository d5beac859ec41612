// Shared bits of the views: status line, outcome vocabulary, figures.
import { h } from "./dom.js";

export function status(text, kind = "info") {
  const el = document.getElementById("status");
  el.textContent = text;
  el.dataset.kind = kind;
}

// The outcome of a screening line or a history interval. A service that reports `outcome` (and
// `action`) itself is taken at its word; otherwise it is read off licence_required and exceptions.
export const OUTCOMES = {
  clear: "No licence required",
  exception: "Licence exception",
  license_required: "Licence required",
  undetermined: "Undetermined",
};

export function outcomeOf(x) {
  if (x.outcome) return x.outcome;
  if (x.license_required === null || x.license_required === undefined) return "undetermined";
  if (!x.license_required) return "clear";
  if (x.license_exceptions && x.license_exceptions.length) return "exception";
  return "license_required";
}

export function outcomeBadge(x) {
  const outcome = outcomeOf(x);
  return h(
    "span",
    { class: `badge outcome-${outcome}` },
    OUTCOMES[outcome] || outcome,
    x.action ? ` · ${x.action}` : null,
  );
}

export function eccnBadge(eccn) {
  return h("span", { class: `badge eccn-${eccn ? eccn.replace(/\W/g, "") : "none"}` }, eccn || "not 3A090");
}

export function exceptionsText(list) {
  if (!list || !list.length) return "—";
  return list.map((e) => `${e.code}${e.notification_required ? " (notification required)" : ""}`).join(", ");
}

// A figure as the catalog holds it: a value, or (once ranges exist) a min/max pair.
export function figureText(figure) {
  if (figure === null || figure === undefined) return "—";
  if (typeof figure !== "object") return String(figure);
  if (isRanged(figure)) return `${figure.min ?? "?"}–${figure.max ?? "?"} (range)`;
  return figure.value ?? figure.dense_tops ?? "—";
}

export function isRanged(figure) {
  return !!figure && typeof figure === "object" && (figure.min != null || figure.max != null);
}

// When a figure known only as a range decides the answer, what the API says about it.
export function rangeNote(x) {
  const analysis = x.range_analysis;
  if (!analysis) return null;
  return h(
    "div",
    { class: `range ${analysis.decisive ? "decisive" : ""}`, role: "note" },
    h("strong", {}, analysis.decisive ? "⚠ A ranged figure decides this answer. " : "Ranged figure, not decisive. "),
    analysis.summary,
    analysis.segments?.length
      ? h(
          "ul",
          {},
          analysis.segments.map((seg) =>
            h("li", {}, `${seg.figure} ${seg.low_inclusive ? "[" : "("}${seg.low}, ${seg.high}${seg.high_inclusive ? "]" : ")"}: ${seg.outcome}${seg.held ? ` (${seg.held})` : ""}`),
          ),
        )
      : null,
  );
}

export function loading(container, text = "Loading…") {
  const el = h("p", { class: "loading" }, text);
  container.append(el);
  return el;
}

export function errorBox(error) {
  const problem = error.problem || {};
  return h(
    "div",
    { class: "error", role: "alert" },
    h("strong", {}, problem.title || "Error"),
    " ",
    error.message,
    problem.errors?.length
      ? h("ul", {}, problem.errors.map((e) => h("li", {}, `${e.pointer || ""} ${e.detail || ""}`.trim())))
      : null,
    problem.request_id ? h("p", { class: "muted" }, `Request id ${problem.request_id}`) : null,
  );
}

// The reference-data change log and the impact of a change, on services that offer them
// (operations list_changes, verify_changes, analyse_impact, impact_between); the navigation hides
// them elsewhere.
import * as api from "./api.js";
import { field, h, sortableTable } from "./dom.js";
import { errorBox, loading, status } from "./ui.js";

function unavailable(container, what) {
  container.append(h("p", { class: "error", role: "alert" }, `This service does not offer ${what}.`));
}

function scalar(v) {
  return v === null || ["string", "number", "boolean"].includes(typeof v);
}

// A table of objects: one column per scalar field (in the first row's order), nested values as JSON.
export function objectTable(rows, caption) {
  if (!rows.length) return h("p", { class: "muted" }, "None.");
  const keys = Object.keys(rows[0]);
  return sortableTable(
    keys.map((k) => ({
      key: k,
      label: k.replaceAll("_", " "),
      value: (r) => (scalar(r[k]) ? r[k] : JSON.stringify(r[k])),
      render: (r) => (scalar(r[k]) ? (r[k] === null ? "—" : String(r[k])) : h("code", { class: "inline-json" }, JSON.stringify(r[k]))),
    })),
    rows,
    { caption, initial: null },
  );
}

export async function changesView(container, { can }) {
  container.append(h("h1", {}, "Change log"));
  const op = await api.offers("list_changes");
  if (!op) return unavailable(container, "a change log");
  if (!can("audit")) {
    container.append(h("p", { class: "error", role: "alert" }, "This key cannot read the change log: it lacks the audit scope."));
    return;
  }
  const verify = await api.offers("verify_changes");
  if (verify) {
    const box = h("div", { class: "verify", "aria-live": "polite" }, "Verifying the change log…");
    container.append(box);
    api
      .get(verify.path, null, { fresh: true })
      .then((v) => {
        box.className = `verify ${v.ok ? "ok" : "broken"}`;
        box.replaceChildren(h("strong", {}, v.ok ? "✓ Change log verified" : "✗ Change log broken"), ` ${JSON.stringify(v)}`);
      })
      .catch((error) => box.replaceChildren(errorBox(error)));
  }
  const spinner = loading(container);
  const items = await api.all(op.path);
  spinner.replaceWith(objectTable(items, "Reference-data changes, newest first"));
  status(`${items.length} changes.`);
}

export async function impactView(container) {
  container.append(h("h1", {}, "Impact of a change"));
  const between = await api.offers("impact_between");
  if (between) container.append(betweenForm(between));
  const op = await api.offers("analyse_impact");
  if (!op) {
    if (!between) unavailable(container, "impact analysis");
    return;
  }
  const examples = op.op.requestBody?.content?.["application/json"]?.examples;
  const example = examples ? Object.values(examples)[0]?.value : op.op.requestBody?.content?.["application/json"]?.example;
  const body = h("textarea", { rows: 14, cols: 80, spellcheck: "false", class: "json-input" }, example ? JSON.stringify(example, null, 2) : "{}");
  const result = h("div", { "aria-live": "polite" });
  const form = h(
    "form",
    { class: "impact" },
    h("h2", {}, "A proposed or stored change"),
    field("Request (a proposed document or the id of a stored change, and the date)", body, "JSON, as POST /v1/impact takes it; nothing is stored."),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Show impact")),
  );
  container.append(form, result);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    let parsed;
    try {
      parsed = JSON.parse(body.value);
    } catch (error) {
      result.replaceChildren(h("p", { class: "error", role: "alert" }, `Not JSON: ${error.message}`));
      return;
    }
    result.replaceChildren(h("p", { class: "loading" }, "Computing…"));
    try {
      showAnswer(result, await api.post(op.path, parsed));
    } catch (error) {
      result.replaceChildren(errorBox(error));
    }
  });
}

// Any answer: its lists of objects as tables, then the whole answer as JSON.
function showAnswer(result, answer) {
  const parts = [];
  for (const [k, v] of Object.entries(answer)) {
    if (Array.isArray(v) && v.length && typeof v[0] === "object") parts.push(h("h3", {}, k.replaceAll("_", " ")), objectTable(v, k));
  }
  result.replaceChildren(...parts, h("h3", {}, "Answer"), h("pre", { class: "json", tabindex: "0" }, JSON.stringify(answer, null, 2)));
  status("Impact computed.");
}

// What the published changes between two dates did (GET, nothing stored).
function betweenForm(op) {
  const from = h("input", { type: "date", required: true, value: "2025-04-08" });
  const to = h("input", { type: "date", required: true, value: "2025-04-09" });
  const result = h("div", { "aria-live": "polite" });
  const form = h(
    "form",
    { class: "filters", "aria-label": "Impact between two dates" },
    h("h2", {}, "Published changes between two dates"),
    field("From (exclusive)", from),
    field("To (inclusive)", to),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Show what changed")),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    result.replaceChildren(h("p", { class: "loading" }, "Computing…"));
    try {
      const answer = await api.get(op.path, { from: from.value, to: to.value }, { fresh: true });
      showAnswer(result, answer);
      if (answer.next_from) {
        // the answer holds the first change dates only: offer the rest from where it stopped
        from.value = answer.next_from;
        result.prepend(h("p", { class: "note", role: "status" }, `More changes after ${answer.next_from}: "From" is set there, show again for the rest.`));
      }
    } catch (error) {
      result.replaceChildren(errorBox(error));
    }
  });
  return h("div", {}, form, result);
}

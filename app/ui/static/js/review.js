// Review: the decision log (filters by date, outcome, reference), each decision's stored record
// verbatim, and the hash chain's verification status.
import * as api from "./api.js";
import { add, field, h, select, sortableTable } from "./dom.js";
import { screeningResult } from "./screen.js";
import { OUTCOMES, errorBox, loading, outcomeOf, status } from "./ui.js";

const MAX_RECORDS = 5000;
const RANK = ["clear", "exception", "undetermined", "license_required"];

// All decisions (oldest first, as the log is kept), up to MAX_RECORDS.
async function loadLog() {
  const items = [];
  let cursor = null;
  do {
    const page = await api.get("/v1/decisions", { limit: 200, cursor }, { fresh: true });
    items.push(...page.items);
    cursor = page.next_cursor;
  } while (cursor && items.length < MAX_RECORDS);
  return { items, truncated: Boolean(cursor) };
}

// A screening's outcome (as stored, or the most restrictive of its lines); null for records that are
// not screenings (a closure of a monitored order, ...).
export function decisionOutcome(record) {
  const response = record.response || {};
  if (response.outcome) return response.outcome;
  const lines = response.lines || [];
  if (!lines.length) return null;
  return lines.map(outcomeOf).reduce((a, b) => (RANK.indexOf(b) > RANK.indexOf(a) ? b : a), "clear");
}

function verification() {
  const box = h("div", { class: "verify", "aria-live": "polite" }, "Verifying the decision chain…");
  api
    .get("/v1/decisions/verify", null, { fresh: true })
    .then((v) => {
      box.className = `verify ${v.ok ? "ok" : "broken"}`;
      box.replaceChildren(
        h("strong", {}, v.ok ? "✓ Chain verified" : "✗ Chain broken"),
        ` — ${v.checked} decisions checked up to #${v.last_seq}; head ${v.head_hash.slice(0, 16)}…`,
        v.ok ? "" : ` First broken: #${v.first_broken_seq} (${v.first_broken_id}): ${v.problem}`,
      );
      box.dataset.ok = String(v.ok);
    })
    .catch((error) => box.replaceChildren(errorBox(error)));
  return box;
}

export async function reviewView(container, { can, params, remember }) {
  container.append(h("h1", {}, "Review"));
  if (!can("audit")) {
    container.append(h("p", { class: "error", role: "alert" }, "This key cannot read the decision log: it lacks the audit scope."));
    return;
  }
  container.append(verification());
  const from = h("input", { type: "date", value: params.from || "" });
  const to = h("input", { type: "date", value: params.to || "" });
  const outcome = select({}, [["", "Any"], ...Object.entries(OUTCOMES)], params.outcome || "");
  const reference = h("input", { type: "search", value: params.reference || "", maxlength: 200 });
  const form = h(
    "form",
    { class: "filters", role: "search", "aria-label": "Decision filters" },
    field("From (UTC)", from),
    field("To (UTC, inclusive)", to),
    field("Outcome", outcome),
    field("Reference contains", reference),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Filter")),
  );
  const results = h("div");
  container.append(form, results);
  const spinner = loading(results, "Loading the decision log…");
  const { items, truncated } = await loadLog();
  spinner.remove();

  function show() {
    const f = { from: from.value, to: to.value, outcome: outcome.value, reference: reference.value.trim() };
    remember(f);
    const rows = items
      .map((r) => ({
        record: r,
        seq: r.seq,
        id: r.id,
        created: r.created_at,
        reference: r.response?.reference || r.request?.reference || "",
        kind: r.kind,
        supersedes: r.response?.supersedes || "",
        destination: r.response?.destination || r.request?.destination || "",
        buyer: r.response?.end_user?.name || "",
        lines: (r.response?.lines || []).length,
        outcome: decisionOutcome(r),
      }))
      .filter((r) => !f.from || r.created.slice(0, 10) >= f.from)
      .filter((r) => !f.to || r.created.slice(0, 10) <= f.to)
      .filter((r) => !f.outcome || r.outcome === f.outcome)
      .filter((r) => !f.reference || r.reference.toLowerCase().includes(f.reference.toLowerCase()));
    results.replaceChildren(
      h("p", { class: "muted" }, `${rows.length} of ${items.length} decisions${truncated ? ` (the first ${items.length} of the log; narrow by date)` : ""}.`),
      sortableTable(
        [
          { key: "seq", label: "#", numeric: true },
          { key: "created", label: "Created (UTC)" },
          { key: "id", label: "Decision", render: (r) => h("a", { href: `#/review/${encodeURIComponent(r.id)}` }, r.id) },
          { key: "kind", label: "Kind" },
          { key: "reference", label: "Reference" },
          { key: "supersedes", label: "Supersedes", render: (r) => (r.supersedes ? h("a", { href: `#/review/${encodeURIComponent(r.supersedes)}` }, r.supersedes) : "—") },
          { key: "destination", label: "Destination" },
          { key: "buyer", label: "Buyer" },
          { key: "lines", label: "Lines", numeric: true },
          { key: "outcome", label: "Outcome", value: (r) => OUTCOMES[r.outcome] || r.outcome, render: (r) => (r.outcome ? h("span", { class: `badge outcome-${r.outcome}` }, OUTCOMES[r.outcome] || r.outcome) : "—") },
        ],
        rows,
        { caption: "Decisions, newest first (select a heading to sort)", initial: { key: "seq", direction: -1 }, rowAttrs: (r) => ({ "data-decision": r.id }) },
      ),
    );
    status(`${rows.length} decisions shown.`);
  }
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    show();
  });
  show();
}

export async function decisionView(container, { arg, can }) {
  container.append(h("p", {}, h("a", { href: "#/review" }, "← Decision log")), h("h1", {}, `Decision ${arg}`));
  if (!can("audit")) {
    container.append(h("p", { class: "error", role: "alert" }, "This key cannot read the decision log: it lacks the audit scope."));
    return;
  }
  container.append(verification());
  const { items } = await loadLog();
  const record = items.find((r) => r.id === arg);
  if (!record) {
    container.append(h("p", { class: "error", role: "alert" }, `No decision ${arg} in the log.`));
    return;
  }
  add(
    container,
    h(
      "dl",
      { class: "facts" },
      [
        ["Sequence", `#${record.seq}`],
      ["Created (UTC)", record.created_at],
      ["Kind", record.kind],
      ["API key id", record.api_key_id || "—"],
      ["Request id", record.request_id],
      ["Idempotency-Key", record.idempotency_key || "—"],
      ["Rulesets", record.rulesets.join(", ") || "none"],
      ["Data version", record.data_version],
      ["Previous hash", record.prev_hash],
      ["Hash", record.hash],
    ].map(([k, v]) => [h("dt", {}, k), h("dd", {}, h("code", {}, v))])),
    record.response?.lines ? screeningResult(record.response, null) : null,
    record.kind === "screening" ? monitoring(record, can) : null,
    h(
      "section",
      { "aria-labelledby": "stored-h" },
      h("h2", { id: "stored-h" }, "The stored record, as the log holds it"),
      h("pre", { class: "json", tabindex: "0", "aria-label": "Stored decision record as JSON", id: "stored-json" }, JSON.stringify(record, null, 2)),
    ),
  );
  status(`Decision ${record.id}.`);
}

// A monitored order (services that offer re-screening): its versions, status, and closing it.
function monitoring(record, can) {
  const box = h("section", { "aria-labelledby": "versions-h", class: "monitoring" });
  const id = record.response.screening_id || record.response.id;
  (async () => {
    const versionsOp = await api.offers("get_screening_versions");
    if (!versionsOp) return;
    let history;
    try {
      history = await api.get(`/v1/screenings/${encodeURIComponent(id)}/versions`, null, { fresh: true });
    } catch (error) {
      if (error.status !== 404) box.append(errorBox(error));
      return;
    }
    render(history);
  })();

  function render(history) {
    const m = history.monitor;
    box.replaceChildren(
      h("h2", { id: "versions-h" }, "Versions of this order"),
      h(
        "p",
        { "data-monitor": m ? m.status : "none" },
        m
          ? `Monitoring: ${m.status}${m.status === "open" ? ` until ${m.open_until}` : ""}; latest version ${m.version}${m.closed_at ? `; closed ${m.closed_at}: ${m.close_reason}` : ""}.`
          : "Not kept open: screened once.",
      ),
      sortableTable(
        [
          { key: "version", label: "Version", numeric: true },
          { key: "decision_id", label: "Decision", render: (v) => h("a", { href: `#/review/${encodeURIComponent(v.decision_id)}` }, v.decision_id) },
          { key: "created_at", label: "Created (UTC)" },
          { key: "outcome", label: "Outcome", value: (v) => OUTCOMES[v.outcome], render: (v) => h("span", { class: `badge outcome-${v.outcome}` }, OUTCOMES[v.outcome] || v.outcome) },
        ],
        history.versions,
        { caption: "Versions, latest first", initial: null },
      ),
      m && m.status === "open" && can("screen") ? closeForm(history) : null,
    );
  }

  function closeForm(history) {
    const status = select({}, [["shipped", "Shipped"], ["cancelled", "Cancelled"]], "shipped");
    const reason = h("input", { type: "text", required: true, maxlength: 500 });
    const form = h(
      "form",
      { class: "inline", "aria-label": "End monitoring" },
      field("Monitoring ends because", status),
      field("Reason (kept in the log)", reason),
      h("button", { type: "submit" }, "End monitoring"),
    );
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      try {
        render(await api.post(`/v1/screenings/${encodeURIComponent(history.screening_id)}/close`, { status: status.value, reason: reason.value }));
      } catch (error) {
        form.append(errorBox(error));
      }
    });
    return form;
  }
  return box;
}

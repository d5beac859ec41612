// Screen an order: destination, buyer, lines by catalog id or spec. The answer is a stored decision.
import * as api from "./api.js";
import { field, h, select } from "./dom.js";
import { catalog, countries } from "./data.js";
import { eccnBadge, errorBox, exceptionsText, outcomeBadge, rangeNote, status } from "./ui.js";

const PRECISIONS = ["fp64", "fp32", "tf32", "fp16", "bf16", "fp8", "int8", "fp6", "fp4", "int4"];

export async function screenView(container, { can }) {
  container.append(h("h1", {}, "Screen an order"));
  if (!can("screen")) {
    container.append(
      h("p", { class: "error", role: "alert", id: "no-screen" }, "This key cannot screen orders: it lacks the screen scope. Ask an administrator for a key with it."),
    );
    return;
  }
  const [items, places] = await Promise.all([catalog(), countries()]);
  const countryOptions = places.map((c) => [c.code, `${c.code} ${c.name}`]);
  const itemOptions = items.map((i) => [i.id, `${i.vendor} ${i.model}`]);

  const destination = select({ required: true }, [["", "Choose…"], ...countryOptions], "");
  const name = h("input", { type: "text", required: true, maxlength: 200, autocomplete: "organization" });
  const hq = select({}, [["", "Unknown"], ...countryOptions], "");
  const parent = select({}, [["", "None or unknown"], ...countryOptions], "");
  const reference = h("input", { type: "text", maxlength: 200 });
  const asOf = h("input", { type: "date" });
  const tx = select({}, [["export", "Export"], ["reexport", "Reexport"], ["transfer", "In-country transfer"]], "export");
  // services that re-screen open orders on rule changes take the expected ship date
  const monitored = (await api.offers("close_screening")) !== null;
  const openUntil = h("input", { type: "date" });
  const linesBody = h("div", { class: "lines" });
  const addLine = h("button", { type: "button" }, "Add a line");
  const submit = h("button", { type: "submit", class: "primary" }, "Screen");
  const result = h("div", { "aria-live": "polite" });
  const form = h(
    "form",
    { class: "screen", "aria-label": "Order" },
    h(
      "fieldset",
      {},
      h("legend", {}, "Order"),
      field("Destination", destination),
      field("Buyer name", name),
      field("Buyer headquarters", hq),
      field("Parent headquarters", parent),
      field("Order reference", reference, "Your order number; the review log can filter by it."),
      field("As of (default today)", asOf),
      field("Transaction", tx),
      monitored ? field("Keep open until (ship date)", openUntil, "Screened again on every rule change until then.") : null,
    ),
    h("fieldset", {}, h("legend", {}, "Lines"), linesBody, addLine),
    h("div", { class: "actions" }, submit),
  );
  container.append(form, result);

  let count = 0;
  function line() {
    count += 1;
    const n = count;
    const key = h("input", { type: "text", value: String(n), required: true, maxlength: 100 });
    const mode = select({}, [["catalog", "Catalog item"], ["spec", "Spec"]], "catalog");
    const item = select({}, itemOptions, itemOptions[0]?.[0]);
    const quantity = h("input", { type: "number", min: "1", step: "1", value: "1", required: true });
    const precision = select({}, PRECISIONS, "fp16");
    const tops = h("input", { type: "number", min: "0", step: "any" });
    const area = h("input", { type: "number", min: "0", step: "any" });
    const io = h("input", { type: "number", min: "0", step: "any" });
    const mem = h("input", { type: "number", min: "0", step: "any" });
    const dcId = `line-${n}-dc`;
    const dc = h("input", { type: "checkbox", id: dcId, checked: true });
    const specFields = h("div", { class: "spec-fields", hidden: true }, field("Precision", precision), field("Dense TOPS", tops), field("Die area (mm²)", area), field("Interconnect (GB/s)", io), field("Memory bandwidth (GB/s)", mem), h("div", { class: "check" }, dc, h("label", { for: dcId }, "Datacenter")));
    const itemField = field("Catalog item", item);
    const remove = h("button", { type: "button", "aria-label": `Remove line ${n}` }, "Remove");
    const row = h("fieldset", { class: "line" }, h("legend", {}, `Line ${n}`), field("Line key", key), field("Described by", mode), itemField, specFields, field("Quantity", quantity), remove);
    mode.addEventListener("change", () => {
      specFields.hidden = mode.value !== "spec";
      itemField.hidden = mode.value === "spec";
      tops.required = mode.value === "spec";
    });
    remove.addEventListener("click", () => {
      if (linesBody.children.length > 1) row.remove();
    });
    row.read = () => {
      const out = { key: key.value.trim(), quantity: Number(quantity.value) };
      if (mode.value === "catalog") out.accelerator_id = item.value;
      else {
        out.spec = { throughput: [{ precision: precision.value, dense_tops: Number(tops.value) }], datacenter: dc.checked };
        if (area.value) out.spec.die_area_mm2 = Number(area.value);
        if (io.value) out.spec.interconnect_bandwidth_gbps = Number(io.value);
        if (mem.value) out.spec.memory_bandwidth_gbps = Number(mem.value);
      }
      return out;
    };
    linesBody.append(row);
  }
  line();
  addLine.addEventListener("click", line);

  // one Idempotency-Key per order as typed: a double submit or a retry after a network error
  // replays the stored decision instead of making a second one; any edit makes a new order
  let idempotencyKey = crypto.randomUUID();
  form.addEventListener("input", () => {
    idempotencyKey = crypto.randomUUID();
  });

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = {
      destination: destination.value,
      end_user: { name: name.value },
      lines: [...linesBody.children].map((row) => row.read()),
      transaction_type: tx.value,
    };
    if (hq.value) body.end_user.headquarters = hq.value;
    if (parent.value) body.end_user.parent_headquarters = parent.value;
    if (reference.value.trim()) body.reference = reference.value.trim();
    if (asOf.value) body.as_of = asOf.value;
    if (monitored && openUntil.value) body.open_until = openUntil.value;
    submit.disabled = true;
    result.replaceChildren(h("p", { class: "loading" }, "Screening…"));
    try {
      const answer = await api.post("/v1/screenings", body, { "Idempotency-Key": idempotencyKey });
      result.replaceChildren(screeningResult(answer, can));
      status(`Screening stored as decision ${answer.id}.`);
    } catch (error) {
      result.replaceChildren(errorBox(error));
    } finally {
      submit.disabled = false;
    }
  });
}

export function screeningResult(answer, can) {
  return h(
    "section",
    { class: "result", "aria-labelledby": "result-h", "data-screening": answer.id || "" },
    h("h2", { id: "result-h" }, "Result"),
    h(
      "p",
      {},
      answer.id ? ["Decision ", h("code", { class: "decision-id" }, answer.id), " stored. "] : "Not stored (hypothetical). ",
      answer.id && can && can("audit") ? h("a", { href: `#/review/${encodeURIComponent(answer.id)}` }, "Open in the review log") : null,
    ),
    h(
      "p",
      {},
      `${answer.destination}${answer.treated_as ? ` (treated as ${answer.treated_as})` : ""} · ${answer.end_user.name} · ${answer.transaction_type}`,
      answer.reference ? ` · reference ${answer.reference}` : "",
      ` · licence required: ${answer.license_required === null ? "undetermined" : answer.license_required ? "yes" : "no"}`,
      answer.open_until ? ` · kept open until ${answer.open_until}` : "",
      answer.supersedes ? ` · supersedes ${answer.supersedes}` : "",
    ),
    answer.outcome ? h("p", { class: "order-outcome" }, "Order: ", outcomeBadge(answer)) : null,
    answer.warnings.length ? h("ul", { class: "notes" }, answer.warnings.map((w) => h("li", { class: "flag" }, `⚠ ${w}`))) : null,
    h(
      "div",
      { class: "table-wrap" },
      h(
        "table",
        { class: "data" },
        h("caption", {}, "Lines"),
        h("thead", {}, h("tr", {}, ["Line", "Item", "Qty", "ECCN", "Outcome", "Reasons", "Exceptions", "Review policy", "Warnings"].map((t) => h("th", { scope: "col" }, t)))),
        h(
          "tbody",
          {},
          answer.lines.map((l) =>
            h(
              "tr",
              { "data-line": l.key },
              h("td", {}, l.key),
              h("td", {}, l.accelerator_id ? h("a", { href: `#/chip/${encodeURIComponent(l.accelerator_id)}` }, l.accelerator_id) : "spec"),
              h("td", { class: "num" }, String(l.quantity)),
              h("td", {}, eccnBadge(l.classification.eccn)),
              h("td", {}, outcomeBadge(l)),
              h("td", {}, l.reasons.length ? l.reasons.map((r) => h("div", {}, `${r.label}: ${r.detail} (${r.basis}; ${r.citation}; ${r.source_kind})`)) : "—"),
              h("td", {}, exceptionsText(l.license_exceptions)),
              h("td", {}, l.review_policy || "—"),
              h("td", {}, rangeNote(l), l.warnings.length ? l.warnings.map((w) => h("div", { class: "flag" }, `⚠ ${w}`)) : "—"),
            ),
          ),
        ),
      ),
    ),
    answer.provenance
      ? h("p", { class: "muted" }, `As of ${answer.provenance.as_of}; rulesets ${answer.provenance.rulesets.map((r) => r.id).join(", ") || "none"}; data ${answer.provenance.data_version}; engine ${answer.provenance.engine}; evaluated ${answer.provenance.evaluated_at}.`)
      : null,
    h("p", { class: "muted" }, answer.disclaimer),
  );
}

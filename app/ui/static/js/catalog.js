// Catalog: search and filter (server side), ECCN on a date (each item classified on that date),
// a sortable table, CSV download of what is shown.
import { field, fmt, h, select, sortableTable, today } from "./dom.js";
import { catalog, classifyAll, flags } from "./data.js";
import { eccnBadge, errorBox, loading, status } from "./ui.js";

const ECCNS = [
  ["", "Any"],
  ["3A090.a", "3A090.a"],
  ["3A090.b", "3A090.b"],
  ["3A090.c", "3A090.c"],
  ["none", "Not 3A090"],
];

export async function catalogView(container, { params, remember }) {
  const state = {
    q: params.q || "",
    vendor: params.vendor || "",
    datacenter: params.datacenter || "",
    eccn: params.eccn || "",
    date: params.date || today(),
  };
  const all = await catalog();
  const vendors = [...new Set(all.map((i) => i.vendor))].sort();

  const q = h("input", { type: "search", value: state.q, placeholder: "model, alias or id", maxlength: 100 });
  const vendor = select({}, [["", "Any"], ...vendors], state.vendor);
  const datacenter = select({}, [["", "Any"], ["true", "Datacenter"], ["false", "Not datacenter"]], state.datacenter);
  const eccn = select({}, ECCNS, state.eccn);
  const date = h("input", { type: "date", value: state.date, required: true });
  const download = h("button", { type: "button" }, "Download CSV");
  const form = h(
    "form",
    { class: "filters", role: "search", "aria-label": "Catalog filters" },
    field("Search", q),
    field("Vendor", vendor),
    field("Datacenter", datacenter),
    field("ECCN on", date),
    field("ECCN", eccn),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Apply"), download),
  );
  const results = h("div", { "aria-live": "polite" });
  container.append(h("h1", {}, "Catalog"), form, results);

  let rows = [];
  async function load() {
    Object.assign(state, {
      q: q.value.trim(),
      vendor: vendor.value,
      datacenter: datacenter.value,
      eccn: eccn.value,
      date: date.value || today(),
    });
    remember(state);
    results.replaceChildren();
    const spinner = loading(results, `Classifying the catalog on ${state.date}…`);
    let items;
    try {
      items = await catalog({ q: state.q, vendor: state.vendor, datacenter: state.datacenter });
    } catch (error) {
      spinner.replaceWith(errorBox(error));
      return;
    }
    const classes = await classifyAll(items, state.date);
    rows = items
      .map((item) => {
        const c = classes.get(item.id) || {};
        return {
          id: item.id,
          model: item.model,
          vendor: item.vendor,
          datacenter: item.datacenter,
          tpp: c.tpp ? c.tpp.value : null,
          pd: c.performance_density ?? null,
          eccn: c.error ? "error" : c.eccn || "none",
          flags: flags(item).concat(c.warnings || []),
        };
      })
      .filter((r) => !state.eccn || r.eccn === state.eccn);
    spinner.remove();
    results.append(
      h("p", { class: "muted" }, `${rows.length} of ${all.length} items; ECCN as of ${state.date}.`),
      sortableTable(
        [
          { key: "model", label: "Model", render: (r) => h("a", { href: `#/chip/${encodeURIComponent(r.id)}?date=${state.date}` }, r.model) },
          { key: "vendor", label: "Vendor" },
          { key: "datacenter", label: "Datacenter", value: (r) => (r.datacenter ? "yes" : "no") },
          { key: "tpp", label: "TPP", numeric: true, render: (r) => fmt(r.tpp, 0) },
          { key: "pd", label: "Perf. density", numeric: true, render: (r) => fmt(r.pd, 2) },
          { key: "eccn", label: `ECCN on ${state.date}`, render: (r) => eccnBadge(r.eccn === "none" ? null : r.eccn) },
          {
            key: "flags",
            label: "Flags",
            value: (r) => r.flags.length,
            render: (r) => (r.flags.length ? h("span", { class: "flag", title: r.flags.join("; ") }, `⚠ ${r.flags.join("; ")}`) : ""),
          },
        ],
        rows,
        { caption: "Accelerators (select a column heading to sort)", rowAttrs: (r) => ({ "data-id": r.id }) },
      ),
    );
    status(`${rows.length} items shown.`);
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    load();
  });
  download.addEventListener("click", () => downloadCsv(rows, state.date));
  await load();
}

function downloadCsv(rows, date) {
  // d3.csvFormat quotes and escapes every field; a leading = + - @ is prefixed with ' so a
  // spreadsheet never runs a cell as a formula
  const safe = (v) => (typeof v === "string" && /^[=+\-@\t\r]/.test(v) ? `'${v}` : v);
  const text = d3.csvFormat(
    rows.map((r) => ({
      id: safe(r.id),
      vendor: safe(r.vendor),
      model: safe(r.model),
      datacenter: r.datacenter,
      tpp: r.tpp ?? "",
      performance_density: r.pd ?? "",
      [`eccn_${date}`]: r.eccn === "none" ? "" : r.eccn,
      flags: safe(r.flags.join("; ")),
    })),
  );
  const url = URL.createObjectURL(new Blob([text], { type: "text/csv;charset=utf-8" }));
  const a = h("a", { download: `chipclass-catalog-${date}.csv` });
  a.href = url;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

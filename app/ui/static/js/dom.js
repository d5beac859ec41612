// DOM helpers. Text always goes in through textContent, attributes through setAttribute: nothing
// from the API or the officer is ever parsed as HTML, so nothing needs hand escaping.

export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

const SVG = "http://www.w3.org/2000/svg";

export function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG, tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

function setAttrs(el, attrs) {
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") el.addEventListener(name.slice(2), value);
    else if (name === "dataset") Object.assign(el.dataset, value);
    else if (name === "href") el.setAttribute("href", safeHref(value));
    else el.setAttribute(name, value === true ? "" : String(value));
  }
}

// Element.append writes null as the text "null": this skips null, undefined and false.
export function add(el, ...children) {
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

// Links only to this page's routes, this origin, or http(s): never javascript: or data: from data.
export function safeHref(value) {
  const text = String(value);
  if (text.startsWith("#") || text.startsWith("/")) return text;
  try {
    const url = new URL(text);
    if (url.protocol === "https:" || url.protocol === "http:") return url.href;
  } catch {
    // not a URL
  }
  return "#";
}

export function clear(el) {
  while (el.firstChild) el.firstChild.remove();
  return el;
}

export function external(url, text) {
  return h("a", { href: url, rel: "noopener noreferrer", target: "_blank" }, text || url);
}

export function field(label, control, hint) {
  const id = control.id || `f-${Math.random().toString(36).slice(2, 10)}`;
  control.id = id;
  const hintEl = hint ? h("span", { class: "hint", id: `${id}-hint` }, hint) : null;
  if (hintEl) control.setAttribute("aria-describedby", hintEl.id);
  return h("div", { class: "field" }, h("label", { for: id }, label), control, hintEl);
}

export function select(attrs, options, selected) {
  const el = h("select", attrs);
  for (const opt of options) {
    const [value, label] = Array.isArray(opt) ? opt : [opt, opt];
    const o = h("option", { value }, label);
    if (String(value) === String(selected ?? "")) o.selected = true;
    el.append(o);
  }
  return el;
}

// A sortable table: columns [{key, label, value(row), render(row), numeric}]; header buttons sort.
export function sortableTable(columns, rows, { caption, initial, rowAttrs } = {}) {
  // initial === null keeps the rows in the order given until a heading is chosen
  let sortKey = initial === null ? null : (initial?.key ?? columns[0].key);
  let direction = initial?.direction ?? 1;
  const tbody = h("tbody");
  const headCells = columns.map((col) => {
    const button = h("button", { type: "button", class: "sort" }, col.label);
    const th = h("th", { scope: "col", class: col.numeric ? "num" : null }, button);
    button.addEventListener("click", () => {
      direction = sortKey === col.key ? -direction : 1;
      sortKey = col.key;
      render();
    });
    return th;
  });
  const table = h(
    "table",
    { class: "data" },
    caption ? h("caption", {}, caption) : null,
    h("thead", {}, h("tr", {}, headCells)),
    tbody,
  );

  function render() {
    const col = columns.find((c) => c.key === sortKey);
    const value = col ? col.value || ((r) => r[col.key]) : null;
    const sorted = value ? [...rows].sort((a, b) => direction * compare(value(a), value(b))) : rows;
    headCells.forEach((th, i) => {
      const key = columns[i].key;
      th.setAttribute("aria-sort", key === sortKey ? (direction > 0 ? "ascending" : "descending") : "none");
    });
    clear(tbody);
    for (const row of sorted) {
      tbody.append(
        h(
          "tr",
          rowAttrs ? rowAttrs(row) : {},
          columns.map((c) => h("td", { class: c.numeric ? "num" : null }, c.render ? c.render(row) : value0(c, row))),
        ),
      );
    }
  }
  render();
  return h("div", { class: "table-wrap" }, table);
}

function value0(col, row) {
  const v = col.value ? col.value(row) : row[col.key];
  return v === null || v === undefined ? "—" : v;
}

function compare(a, b) {
  const na = a === null || a === undefined || a === "";
  const nb = b === null || b === undefined || b === "";
  if (na || nb) return na === nb ? 0 : na ? 1 : -1;
  if (typeof a === "number" && typeof b === "number") return a - b;
  return String(a).localeCompare(String(b), undefined, { numeric: true });
}

export function fmt(n, digits = 2) {
  if (n === null || n === undefined || n === "") return "—";
  const x = Number(n);
  if (!Number.isFinite(x)) return String(n);
  return x.toLocaleString("en-US", { maximumFractionDigits: digits });
}

export function today() {
  return new Date().toISOString().slice(0, 10);
}

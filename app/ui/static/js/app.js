// The page shell: sign-in, navigation by hash routes (#/catalog, #/chip/ID, ...), one view at a time.
import * as api from "./api.js";
import { clear, field, h } from "./dom.js";
import { errorBox, status } from "./ui.js";
import { catalogView } from "./catalog.js";
import { chipView } from "./chip.js";
import { chartView } from "./chart.js";
import { screenView } from "./screen.js";
import { reviewView, decisionView } from "./review.js";
import { changesView, impactView } from "./changes.js";

const VIEWS = {
  catalog: catalogView,
  chip: chipView,
  chart: chartView,
  screen: screenView,
  review: reviewView,
  decision: decisionView,
  changes: changesView,
  impact: impactView,
};

const main = document.getElementById("main");
let principal = null;
let renderCount = 0;

function parseRoute() {
  const raw = location.hash.replace(/^#\/?/, "");
  const [path, query = ""] = raw.split("?");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  const params = Object.fromEntries(new URLSearchParams(query));
  let name = parts[0] || "catalog";
  let arg = parts[1] || null;
  if (name === "review" && arg) name = "decision";
  return { name, arg, params };
}

export function navigate(name, arg, params) {
  const path = arg ? `${name}/${encodeURIComponent(arg)}` : name;
  const query = new URLSearchParams(Object.entries(params || {}).filter(([, v]) => v !== "" && v != null));
  const text = query.toString();
  const target = `#/${path}${text ? `?${text}` : ""}`;
  if (location.hash === target) route();
  else location.hash = target;
}

// Replaces the query of the current route without a new render (for controls that re-render
// their own part of the view) so the address can be bookmarked and shared (it never holds the key).
export function remember(params) {
  const { name, arg } = parseRoute();
  const path = arg ? `${name === "decision" ? "review" : name}/${encodeURIComponent(arg)}` : name;
  const query = new URLSearchParams(Object.entries(params).filter(([, v]) => v !== "" && v != null)).toString();
  history.replaceState(null, "", `#/${path}${query ? `?${query}` : ""}`);
}

function can(scope) {
  if (!principal) return false;
  return principal.scopes.includes("admin") || principal.scopes.includes(scope);
}

async function route() {
  if (!api.signedIn()) return showSignIn();
  if (!principal) {
    try {
      principal = await api.get("/v1/keys/current", null, { fresh: true });
    } catch (error) {
      api.signOut();
      return showSignIn(error.status === 401 ? "That key is unknown or revoked." : error.message);
    }
    await showNav();
  }
  const { name, arg, params } = parseRoute();
  const view = VIEWS[name];
  const token = ++renderCount;
  const container = h("div", { class: "view" });
  clear(main).append(container);
  delete main.dataset.ready;
  markNav(name);
  status("");
  if (!view) {
    container.append(h("h1", {}, "Not found"), h("p", {}, "There is no such page. ", h("a", { href: "#/catalog" }, "Catalog")));
    return;
  }
  const started = performance.now();
  try {
    await view(container, { arg, params, can, principal, navigate, remember });
  } catch (error) {
    if (token !== renderCount) return;
    container.append(errorBox(error));
  }
  if (token !== renderCount) return;
  const took = performance.now() - started;
  main.dataset.ready = name;
  main.dataset.renderMs = took.toFixed(0);
  // milliseconds since this document's navigation started: what bench/ui_timings.py reports
  main.dataset.readyAt = performance.now().toFixed(0);
  performance.measure(`view:${name}`, { start: started, duration: took });
}

async function showNav() {
  const nav = document.getElementById("nav");
  for (const link of nav.querySelectorAll("a")) {
    const scope = link.dataset.scope;
    const operation = link.dataset.operation;
    let visible = !scope || can(scope);
    if (visible && operation) visible = (await api.offers(operation)) !== null;
    link.parentElement.hidden = !visible;
  }
  nav.hidden = false;
  document.getElementById("who").hidden = false;
  document.getElementById("who-name").textContent = `${principal.name} (${principal.scopes.join(", ")})`;
}

function markNav(name) {
  const current = name === "chip" ? "catalog" : name === "decision" ? "review" : name;
  for (const link of document.querySelectorAll("#nav a")) {
    if (link.dataset.view === current) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
}

function showSignIn(message) {
  principal = null;
  document.getElementById("nav").hidden = true;
  document.getElementById("who").hidden = true;
  // the input has no name: were the form ever submitted natively, the key would not be in any URL
  const input = h("input", {
    type: "password",
    id: "api-key",
    autocomplete: "off",
    spellcheck: "false",
    required: true,
    "aria-required": "true",
  });
  const remember = h("input", { type: "checkbox", id: "remember" });
  const form = h(
    "form",
    { class: "signin", "aria-labelledby": "signin-title" },
    h("h1", { id: "signin-title" }, "Sign in"),
    h("p", {}, "Paste an API key. The page can do what the key's scopes allow (read, screen, audit, admin)."),
    message ? h("p", { class: "error", role: "alert" }, message) : null,
    field("API key", input, "Kept in this page's memory only; never put in an address or a log."),
    h(
      "div",
      { class: "check" },
      remember,
      h("label", { for: "remember" }, "Keep me signed in until this tab closes (session storage)"),
    ),
    h("button", { type: "submit", class: "primary" }, "Sign in"),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const raw = input.value.trim();
    if (!raw) return;
    input.value = "";
    api.signIn(raw, remember.checked);
    route();
  });
  clear(main).append(h("div", { class: "view narrow" }, form));
  main.dataset.ready = "signin";
  input.focus();
}

document.getElementById("sign-out").addEventListener("click", () => {
  api.signOut();
  principal = null;
  history.replaceState(null, "", "#/catalog");
  showSignIn("Signed out: the key is forgotten.");
});

window.addEventListener("hashchange", route);
route();

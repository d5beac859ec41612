// The API client. The key lives in this module's memory; with the officer's consent also in
// sessionStorage (gone when the tab closes). It is only ever sent in the Authorization header,
// never in a URL, and signing out forgets it everywhere.

const STORAGE = "chipclass.key";
let key = sessionStorage.getItem(STORAGE);
let operations = null;

export class ApiError extends Error {
  constructor(status, problem) {
    super(problem?.detail || problem?.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem || {};
  }
}

export function signedIn() {
  return key !== null;
}

export function signIn(raw, remember) {
  key = raw;
  if (remember) sessionStorage.setItem(STORAGE, raw);
  else sessionStorage.removeItem(STORAGE);
}

export function signOut() {
  key = null;
  sessionStorage.removeItem(STORAGE);
  cache.clear();
}

const cache = new Map();

// GET with an in-memory cache for reference data that does not change while the page is open
// (catalog items, classifications on a date, rulesets); `fresh` skips it.
export async function get(path, params, { fresh = false } = {}) {
  const url = withParams(path, params);
  if (!fresh && cache.has(url)) return cache.get(url);
  const promise = request("GET", url);
  if (!fresh) {
    cache.set(url, promise);
    promise.catch(() => cache.delete(url));
  }
  return promise;
}

export function post(path, body, headers = {}) {
  return request("POST", path, body, headers);
}

export function withParams(path, params) {
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(params || {})) {
    if (value !== null && value !== undefined && value !== "") query.set(name, value);
  }
  const text = query.toString();
  return text ? `${path}?${text}` : path;
}

async function request(method, url, body, extra = {}) {
  const headers = { Accept: "application/json", ...extra };
  if (key) headers.Authorization = `Bearer ${key}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(url, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store",
      credentials: "omit",
      referrerPolicy: "no-referrer",
    });
  } catch (error) {
    throw new ApiError(0, { title: "Network error", detail: `The service did not answer (${error.message})` });
  }
  const type = response.headers.get("content-type") || "";
  const data = type.includes("json") ? await response.json() : await response.text();
  if (!response.ok) throw new ApiError(response.status, typeof data === "object" ? data : { detail: data });
  return data;
}

// Which operations this service offers (by operationId): views for features a service version
// does not have are not shown rather than failing.
export async function offers(operationId) {
  if (operations === null) {
    operations = fetch("/openapi.json", { credentials: "omit" })
      .then((r) => (r.ok ? r.json() : { paths: {} }))
      .then((doc) => {
        const ids = new Map();
        for (const [path, item] of Object.entries(doc.paths || {})) {
          for (const [method, op] of Object.entries(item)) {
            if (op && op.operationId) ids.set(op.operationId, { path, method, op });
          }
        }
        return { ids, doc };
      })
      .catch(() => ({ ids: new Map(), doc: {} }));
  }
  const { ids } = await operations;
  return ids.get(operationId) || null;
}

export async function openapi() {
  await offers("");
  return (await operations).doc;
}

// Every page of a cursor-paged list.
export async function all(path, params = {}) {
  const items = [];
  let cursor = null;
  do {
    const page = await get(path, { ...params, cursor });
    items.push(...page.items);
    cursor = page.next_cursor;
  } while (cursor);
  return items;
}

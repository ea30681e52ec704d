// The gateway's public API, from the same origin, with the admin token the user entered.

const TOKEN_KEY = "faas.token";

/** An error answered by the gateway, in the contract's envelope (or made up for the network). */
export class ApiError extends Error {
  constructor(status, code, message, details = {}, requestId = "") {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details || {};
    this.requestId = requestId;
  }

  /** Whether the route does not exist on this gateway (an older one, or a feature not built). */
  get missingRoute() {
    return this.status === 404 && this.code === "ROUTE_NOT_FOUND";
  }
}

/** The token kept for this browser session, or "". */
export function token() {
  return sessionStorage.getItem(TOKEN_KEY) || "";
}

/** Keeps (or with "" forgets) the token for this browser session. */
export function setToken(value) {
  if (value) sessionStorage.setItem(TOKEN_KEY, value);
  else sessionStorage.removeItem(TOKEN_KEY);
}

let onUnauthorized = () => {};

/** Registers what happens when the gateway answers 401 to a call that needed the token. */
export function whenUnauthorized(fn) {
  onUnauthorized = fn;
}

/** Reports a 401 met outside `call` (a stream read with fetch). */
export function reportUnauthorized(err) {
  onUnauthorized(err);
}

/** Headers for a call to the management API. */
export function authHeaders(extra = {}) {
  const t = token();
  return t ? { ...extra, Authorization: `Bearer ${t}` } : extra;
}

/**
 * Calls the API and returns the parsed JSON body (or text for non-JSON answers, null for
 * 204). Throws ApiError. `quiet401` keeps a 401 from asking for the token (for probes).
 */
export async function call(method, path, body, { quiet401 = false, signal } = {}) {
  const init = { method, headers: authHeaders({ Accept: "application/json" }), signal };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let resp;
  try {
    resp = await fetch(path, init);
  } catch (e) {
    if (e.name === "AbortError") throw e;
    throw new ApiError(0, "NETWORK", `The gateway did not answer (${e.message}).`);
  }
  if (resp.status === 204) return null;
  const type = resp.headers.get("content-type") || "";
  const data = type.includes("json") ? await resp.json().catch(() => null) : await resp.text();
  if (resp.ok) return data;
  const err = toError(resp.status, data);
  if (resp.status === 401 && !quiet401) onUnauthorized(err);
  throw err;
}

/** The contract's error envelope as an ApiError. */
export function toError(status, data) {
  const e = data && typeof data === "object" && data.error;
  if (e && e.code) {
    return new ApiError(status, e.code, e.message || "", e.details, data.request_id || "");
  }
  const text = typeof data === "string" && data ? data.slice(0, 300) : `HTTP ${status}`;
  return new ApiError(status, `HTTP_${status}`, text);
}

export const get = (path, opts) => call("GET", path, undefined, opts);
export const post = (path, body, opts) => call("POST", path, body, opts);
export const patch = (path, body, opts) => call("PATCH", path, body, opts);
export const del = (path, opts) => call("DELETE", path, undefined, opts);

/** `/callbacks/<path>` with the path escaped. */
export function cbPath(path, rest = "") {
  return `/callbacks/${encodeURIComponent(path)}${rest}`;
}

/** `/namespaces/<name>` with the name escaped. */
export function nsPath(name, rest = "") {
  return `/namespaces/${encodeURIComponent(name)}${rest}`;
}

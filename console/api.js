// The console's API client: every call with the session cookie, every refusal as an
// ApiError with the field it names, and a lost session reported to the shell.

import { html } from "./vendor/preact-htm.module.js";

/** An API refusal: `{error: {code, message, field?}}`. */
export class ApiError extends Error {
  constructor(status, code, message, field) {
    super(message);
    this.status = status;
    this.code = code;
    this.field = field;
  }
}

let onSessionLost = () => {};

/** What to do when the session is gone (any 401 outside sign-in). */
export function setSessionLost(f) { onSessionLost = f; }

/** Tells the shell that the session is gone. */
export function sessionLost() { onSessionLost(); }

/** Calls the API with the session cookie; a 401 outside sign-in returns to login. */
export async function api(method, path, body) {
  const init = { method, credentials: "same-origin", headers: {} };
  if (body !== undefined) {
    init.headers["content-type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const res = await fetch(path, init);
  if (res.status === 204) return null;
  const text = await res.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = null; }
  if (!res.ok) {
    const e = (data && data.error) || {};
    if (res.status === 401 && path !== "/api/auth/login") onSessionLost();
    throw new ApiError(res.status, e.code || "http_" + res.status, e.message || res.statusText, e.field);
  }
  return data;
}

export function describe(err) {
  if (!(err instanceof ApiError)) return String(err && err.message ? err.message : err);
  return err.field ? `${err.message} (${err.field})` : err.message;
}

export function ErrorLine({ error }) {
  return error ? html`<p class="error" role="alert">${describe(error)}</p>` : null;
}


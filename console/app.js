// The agent5 console: one ES module on a vendored Preact + htm (console/VENDOR.md).
// Pages are chosen by the URL's hash (`#/audit`), shown only to those whose role has
// the permission, and every API error is shown in words with the field it names.

import { html, render, useState, useEffect, useCallback } from "./vendor/preact-htm.module.js";
import { ApiError, api, ErrorLine, setSessionLost, sessionLost } from "./api.js";
import { Monitor, Studio } from "./live.js";
import { Campaigns } from "./campaigns.js";

/** Previous / page number / next, for the paged lists. */
function Pager({ page, hasMore, onPage }) {
  return html`<p class="row">
    <button type="button" disabled=${page <= 1} onClick=${() => onPage(page - 1)}>Previous</button>
    <span>Page ${page}</span>
    <button type="button" disabled=${!hasMore} onClick=${() => onPage(page + 1)}>Next</button>
  </p>`;
}

const when = (ms) => (ms ? new Date(ms).toLocaleString() : "—");

function Login({ onSignedIn, notice }) {
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      onSignedIn(await api("POST", "/api/auth/login", { email, password }));
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return html`<form class="login" onSubmit=${submit} aria-labelledby="login-title">
    <h1 id="login-title">Sign in to agent5</h1>
    ${notice && html`<p class="muted">${notice}</p>`}
    <label for="email">Email</label>
    <input id="email" type="email" autocomplete="username" required value=${email}
      onInput=${(e) => setEmail(e.target.value)} />
    <label for="password">Password</label>
    <input id="password" type="password" autocomplete="current-password" required value=${password}
      onInput=${(e) => setPassword(e.target.value)} />
    <p><button class="primary" type="submit" disabled=${busy}>Sign in</button></p>
    <${ErrorLine} error=${error} />
    <p class="muted">After several wrong passwords, answers slow down and the account is locked for 15 minutes.</p>
  </form>`;
}

/** One CSV line, quoted where needed. */
function csvLine(cells) {
  return cells.map((c) => {
    const v = c == null ? "" : String(c);
    return /[",\r\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v;
  }).join(",") + "\r\n";
}

/** The failed rows of a report as a CSV the user can fix and upload again. */
function failedRowsCsv(items) {
  const columns = [];
  for (const item of items) for (const k of Object.keys(item.original_row)) if (!columns.includes(k)) columns.push(k);
  return csvLine(columns) + items.map((i) => csvLine(columns.map((c) => i.original_row[c]))).join("");
}

function download(name, text) {
  const url = URL.createObjectURL(new Blob([text], { type: "text/csv" }));
  const a = document.createElement("a");
  a.href = url;
  a.download = name;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

/** A report's counts in one sentence. */
function summary(r) {
  const verb = r.dry_run ? "would be stored" : "stored";
  return `${r.dry_run ? "Dry run" : "Imported"}: ${r.total} rows read, ${r.imported} ${verb} ` +
    `(${r.created} new, ${r.updated} updated, ${r.unchanged} unchanged), ${r.failed} failed, ` +
    `${r.dnc_added} added to the do-not-call list. Encoding ${r.encoding}, delimiter “${r.delimiter}”.`;
}

async function upload(kind, file, dryRun) {
  const path = kind === "deliveries" ? "/api/prospects/upload_deliveries" : "/api/prospects/upload";
  return postCsv(`${path}?dry_run=${dryRun ? 1 : 0}`, file);
}

/** Posts a CSV file as the multipart field `csv`; the report, or an ApiError. */
async function postCsv(url, file) {
  const form = new FormData();
  form.append("csv", file);
  const res = await fetch(url, { method: "POST", body: form, credentials: "same-origin" });
  const data = await res.json().catch(() => null);
  if (!res.ok) {
    const e = (data && data.error) || {};
    if (res.status === 401) sessionLost();
    throw new ApiError(res.status, e.code, e.message || res.statusText, e.field);
  }
  return data;
}

function Upload({ onImported }) {
  const [kind, setKind] = useState("prospects");
  const [file, setFile] = useState(null);
  const [report, setReport] = useState(null);
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const run = async (dryRun) => {
    if (!file) return;
    setBusy(true);
    setError(null);
    try {
      const r = await upload(kind, file, dryRun);
      setReport(r);
      if (!dryRun) onImported();
    } catch (err) {
      setReport(null);
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return html`<section aria-labelledby="upload-title">
    <h3 id="upload-title">Upload</h3>
    <div class="row">
      <div><label for="upload-kind">File holds</label>
        <select id="upload-kind" value=${kind} onChange=${(e) => setKind(e.target.value)}>
          <option value="prospects">prospects</option><option value="deliveries">deliveries</option></select></div>
      <div><label for="upload-file">CSV file</label>
        <input id="upload-file" type="file" accept=".csv,text/csv" onChange=${(e) => setFile(e.target.files[0] || null)} /></div>
      <div><button type="button" disabled=${!file || busy} onClick=${() => run(true)}>Check (dry run)</button></div>
      <div><button class="primary" type="button" disabled=${!file || busy} onClick=${() => run(false)}>Import</button></div>
      <div><a href="/api/prospects/template.csv" download>Prospects template</a> ·
        <a href="/api/prospects/deliveries_template.csv" download>Deliveries template</a> ·
        <a href="/api/prospects/export.csv" download>Export all</a></div>
    </div>
    <${ErrorLine} error=${error} />
    ${report && html`<div role="status">
      <p>${summary(report)}</p>
      ${report.failed > 0 && html`<p><button type="button"
        onClick=${() => download("failed-rows.csv", failedRowsCsv(report.failed_items))}>Download failed rows</button></p>
      <table aria-label="Failed rows"><thead><tr><th>Row</th><th>Code</th><th>Message</th><th>Original row</th></tr></thead>
        <tbody>${report.failed_items.map((f) => html`<tr><td>${f.row}</td><td>${f.error_code}</td><td>${f.error_message}</td>
          <td><code>${Object.entries(f.original_row).map(([k, v]) => `${k}=${v}`).join(", ")}</code></td></tr>`)}</tbody></table>`}
    </div>`}
  </section>`;
}

function Prospects({ me }) {
  const [filters, setFilters] = useState({ scope: "invoice", q: "", tags: "", lang: "", lang_confirmed: "", opt_out: "", show_archived: "", sort: "" });
  const [page, setPage] = useState(1);
  const [data, setData] = useState(null);
  const [error, setError] = useState(null);
  const [reload, setReload] = useState(0);
  const canEdit = me.permissions.includes("prospects.edit");
  useEffect(() => {
    const q = new URLSearchParams({ paged: "1", page: String(page), page_size: "50" });
    for (const [k, v] of Object.entries(filters)) if (v) q.set(k, v);
    setError(null);
    api("GET", "/api/prospects?" + q).then(setData, setError);
  }, [filters, page, reload]);
  const set = (name) => (e) => { setPage(1); setFilters({ ...filters, [name]: e.target.value }); };
  const toggle = (row) => {
    const phone = row.phone || row.mobile;
    setError(null);
    api("PATCH", `/api/prospects/phone/${encodeURIComponent(phone)}/opt-out`, { opt_out: !row.opt_out })
      .then(() => setReload(reload + 1), setError);
  };
  return html`<section aria-labelledby="prospects-title">
    <h2 id="prospects-title">Prospects</h2>
    <div class="row">
      <div><label for="p-q">Search</label><input id="p-q" type="search" value=${filters.q} onChange=${set("q")} /></div>
      <div><label for="p-scope">Contacts</label><select id="p-scope" value=${filters.scope} onChange=${set("scope")}>
        <option value="invoice">invoice</option><option value="delivery">delivery</option><option value="both">both</option></select></div>
      <div><label for="p-tags">Tags (all of)</label><input id="p-tags" value=${filters.tags} onChange=${set("tags")} /></div>
      <div><label for="p-lang">Language</label><select id="p-lang" value=${filters.lang} onChange=${set("lang")}>
        <option value="">any</option>${["nl", "fr", "de", "en"].map((l) => html`<option value=${l}>${l}</option>`)}</select></div>
      <div><label for="p-confirmed">Language confirmed</label><select id="p-confirmed" value=${filters.lang_confirmed} onChange=${set("lang_confirmed")}>
        <option value="">either</option><option value="1">yes</option><option value="0">no</option></select></div>
      <div><label for="p-optout">Opted out</label><select id="p-optout" value=${filters.opt_out} onChange=${set("opt_out")}>
        <option value="">either</option><option value="1">yes</option><option value="0">no</option></select></div>
      <div><label for="p-sort">Order</label><select id="p-sort" value=${filters.sort} onChange=${set("sort")}>
        <option value="">recently changed</option><option value="name">name A-Z</option><option value="-name">name Z-A</option>
        <option value="company">company A-Z</option><option value="-company">company Z-A</option></select></div>
      <div><label for="p-archived">Archived</label><select id="p-archived" value=${filters.show_archived} onChange=${set("show_archived")}>
        <option value="">hidden</option><option value="1">shown</option></select></div>
    </div>
    <${ErrorLine} error=${error} />
    ${data && html`<table aria-label="Prospects">
      <thead><tr><th>Name</th><th>Company</th><th>Phone</th><th>Mobile</th><th>Email</th><th>Language</th><th>Tags</th><th>Opted out</th></tr></thead>
      <tbody>${data.items.map((r) => html`<tr>
        <td><a href=${"#/prospects/" + encodeURIComponent(r.id)}>${r.name || "(no name)"}</a>${r.code ? html` <span class="muted">(${r.code})</span>` : ""}${r.archived ? html` <span class="muted">archived</span>` : ""}</td>
        <td>${r.company}</td><td>${r.phone}</td><td>${r.mobile}</td><td>${r.email}</td>
        <td>${r.language}${r.language_confirmed ? " ✓" : ""}</td><td>${(r.tags || []).join(", ")}</td>
        <td><input type="checkbox" checked=${r.opt_out} disabled=${!canEdit || !(r.phone || r.mobile)}
          aria-label=${`${r.name} opted out`} onChange=${() => toggle(r)} /></td></tr>`)}</tbody>
    </table>
    <${Pager} page=${data.page} hasMore=${data.has_more} onPage=${setPage} />`}
    ${me.permissions.includes("prospects.import") && html`<${Upload} onImported=${() => setReload(reload + 1)} />`}
  </section>`;
}

const seconds = (s) => (s == null ? "—" : `${Math.round(s)} s`);
const at = (t) => (t ? new Date(t).toLocaleString() : "—");

function Calls() {
  const [filters, setFilters] = useState({ status: "", direction: "", phone: "", campaign: "", from: "", to: "" });
  const [page, setPage] = useState(1);
  const [data, setData] = useState(null);
  const [error, setError] = useState(null);
  useEffect(() => {
    const q = new URLSearchParams({ page: String(page), page_size: "50" });
    for (const [k, v] of Object.entries(filters)) if (v) q.set(k, v);
    setError(null);
    api("GET", "/api/calls?" + q).then(setData, setError);
  }, [filters, page]);
  const set = (name) => (e) => { setPage(1); setFilters({ ...filters, [name]: e.target.value }); };
  const statuses = ["dialing", "ringing", "answered", "streaming", "ended", "failed", "no_answer", "busy", "machine"];
  return html`<section aria-labelledby="calls-title">
    <h2 id="calls-title">Calls</h2>
    <div class="row">
      <div><label for="c-status">Status</label><select id="c-status" value=${filters.status} onChange=${set("status")}>
        <option value="">any</option>${statuses.map((st) => html`<option value=${st}>${st}</option>`)}</select></div>
      <div><label for="c-direction">Direction</label><select id="c-direction" value=${filters.direction} onChange=${set("direction")}>
        <option value="">any</option>${["outbound", "inbound", "studio"].map((d) => html`<option value=${d}>${d}</option>`)}</select></div>
      <div><label for="c-phone">Phone (E.164)</label><input id="c-phone" value=${filters.phone} onChange=${set("phone")} /></div>
      <div><label for="c-campaign">Campaign</label><input id="c-campaign" value=${filters.campaign} onChange=${set("campaign")} /></div>
      <div><label for="c-from">From</label><input id="c-from" type="date" value=${filters.from} onChange=${set("from")} /></div>
      <div><label for="c-to">To</label><input id="c-to" type="date" value=${filters.to} onChange=${set("to")} /></div>
    </div>
    <${ErrorLine} error=${error} />
    ${data && html`<table aria-label="Calls">
      <thead><tr><th>Started</th><th>Phone</th><th>Direction</th><th>Status</th><th>Duration</th><th>Agent</th></tr></thead>
      <tbody>${data.items.map((c) => html`<tr>
        <td><a href=${"#/calls/" + c.id}>${at(c.started_at)}</a></td><td>${c.phone}</td><td>${c.direction}</td>
        <td>${c.status}</td><td>${seconds(c.duration_secs)}</td><td>${c.agent_profile || ""}</td></tr>`)}</tbody>
    </table>
    <${Pager} page=${data.page} hasMore=${data.has_more} onPage=${setPage} />`}
  </section>`;
}

function Call({ id, me }) {
  const [call, setCall] = useState(null);
  const [error, setError] = useState(null);
  useEffect(() => { api("GET", `/api/calls/${encodeURIComponent(id)}`).then(setCall, setError); }, [id]);
  if (error) return html`<section><h2>Call</h2><${ErrorLine} error=${error} /><p><a href="#/calls">All calls</a></p></section>`;
  if (!call) return html`<p class="muted">Loading…</p>`;
  const listen = me.permissions.includes("recordings.listen");
  return html`<section aria-labelledby="call-title">
    <h2 id="call-title">Call to ${call.phone}</h2>
    <p><a href="#/calls">All calls</a></p>
    <ul class="status">
      <li>Status: <strong>${call.status}</strong>${call.hangup_cause ? ` (${call.hangup_cause})` : ""}</li>
      <li>Direction: ${call.direction}; agent: ${call.agent_profile || "default"}; language: ${call.lang || "—"}</li>
      <li>Started ${at(call.started_at)}, answered ${at(call.answered_at)}, ended ${at(call.ended_at)}; ${seconds(call.duration_secs)}</li>
      ${call.caller_opted_out && html`<li class="error">The caller opted out.</li>`}
    </ul>
    ${call.recording && listen && html`<h3>Recording</h3>
      <audio controls preload="metadata" src=${call.recording} aria-label="Recording"></audio>
      <p><a href=${call.recording} download>Download the recording</a></p>`}
    <h3>Timeline</h3>
    <ol>${call.timeline.map((e) => html`<li>${at(e.at)}: ${e.status}${e.clock === "carrier" ? " (carrier's clock)" : ""}</li>`)}</ol>
    <h3>Transcript</h3>
    ${(call.transcript || []).length === 0 ? html`<p class="muted">No transcript.</p>` : html`<table aria-label="Transcript">
      <thead><tr><th>At</th><th>Who</th><th>Said</th></tr></thead>
      <tbody>${call.transcript.map((t) => html`<tr><td>${(t.start_ms / 1000).toFixed(1)} s</td><td>${t.role}</td>
        <td>${t.text}${t.interrupted ? html` <em class="muted">(interrupted)</em>` : ""}</td></tr>`)}</tbody></table>`}
  </section>`;
}

const TOOLS = ["opt_out", "confirm_language", "end_call", "transfer", "set_outcome"];

function Agents({ me }) {
  const [agents, setAgents] = useState([]);
  const [error, setError] = useState(null);
  const [editing, setEditing] = useState(null);
  const canEdit = me.permissions.includes("agents.edit");
  const load = useCallback(() => api("GET", "/api/agents").then((a) => setAgents(a.items || a), setError), []);
  useEffect(() => { load(); }, [load]);
  const blank = { name: "", instructions: "", voice: "alloy", language: "nl", tools: [...TOOLS] };
  const save = (e) => {
    e.preventDefault();
    setError(null);
    const body = { name: editing.name, instructions: editing.instructions, voice: editing.voice, language: editing.language, tools: editing.tools };
    const done = editing.id ? api("PATCH", `/api/agents/${editing.id}`, body) : api("POST", "/api/agents", body);
    done.then(() => { setEditing(null); load(); }, setError);
  };
  const remove = (a) => {
    if (window.confirm(`Delete the agent profile ${a.name}?`)) api("DELETE", `/api/agents/${a.id}`).then(load, setError);
  };
  const field = (name, label, textarea) => html`<div><label for=${"agent-" + name}>${label}</label>${textarea
    ? html`<textarea id=${"agent-" + name} rows="6" cols="60" value=${editing[name]} onInput=${(e) => setEditing({ ...editing, [name]: e.target.value })}></textarea>`
    : html`<input id=${"agent-" + name} value=${editing[name]} onInput=${(e) => setEditing({ ...editing, [name]: e.target.value })} />`}</div>`;
  return html`<section aria-labelledby="agents-title">
    <h2 id="agents-title">Agent profiles</h2>
    <${ErrorLine} error=${error} />
    <table aria-label="Agent profiles"><thead><tr><th>Name</th><th>Voice</th><th>Language</th><th>Tools</th><th></th></tr></thead>
      <tbody>${agents.map((a) => html`<tr><td>${a.name}</td><td>${a.voice}</td><td>${a.language}</td><td>${a.tools.join(", ")}</td>
        <td>${canEdit && html`<button type="button" onClick=${() => setEditing({ ...a })}>Edit</button>
          ${" "}<button type="button" onClick=${() => remove(a)}>Delete</button>`}</td></tr>`)}</tbody></table>
    ${canEdit && !editing && html`<p><button type="button" onClick=${() => setEditing(blank)}>New profile</button></p>`}
    ${editing && html`<form onSubmit=${save} aria-label="Agent profile">
      ${field("name", "Name")}${field("voice", "Voice")}${field("language", "Language")}
      ${field("instructions", "Instructions", true)}
      <fieldset><legend>Tools</legend>${TOOLS.map((t) => html`<label><input type="checkbox" checked=${editing.tools.includes(t)}
        onChange=${(e) => setEditing({ ...editing, tools: e.target.checked ? [...editing.tools, t] : editing.tools.filter((x) => x !== t) })} /> ${t}</label>`)}</fieldset>
      <p><button class="primary" type="submit">Save</button> <button type="button" onClick=${() => setEditing(null)}>Cancel</button></p>
    </form>`}
  </section>`;
}

function Dnc({ me }) {
  const [q, setQ] = useState("");
  const [page, setPage] = useState(1);
  const [data, setData] = useState(null);
  const [error, setError] = useState(null);
  const [notice, setNotice] = useState("");
  const [reload, setReload] = useState(0);
  const [phone, setPhone] = useState("");
  const [reason, setReason] = useState("");
  const [file, setFile] = useState(null);
  const canToggle = me.permissions.includes("prospects.edit");
  const canImport = me.permissions.includes("dnc.edit");
  useEffect(() => {
    const query = new URLSearchParams({ page: String(page), page_size: "100" });
    if (q) query.set("q", q);
    api("GET", "/api/dnc?" + query).then(setData, setError);
  }, [q, page, reload]);
  const optOut = (number, value, why) => {
    setError(null);
    setNotice("");
    return api("PATCH", `/api/prospects/phone/${encodeURIComponent(number)}/opt-out`, { opt_out: value, reason: why || undefined })
      .then((r) => { setNotice(`${r.phone_e164} ${value ? "added to" : "removed from"} the list.`); setReload(reload + 1); }, setError);
  };
  const add = (e) => { e.preventDefault(); optOut(phone.trim(), true, reason).then(() => { setPhone(""); setReason(""); }); };
  const importFile = () => {
    setError(null);
    postCsv("/api/dnc/import", file).then((r) => {
      setNotice(`Import: ${r.total} rows read, ${r.added} added, ${r.already_listed} already listed, ${r.failed} failed.`);
      setReload(reload + 1);
    }, setError);
  };
  return html`<section aria-labelledby="dnc-title">
    <h2 id="dnc-title">Do not call</h2>
    <${ErrorLine} error=${error} />
    ${notice && html`<p class="ok" role="status">${notice}</p>`}
    ${canToggle && html`<form class="row" onSubmit=${add} aria-label="Add a number">
      <div><label for="dnc-phone">Number (E.164, e.g. +32475123456)</label>
        <input id="dnc-phone" required value=${phone} onInput=${(e) => setPhone(e.target.value)} /></div>
      <div><label for="dnc-reason">Reason</label><input id="dnc-reason" value=${reason} onInput=${(e) => setReason(e.target.value)} /></div>
      <div><button class="primary" type="submit">Add to the list</button></div>
    </form>`}
    <div class="row">
      <div><label for="dnc-q">Search (start of the number)</label>
        <input id="dnc-q" type="search" value=${q} onChange=${(e) => { setPage(1); setQ(e.target.value); }} /></div>
      ${canImport && html`<div><label for="dnc-file">Import a CSV</label>
        <input id="dnc-file" type="file" accept=".csv,text/csv" onChange=${(e) => setFile(e.target.files[0] || null)} /></div>
        <div><button type="button" disabled=${!file} onClick=${importFile}>Import</button></div>
        <div><a href="/api/dnc/export.csv" download>Export</a></div>`}
    </div>
    ${data && html`<table aria-label="Do-not-call list">
      <thead><tr><th>Number</th><th>Reason</th><th>Source</th><th>Added by</th><th>Added</th><th></th></tr></thead>
      <tbody>${data.items.map((d) => html`<tr><td>${d.phone_e164}</td><td>${d.reason}</td><td>${d.source}</td>
        <td>${d.added_by}</td><td>${at(d.added_at)}</td>
        <td>${canToggle && html`<button type="button" onClick=${() => {
          if (window.confirm(`Remove ${d.phone_e164} from the do-not-call list? It may be called again.`)) optOut(d.phone_e164, false);
        }}>Remove</button>`}</td></tr>`)}</tbody></table>
    <${Pager} page=${data.page} hasMore=${data.has_more} onPage=${setPage} />`}
  </section>`;
}

const CONTACT_FIELDS = [
  ["name", "Name"], ["company", "Company"], ["email", "Email"], ["phone", "Phone"], ["mobile", "Mobile"],
  ["address", "Address"], ["postal_code", "Postal code"], ["city", "City"], ["country", "Country"], ["language", "Language"],
];

/** One contact's fields, saved with PATCH `path`; an API refusal shows under its field. */
function ContactForm({ contact, path, idPrefix, label, extra = [], canEdit, onSaved, children }) {
  const fields = [...CONTACT_FIELDS, ...extra];
  const initial = () => Object.fromEntries(fields.map(([k]) => [k, k === "tags" ? (contact.tags || []).join(", ") : contact[k] || ""]));
  const [form, setForm] = useState(initial);
  const [error, setError] = useState(null);
  const [notice, setNotice] = useState("");
  useEffect(() => setForm(initial()), [contact]);
  const save = (e) => {
    e.preventDefault();
    setError(null);
    setNotice("");
    const changed = {};
    const before = initial();
    for (const [k] of fields) {
      if (form[k] === before[k]) continue;
      changed[k] = k === "tags" ? form[k].split(",").map((t) => t.trim()).filter(Boolean) : form[k];
    }
    api("PATCH", path, changed).then(() => { setNotice("Saved."); onSaved(); }, setError);
  };
  const wrong = error instanceof ApiError ? error.field : null;
  const errorId = `${idPrefix}-error`;
  return html`<form onSubmit=${save} aria-label=${label}>
    ${notice && html`<p class="ok" role="status">${notice}</p>`}
    ${error && !fields.some(([k]) => k === wrong) && html`<${ErrorLine} error=${error} />`}
    <div class="row">${fields.map(([k, text]) => html`<div>
      <label for=${`${idPrefix}-${k}`}>${text}</label>
      <input id=${`${idPrefix}-${k}`} value=${form[k]} disabled=${!canEdit} aria-invalid=${wrong === k ? "true" : undefined}
        aria-describedby=${wrong === k ? errorId : undefined}
        onInput=${(e) => setForm({ ...form, [k]: e.target.value })} />
      ${wrong === k && html`<div id=${errorId} class="error" role="alert">${error.message}</div>`}
    </div>`)}</div>
    ${canEdit && html`<p><button class="primary" type="submit">Save</button>${children}</p>`}
  </form>`;
}

function Prospect({ id, me }) {
  const [p, setP] = useState(null);
  const [logs, setLogs] = useState(null);
  const [error, setError] = useState(null);
  const [reload, setReload] = useState(0);
  const canEdit = me.permissions.includes("prospects.edit");
  const again = () => setReload((n) => n + 1);
  useEffect(() => {
    api("GET", `/api/prospects/${encodeURIComponent(id)}`).then(setP, setError);
    if (me.permissions.includes("calls.view")) {
      api("GET", `/api/prospects/${encodeURIComponent(id)}/logs?page_size=20`).then(setLogs, () => {});
    }
  }, [id, reload]);
  if (!p) return html`<section><h2>Prospect</h2><${ErrorLine} error=${error} /><p><a href="#/prospects">All prospects</a></p></section>`;
  const base = `/api/prospects/${encodeURIComponent(id)}`;
  const archive = () => api("PATCH", `${base}/${p.archived ? "unarchive" : "archive"}`).then(again, setError);
  const optOut = (phone, value) => api("PATCH", `/api/prospects/phone/${encodeURIComponent(phone)}/opt-out`, { opt_out: value })
    .then(again, setError);
  const phones = [p.invoice.phone, p.invoice.mobile, ...p.delivery_addresses.flatMap((d) => [d.phone, d.mobile])]
    .filter((x, i, all) => x && all.indexOf(x) === i);
  return html`<section aria-labelledby="prospect-title">
    <h2 id="prospect-title">${p.invoice.name || p.invoice.company || "Prospect"}${p.archived ? " (archived)" : ""}</h2>
    <p><a href="#/prospects">All prospects</a>${p.tags && p.tags.length ? ` · tags: ${p.tags.join(", ")}` : ""}</p>
    <${ErrorLine} error=${error} />
    <h3>Invoice contact</h3>
    <${ContactForm} contact=${p.invoice} path=${`${base}/invoice`} idPrefix="inv" label="Invoice contact"
      canEdit=${canEdit} onSaved=${again}>
      ${" "}<button type="button" onClick=${archive}>${p.archived ? "Unarchive" : "Archive"}</button>
    </${ContactForm}>
    <h3>Numbers</h3>
    <ul>${phones.map((ph) => html`<li><label><input type="checkbox" disabled=${!canEdit}
      checked=${p.opted_out_phones.includes(ph)} onChange=${(e) => optOut(ph, e.target.checked)} />
      ${` ${ph} opted out`}</label></li>`)}</ul>
    <h3>Deliveries</h3>
    ${p.delivery_addresses.length === 0 ? html`<p class="muted">None.</p>` : p.delivery_addresses.map((d) => html`
      <details class="panel">
        <summary>${`${d.code}: ${d.name || d.company || "(no name)"}`}${d.phone ? ` · ${d.phone}` : ""}${
          [d.address, d.postal_code, d.city].some(Boolean) ? ` · ${[d.address, d.postal_code, d.city].filter(Boolean).join(", ")}` : ""}${
          d.tags.length ? ` · ${d.tags.join(", ")}` : ""}</summary>
        <${ContactForm} contact=${d} path=${`${base}/delivery/${encodeURIComponent(d.code)}`} idPrefix=${"del-" + d.code}
          label=${"Delivery " + d.code} extra=${[["tags", "Tags (comma separated)"], ["notes", "Notes"]]}
          canEdit=${canEdit} onSaved=${again} />
      </details>`)}
    ${logs && html`<h3>Calls</h3>${logs.items.length === 0 ? html`<p class="muted">No calls yet.</p>` : html`<ul>
      ${logs.items.map((c) => html`<li><a href=${"#/calls/" + c.id}>${at(c.started_at)}</a>${` ${c.status}`}</li>`)}</ul>`}`}
  </section>`;
}

const KINDS = ["string", "number", "date", "enum", "boolean", "phone", "email"];

function FieldDefs({ me }) {
  const [defs, setDefs] = useState([]);
  const [error, setError] = useState(null);
  const [editing, setEditing] = useState(null);
  const canEdit = me.permissions.includes("prospects.edit");
  const load = useCallback(() => api("GET", "/api/prospects/field-defs").then(setDefs, setError), []);
  useEffect(() => { load(); }, [load]);
  const blank = { key: "", label: "", type: "string", required: false, options: "", regex: "", visibility: "both", order: 0, default: "" };
  /** The default as the JSON its type needs (a number, true/false, or text); empty: none. */
  const typedDefault = (kind, text) => {
    if (text === "") return null;
    if (kind === "number" && text.trim() !== "" && !Number.isNaN(Number(text))) return Number(text);
    if (kind === "boolean" && (text === "true" || text === "false")) return text === "true";
    return text;
  };
  const save = (e) => {
    e.preventDefault();
    setError(null);
    const body = {
      label: editing.label, type: editing.type, required: editing.required, visibility: editing.visibility,
      order: Number(editing.order) || 0,
      options: editing.type === "enum" ? editing.options.split(",").map((o) => o.trim()).filter(Boolean) : [],
      regex: editing.regex || null,
      default: typedDefault(editing.type, editing.default),
    };
    if (!editing.id) body.key = editing.key;
    const done = editing.id ? api("PATCH", `/api/prospects/field-defs/${editing.id}`, body) : api("POST", "/api/prospects/field-defs", body);
    done.then(() => { setEditing(null); load(); }, setError);
  };
  const remove = (d) => {
    if (window.confirm(`Delete the field ${d.key}? Values already stored stay with the prospects.`)) {
      api("DELETE", `/api/prospects/field-defs/${d.id}`).then(load, setError);
    }
  };
  const set = (k) => (e) => setEditing({ ...editing, [k]: e.target.type === "checkbox" ? e.target.checked : e.target.value });
  return html`<section aria-labelledby="fd-title">
    <h2 id="fd-title">Prospect fields</h2>
    <p class="muted">Extra columns of the prospect list: the upload reads them as <code>custom_&lt;key&gt;</code>.</p>
    <${ErrorLine} error=${error} />
    <table aria-label="Fields"><thead><tr><th>Key</th><th>Label</th><th>Type</th><th>Required</th><th>Shown on</th><th>Default</th><th></th></tr></thead>
      <tbody>${defs.map((d) => html`<tr><td><code>${d.key}</code></td><td>${d.label}</td><td>${d.type}${d.options && d.options.length ? ` (${d.options.join(", ")})` : ""}</td>
        <td>${d.required ? "yes" : "no"}</td><td>${d.visibility}</td><td>${d.default == null ? "" : String(d.default)}</td>
        <td>${canEdit && html`<button type="button" onClick=${() => setEditing({ ...blank, ...d, options: (d.options || []).join(", "), regex: d.regex || "", default: d.default == null ? "" : String(d.default) })}>Edit</button>
          ${" "}<button type="button" onClick=${() => remove(d)}>Delete</button>`}</td></tr>`)}</tbody></table>
    ${canEdit && !editing && html`<p><button type="button" onClick=${() => setEditing(blank)}>New field</button></p>`}
    ${editing && html`<form onSubmit=${save} aria-label="Field">
      <div class="row">
        <div><label for="fd-key">Key (a-z, 0-9, _)</label><input id="fd-key" value=${editing.key} disabled=${!!editing.id} onInput=${set("key")} /></div>
        <div><label for="fd-label">Label</label><input id="fd-label" value=${editing.label} onInput=${set("label")} /></div>
        <div><label for="fd-type">Type</label><select id="fd-type" value=${editing.type} onChange=${set("type")}>
          ${KINDS.map((k) => html`<option value=${k}>${k}</option>`)}</select></div>
        <div><label for="fd-vis">Shown on</label><select id="fd-vis" value=${editing.visibility} onChange=${set("visibility")}>
          <option value="both">both</option><option value="invoice">invoice</option><option value="delivery">delivery</option></select></div>
        ${editing.type === "enum" && html`<div><label for="fd-options">Options (comma-separated)</label>
          <input id="fd-options" value=${editing.options} onInput=${set("options")} /></div>`}
        <div><label for="fd-regex">Pattern (optional)</label><input id="fd-regex" value=${editing.regex} onInput=${set("regex")} /></div>
        <div><label for="fd-default">Default (optional${editing.type === "boolean" ? ": true or false" : ""})</label><input id="fd-default" value=${editing.default} onInput=${set("default")} /></div>
        <div><label><input type="checkbox" checked=${editing.required} onChange=${set("required")} /> Required</label></div>
      </div>
      <p><button class="primary" type="submit">Save</button> <button type="button" onClick=${() => setEditing(null)}>Cancel</button></p>
    </form>`}
  </section>`;
}

/** The pages, in the order the navigation shows them, with what each needs. */
const PAGES = [
  { id: "overview", title: "Overview", needs: "system.view", view: (me) => html`<${Overview} me=${me} />` },
  { id: "monitor", title: "Monitor", needs: "calls.view", view: (me, arg) => html`<${Monitor} me=${me} id=${arg} />` },
  { id: "prospects", title: "Prospects", needs: "prospects.view", view: (me, arg) => (arg ? html`<${Prospect} id=${arg} me=${me} />` : html`<${Prospects} me=${me} />`) },
  { id: "fields", title: "Prospect fields", needs: "prospects.view", view: (me) => html`<${FieldDefs} me=${me} />` },
  { id: "dnc", title: "Do not call", needs: "prospects.view", view: (me) => html`<${Dnc} me=${me} />` },
  { id: "calls", title: "Calls", needs: "calls.view", view: (me, arg) => (arg ? html`<${Call} id=${arg} me=${me} />` : html`<${Calls} />`) },
  { id: "campaigns", title: "Campaigns", needs: "campaigns.view", view: (me) => html`<${Campaigns} me=${me} />` },
  { id: "agents", title: "Agents", needs: "calls.view", view: (me) => html`<${Agents} me=${me} />` },
  { id: "studio", title: "Agent Studio", needs: "studio.use", view: () => html`<${Studio} />` },
  { id: "audit", title: "Audit log", needs: "audit.view", view: () => html`<${Audit} />` },
  { id: "users", title: "Users & roles", needs: "users.manage", view: () => html`<${Users} />` },
  { id: "tokens", title: "API tokens", needs: null, view: (me) => html`<${Tokens} me=${me} />` },
];

const allowed = (me, page) => !page.needs || me.permissions.includes(page.needs);

function Shell({ me, route, onSignOut }) {
  const pages = PAGES.filter((p) => allowed(me, p));
  const [id, arg] = [route.split("/")[0], route.split("/").slice(1).join("/")];
  const page = pages.find((p) => p.id === id) || pages[0];
  useEffect(() => { document.title = `${page.title} · agent5`; }, [page]);
  return html`<div class="shell">
    <nav aria-label="Pages">
      <h1>agent5</h1>
      <ul>${pages.map((p) => html`<li><a href=${"#/" + p.id}
        aria-current=${p.id === page.id ? "page" : undefined}>${p.title}</a></li>`)}</ul>
      <div class="who">
        <div>${me.user.display_name || me.user.email || "env:AUTH_TOKEN"}</div>
        <div>${me.role}</div>
        <p><button type="button" onClick=${onSignOut}>Sign out</button></p>
      </div>
    </nav>
    <main id="main">${page.view(me, page.id === id ? decodeURIComponent(arg || "") : "")}</main>
  </div>`;
}

/** Local midnight as an RFC 3339 time: "today" is the operator's day. */
function startOfToday() {
  const d = new Date();
  d.setHours(0, 0, 0, 0);
  return d.toISOString();
}

/** Today's calls, counted from at most 500 of them (more is shown as "500+"). */
function todayFigures(page) {
  const calls = page.items;
  const answered = calls.filter((c) => c.answered_at);
  const timed = answered.filter((c) => c.duration_secs != null);
  const plus = page.has_more ? "+" : "";
  return {
    calls: `${calls.length}${plus}`,
    answerRate: calls.length ? `${Math.round((100 * answered.length) / calls.length)}%` : "—",
    averageDuration: timed.length
      ? `${Math.round(timed.reduce((sum, c) => sum + c.duration_secs, 0) / timed.length)} s` : "—",
  };
}

const ms = (v) => (v == null ? "—" : `${v} ms`);

function Tile({ label, value }) {
  return html`<div class="tile"><div class="muted">${label}</div><div class="figure">${value}</div></div>`;
}

function Overview({ me }) {
  const [status, setStatus] = useState(null);
  const [ready, setReady] = useState(null);
  const [live, setLive] = useState(null);
  const [today, setToday] = useState(null);
  const [optOuts, setOptOuts] = useState(null);
  const [error, setError] = useState(null);
  useEffect(() => {
    const since = encodeURIComponent(startOfToday());
    api("GET", "/api/status").then(setStatus, setError);
    fetch("/readyz", { credentials: "same-origin" }).then((r) => r.json()).then(setReady, setError);
    if (me.permissions.includes("calls.view")) {
      api("GET", "/api/calls/live").then((l) => setLive(l.items.length), setError);
      api("GET", `/api/calls?from=${since}&page_size=500`).then((p) => setToday(todayFigures(p)), setError);
    }
    if (me.permissions.includes("audit.view")) {
      api("GET", `/api/audit?action=dnc.add&since=${since}&page_size=1000`)
        .then((p) => setOptOuts(`${p.items.length}${p.has_more ? "+" : ""}`), setError);
    }
  }, []);
  const missing = ready && ready.integrations
    ? Object.entries(ready.integrations).filter(([, v]) => !v.configured) : [];
  return html`<section aria-labelledby="overview-title">
    <h2 id="overview-title">Overview</h2>
    <${ErrorLine} error=${error} />
    <div class="tiles">
      ${live != null && html`<${Tile} label="Live calls now" value=${live} />`}
      ${today && html`<${Tile} label="Calls today" value=${today.calls} />
        <${Tile} label="Answer rate" value=${today.answerRate} />
        <${Tile} label="Average duration" value=${today.averageDuration} />`}
      ${optOuts != null && html`<${Tile} label="Opt-outs today" value=${optOuts} />`}
      ${ready && ready.voice_to_voice_ms && html`<${Tile} label="Voice-to-voice p50" value=${ms(ready.voice_to_voice_ms.p50)} />
        <${Tile} label="Voice-to-voice p95" value=${ms(ready.voice_to_voice_ms.p95)} />`}
    </div>
    ${ready && ready.voice_to_voice_ms && html`<p class="muted">${ready.voice_to_voice_ms.count
      ? `Voice-to-voice latency: the end of the caller's speech to the agent's first audio, over ${ready.voice_to_voice_ms.count} turns since the appliance started.`
      : "Voice-to-voice latency: no turn measured since the appliance started."}</p>`}
    ${status && html`<p>Version <strong>${status.version}</strong>${`, up ${status.uptime_secs} s, ${status.websocket_sessions} live sessions.`}</p>`}
    ${ready && html`<ul class="status">
      <li>Readiness: <strong class=${ready.status === "ready" ? "ok" : "error"}>${ready.status}</strong></li>
      ${ready.store && html`<li>Store: ${ready.store}</li>`}
      ${ready.certificates && (ready.certificates.length
        ? ready.certificates.map((c) => html`<li>Certificate ${c.name}: expires ${when(c.not_after * 1000)}${" "}
            <strong class=${c.days_left < 14 ? "error" : "ok"}>(${c.days_left} days left)</strong></li>`)
        : html`<li>No TLS certificate: the console is served over plain HTTP (the microphone then works only on localhost; docs/console.md).</li>`)}
      ${missing.map(([name, v]) => html`<li>${`${name}: not configured (missing ${v.missing.join(", ")}); the features that need it answer `}<code>integration_not_configured</code>${" (README, “Configuration”)"}</li>`)}
    </ul>`}
  </section>`;
}

function Audit() {
  const [filters, setFilters] = useState({ actor: "", action: "", since: "", until: "" });
  const [page, setPage] = useState(1);
  const [data, setData] = useState(null);
  const [error, setError] = useState(null);
  const query = useCallback((extra) => {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(filters)) if (v) q.set(k, v);
    for (const [k, v] of Object.entries(extra || {})) q.set(k, v);
    return q.toString();
  }, [filters]);
  useEffect(() => {
    setError(null);
    api("GET", "/api/audit?" + query({ page, page_size: 50 })).then(setData, setError);
  }, [page, query]);
  const field = (name, label, type = "text") => html`<div>
    <label for=${"audit-" + name}>${label}</label>
    <input id=${"audit-" + name} type=${type} value=${filters[name]}
      onChange=${(e) => { setPage(1); setFilters({ ...filters, [name]: e.target.value }); }} />
  </div>`;
  return html`<section aria-labelledby="audit-title">
    <h2 id="audit-title">Audit log</h2>
    <div class="row">
      ${field("actor", "Actor (email, token:name, user id)")}
      ${field("action", "Action")}
      ${field("since", "Since", "date")}
      ${field("until", "Until", "date")}
      <div><a href=${"/api/audit/export.csv?" + query()} download>Export CSV</a></div>
    </div>
    <${ErrorLine} error=${error} />
    ${data && html`<table>
      <thead><tr><th>When</th><th>Who</th><th>Action</th><th>Target</th><th>From</th><th>Detail</th></tr></thead>
      <tbody>${data.items.map((e) => html`<tr>
        <td>${when(e.at)}</td><td>${e.actor}</td><td>${e.action}</td><td>${e.target}</td>
        <td>${e.client_ip || ""}</td><td><code>${e.detail}</code></td></tr>`)}</tbody>
    </table>
    <${Pager} page=${data.page} hasMore=${data.has_more} onPage=${setPage} />`}
  </section>`;
}

/** Admin-made roles: a name and permissions from the list the admin role holds. */
function RoleForm({ roles, act }) {
  const all = (roles.find((r) => r.name === "admin") || { permissions: [] }).permissions;
  const [name, setName] = useState("");
  const [chosen, setChosen] = useState([]);
  const create = (e) => {
    e.preventDefault();
    act(api("POST", "/api/roles", { name, permissions: chosen }), () => {
      setName("");
      setChosen([]);
      return `Role ${name} added.`;
    });
  };
  const toggle = (p) => setChosen(chosen.includes(p) ? chosen.filter((x) => x !== p) : [...chosen, p]);
  return html`<form onSubmit=${create} aria-label="Add a role">
    <div class="row"><div><label for="role-name">Role name (a-z, 0-9, - and _)</label>
      <input id="role-name" required value=${name} onInput=${(e) => setName(e.target.value)} /></div></div>
    <fieldset><legend>Permissions</legend><div class="row">${all.map((p) => html`<label class="check">
      <input type="checkbox" checked=${chosen.includes(p)} onChange=${() => toggle(p)} /> ${p}</label>`)}</div></fieldset>
    <p><button class="primary" type="submit">Add role</button></p>
  </form>`;
}

function Users() {
  const [users, setUsers] = useState([]);
  const [roles, setRoles] = useState([]);
  const [error, setError] = useState(null);
  const [notice, setNotice] = useState("");
  const [form, setForm] = useState({ email: "", display_name: "", role: "operator", password: "" });
  const load = useCallback(() => {
    api("GET", "/api/users").then(setUsers, setError);
    api("GET", "/api/roles").then((r) => setRoles(r.roles), setError);
  }, []);
  useEffect(load, [load]);
  const act = (promise, done) => {
    setError(null);
    setNotice("");
    promise.then((r) => { setNotice(done(r)); load(); }, setError);
  };
  const create = (e) => {
    e.preventDefault();
    act(api("POST", "/api/users", form), (u) => {
      setForm({ email: "", display_name: "", role: form.role, password: "" });
      return `Added ${u.email}.`;
    });
  };
  const reset = (u) => {
    const password = window.prompt(`New password for ${u.email} (at least 12 characters)`);
    if (password) act(api("POST", `/api/users/${u.id}/password`, { password }),
      (r) => `Password reset; ${r.sessions_ended} session(s) ended.`);
  };
  const input = (name, label, type = "text") => html`<div>
    <label for=${"user-" + name}>${label}</label>
    <input id=${"user-" + name} type=${type} value=${form[name]} required=${name !== "display_name"}
      onInput=${(e) => setForm({ ...form, [name]: e.target.value })} />
  </div>`;
  return html`<section aria-labelledby="users-title">
    <h2 id="users-title">Users & roles</h2>
    <${ErrorLine} error=${error} />
    ${notice && html`<p class="ok" role="status">${notice}</p>`}
    <table>
      <thead><tr><th>Email</th><th>Name</th><th>Role</th><th>Active</th><th>Last sign-in</th><th>Actions</th></tr></thead>
      <tbody>${users.map((u) => html`<tr>
        <td>${u.email}</td><td>${u.display_name}</td>
        <td><select aria-label=${"Role of " + u.email} value=${u.role}
          onChange=${(e) => act(api("PATCH", `/api/users/${u.id}`, { role: e.target.value }), () => `${u.email} is now ${e.target.value}.`)}>
          ${roles.map((r) => html`<option value=${r.name}>${r.name}</option>`)}</select></td>
        <td>${u.active ? "yes" : "no"}</td><td>${when(u.last_login_at)}</td>
        <td><button type="button" onClick=${() => act(api("PATCH", `/api/users/${u.id}`, { active: !u.active }),
          () => `${u.email} ${u.active ? "disabled" : "enabled"}.`)}>${u.active ? "Disable" : "Enable"}</button>
          ${" "}<button type="button" onClick=${() => reset(u)}>Reset password</button></td>
      </tr>`)}</tbody>
    </table>
    <h3>Add a user</h3>
    <form class="row" onSubmit=${create}>
      ${input("email", "Email", "email")}
      ${input("display_name", "Name")}
      <div><label for="user-role">Role</label>
        <select id="user-role" value=${form.role} onChange=${(e) => setForm({ ...form, role: e.target.value })}>
          ${roles.map((r) => html`<option value=${r.name}>${r.name}</option>`)}</select></div>
      ${input("password", "Password", "password")}
      <div><button class="primary" type="submit">Add</button></div>
    </form>
    <h3>Roles</h3>
    <table aria-label="Roles"><thead><tr><th>Role</th><th>Permissions</th><th></th></tr></thead>
      <tbody>${roles.map((r) => html`<tr><td>${r.name}${r.builtin ? "" : " (added)"}</td>
        <td>${r.permissions.join(", ")}</td>
        <td>${!r.builtin && html`<button type="button" onClick=${() => window.confirm(`Delete the role ${r.name}?`)
          && act(api("DELETE", `/api/roles/${encodeURIComponent(r.name)}`), () => `Role ${r.name} deleted.`)}>Delete</button>`}</td></tr>`)}</tbody></table>
    <h3>Add a role</h3>
    <${RoleForm} roles=${roles} act=${act} />
  </section>`;
}

function Tokens({ me }) {
  const [tokens, setTokens] = useState([]);
  const [error, setError] = useState(null);
  const [secret, setSecret] = useState(null);
  const [name, setName] = useState("");
  const [days, setDays] = useState("");
  const load = useCallback(() => api("GET", "/api/tokens").then(setTokens, setError), []);
  useEffect(() => { load(); }, [load]);
  const create = (e) => {
    e.preventDefault();
    setError(null);
    const body = { name };
    if (days) body.expires_in_days = Number(days);
    api("POST", "/api/tokens", body).then((t) => { setSecret(t.token); setName(""); load(); }, setError);
  };
  const revoke = (t) => {
    if (window.confirm(`Revoke ${t.name}? Programs using it stop working at once.`)) {
      api("DELETE", `/api/tokens/${t.id}`).then(load, setError);
    }
  };
  return html`<section aria-labelledby="tokens-title">
    <h2 id="tokens-title">API tokens</h2>
    <p class="muted">A token acts as you (${me.role}) from programs; it is shown once.</p>
    <${ErrorLine} error=${error} />
    ${secret && html`<div role="status"><p>Copy it now: it will not be shown again.</p>
      <p class="secret">${secret}</p></div>`}
    <form class="row" onSubmit=${create}>
      <div><label for="token-name">Name</label>
        <input id="token-name" required value=${name} onInput=${(e) => setName(e.target.value)} /></div>
      <div><label for="token-days">Expires in days (empty: never)</label>
        <input id="token-days" type="number" min="1" max="3650" value=${days}
          onInput=${(e) => setDays(e.target.value)} /></div>
      <div><button class="primary" type="submit">Create</button></div>
    </form>
    <table><thead><tr><th>Name</th><th>Prefix</th><th>Role</th><th>Created</th><th>Last used</th><th>Expires</th><th></th></tr></thead>
      <tbody>${tokens.map((t) => html`<tr>
        <td>${t.name}</td><td><code>${t.prefix}…</code></td><td>${t.role}</td>
        <td>${when(t.created_at)}</td><td>${when(t.last_used_at)}</td><td>${when(t.expires_at)}</td>
        <td>${t.revoked_at ? "revoked" : html`<button type="button" onClick=${() => revoke(t)}>Revoke</button>`}</td>
      </tr>`)}</tbody></table>
  </section>`;
}

const routeOf = () => (location.hash.replace(/^#\/?/, "") || "").split("?")[0];

function App() {
  const [me, setMe] = useState(undefined);
  const [route, setRoute] = useState(routeOf());
  const [notice, setNotice] = useState("");
  useEffect(() => {
    const changed = () => setRoute(routeOf());
    window.addEventListener("hashchange", changed);
    setSessionLost(() => { setNotice("Your session ended: sign in again to go on where you were."); setMe(null); });
    api("GET", "/api/auth/me").then(setMe, () => setMe(null));
    return () => window.removeEventListener("hashchange", changed);
  }, []);
  if (me === undefined) return html`<p class="muted">Loading…</p>`;
  if (me === null) {
    return html`<${Login} notice=${notice} onSignedIn=${(m) => { setNotice(""); setMe(m); }} />`;
  }
  const signOut = () => api("POST", "/api/auth/logout").finally(() => setMe(null));
  return html`<${Shell} me=${me} route=${route} onSignOut=${signOut} />`;
}

render(html`<${App} />`, document.getElementById("app"));

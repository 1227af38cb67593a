// Campaigns: the list with each campaign's state and progress, a draft's form
// (audience, calling windows in the called person's time, pacing and retries), its
// preview, the lifecycle buttons the person's role allows, and a campaign's live
// figures (server-sent events) with its attempts and their dispositions, linked to
// the calls (docs/campaigns.md).

import { html, useState, useEffect, useCallback } from "./vendor/preact-htm.module.js";
import { api, ApiError, ErrorLine } from "./api.js";

const DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
const ACTIONS = {
  draft: ["start", "stop"],
  scheduled: ["pause", "stop"],
  running: ["pause", "stop"],
  paused: ["resume", "stop"],
  completed: [],
  stopped: [],
};

/** The form's inputs an API error can be shown under. */
const INPUTS = new Set(["name", "description", "include_tags", "exclude_tags", "languages", "start", "end", "timezone",
  "start_date", "end_date", "blackout_dates", "max_concurrent", "max_attempts", "calls_per_second", "max_per_hour",
  "max_per_day", "cooldown_minutes", "outcomes", "no_answer", "busy", "failed", "voicemail"]);
const RETRIED = ["no_answer", "busy", "failed", "voicemail"];

const list = (text) => text.split(",").map((t) => t.trim()).filter(Boolean);

/** The form's flat fields from a campaign (or the defaults of a new one). */
function formOf(c) {
  const w = (c && c.schedule.windows[0]) || { days: DAYS.slice(0, 5), start: "09:00", end: "17:00" };
  return {
    name: c ? c.name : "",
    description: c ? c.description : "",
    agent_profile: (c && c.agent_profile) || "",
    target: c ? c.audience.target : "invoice",
    include_tags: c ? c.audience.include_tags.join(", ") : "",
    exclude_tags: c ? c.audience.exclude_tags.join(", ") : "",
    languages: c ? c.audience.languages.join(", ") : "",
    timezone: (c && c.schedule.timezone) || "",
    days: w.days,
    start: w.start,
    end: w.end,
    start_date: (c && c.schedule.start_date) || "",
    end_date: (c && c.schedule.end_date) || "",
    blackout_dates: c ? c.schedule.blackout_dates.join(", ") : "",
    allow_outside_legal_hours: c ? c.schedule.allow_outside_legal_hours : false,
    max_concurrent: c ? String(c.dialer.max_concurrent) : "5",
    max_attempts: c ? String(c.dialer.max_attempts) : "3",
    calls_per_second: c ? String(c.dialer.calls_per_second) : "1",
    max_per_hour: c && c.dialer.max_per_hour != null ? String(c.dialer.max_per_hour) : "",
    max_per_day: c && c.dialer.max_per_day != null ? String(c.dialer.max_per_day) : "",
    cooldown_minutes: c ? String(c.dialer.cooldown_minutes) : "30",
    requires_consent: c ? c.dialer.requires_consent : false,
    outcomes: c ? c.dialer.outcomes.join(", ") : "interested, not_interested, callback_requested, wrong_person",
    ...Object.fromEntries(RETRIED.flatMap((o) => {
      const r = c ? c.dialer.retry[o] : { retry: o !== "voicemail", after_minutes: { no_answer: 240, busy: 30, failed: 60, voicemail: 0 }[o] };
      return [[`${o}_retry`, r.retry], [o, String(r.after_minutes)]];
    })),
  };
}

const optional = (v) => (v.trim() === "" ? null : Number(v));

function bodyOf(f) {
  return {
    name: f.name,
    description: f.description,
    agent_profile: f.agent_profile,
    audience: { target: f.target, include_tags: list(f.include_tags), exclude_tags: list(f.exclude_tags), languages: list(f.languages) },
    schedule: {
      timezone: f.timezone || null,
      windows: [{ days: f.days, start: f.start, end: f.end }],
      start_date: f.start_date || null,
      end_date: f.end_date || null,
      blackout_dates: list(f.blackout_dates),
      allow_outside_legal_hours: f.allow_outside_legal_hours,
    },
    dialer: {
      max_concurrent: Number(f.max_concurrent), max_attempts: Number(f.max_attempts),
      calls_per_second: Number(f.calls_per_second), max_per_hour: optional(f.max_per_hour), max_per_day: optional(f.max_per_day),
      cooldown_minutes: Number(f.cooldown_minutes), requires_consent: f.requires_consent, outcomes: list(f.outcomes),
      retry: Object.fromEntries(RETRIED.map((o) => [o, { retry: f[`${o}_retry`], after_minutes: Number(f[o]) }])),
    },
  };
}

/** The API names fields like `schedule.windows[0].start`; the form's inputs are flat. */
function inputOf(field) {
  if (!field) return null;
  const m = /^(?:audience|schedule|dialer)\.(?:windows\[0\]\.|retry\.)?([a-z_]+)/.exec(field);
  return m ? m[1] : field;
}

const pct = (x) => `${(x * 100).toFixed(1)}%`;
const when = (t) => (t ? new Date(t).toLocaleString() : "");

/** A campaign's live figures (server-sent events) and its latest attempts. */
function CampaignLive({ campaign, onClose }) {
  const [stats, setStats] = useState(null);
  const [attempts, setAttempts] = useState([]);
  const [state, setState] = useState("connecting");
  useEffect(() => {
    const loadAttempts = () => api("GET", `/api/campaigns/${campaign.id}/attempts?limit=50`).then((a) => setAttempts(a.items), () => {});
    const source = new EventSource(`/api/campaigns/${campaign.id}/events`);
    source.addEventListener("stats", (e) => { setState("live"); setStats(JSON.parse(e.data)); loadAttempts(); });
    source.onerror = () => setState(source.readyState === EventSource.CLOSED ? "closed" : "reconnecting");
    loadAttempts();
    return () => source.close();
  }, [campaign.id]);
  const entries = (o) => Object.entries(o || {}).filter(([, n]) => n > 0);
  return html`<div class="panel" role="region" aria-label="Campaign figures">
    <h3>${campaign.name} <span class="muted">(${state})</span> <button type="button" onClick=${onClose}>Close</button></h3>
    ${!stats ? html`<p class="muted">Reading…</p>` : html`
      <dl class="figures">
        <div><dt>Status</dt><dd data-figure="status">${stats.status}${stats.paused_reason ? ` (${stats.paused_reason})` : ""}</dd></div>
        <div><dt>Contacts</dt><dd data-figure="contacts">${stats.contacts}</dd></div>
        <div><dt>Remaining</dt><dd data-figure="remaining">${stats.remaining}</dd></div>
        <div><dt>Dialled</dt><dd data-figure="dialed">${stats.dialed}</dd></div>
        <div><dt>Answered</dt><dd data-figure="answered">${stats.answered}</dd></div>
        <div><dt>Opted out</dt><dd>${stats.opted_out}</dd></div>
        <div><dt>Abandon rate (30 days)</dt><dd>${pct(stats.abandon_rate_30d)}</dd></div>
        <div><dt>Next dial</dt><dd>${stats.next_dial_at ? when(stats.next_dial_at) : "—"}</dd></div>
      </dl>
      <p><strong>Dispositions:</strong> ${entries(stats.dispositions).map(([d, n]) => `${d} ${n}`).join(" · ") || "none yet"}</p>
      <p><strong>Held back at dial time:</strong> ${entries(stats.skipped).map(([d, n]) => `${d.replace(/_/g, " ")} ${n}`).join(" · ") || "none"}</p>`}
    <p><a href=${`/api/campaigns/${campaign.id}/attempts.csv`} download>Download every attempt (CSV)</a></p>
    <table aria-label="Attempts"><thead><tr><th>Started</th><th>Phone</th><th>Attempt</th><th>State</th><th>Disposition</th><th>Outcome</th><th>Call</th></tr></thead>
      <tbody>${attempts.map((a) => html`<tr><td>${when(a.started_at)}</td><td>${a.phone}</td><td>${a.attempt_no}</td><td>${a.state}</td>
        <td>${a.disposition || ""}</td><td>${a.outcome || ""}</td>
        <td>${a.call_id && a.state !== "failed" ? html`<a href=${"#/calls/" + a.call_id}>call</a>` : a.error || ""}</td></tr>`)}</tbody></table>
  </div>`;
}

export function Campaigns({ me }) {
  const [campaigns, setCampaigns] = useState([]);
  const [progress, setProgress] = useState({});
  const [watching, setWatching] = useState(null);
  const [agents, setAgents] = useState([]);
  const [editing, setEditing] = useState(null);
  const [preview, setPreview] = useState(null);
  const [error, setError] = useState(null);
  const [notice, setNotice] = useState("");
  const can = (p) => me.permissions.includes(p);
  const load = useCallback(() => api("GET", "/api/campaigns").then((list) => {
    setCampaigns(list);
    for (const c of list) {
      if (c.status === "draft") continue;
      api("GET", `/api/campaigns/${c.id}/stats`).then((st) => setProgress((p) => ({ ...p, [c.id]: st })), () => {});
    }
  }, setError), []);
  useEffect(() => {
    load();
    api("GET", "/api/agents").then((a) => setAgents(a.items || a), () => {});
  }, [load]);

  const save = (e) => {
    e.preventDefault();
    setError(null);
    const body = bodyOf(editing.form);
    const done = editing.id ? api("PATCH", `/api/campaigns/${editing.id}`, body) : api("POST", "/api/campaigns", body);
    done.then((c) => { setEditing(null); setNotice(`Saved ${c.name} (draft).`); load(); }, setError);
  };
  const act = (c, action) => {
    if (action === "stop" && !window.confirm(`Stop ${c.name}? A stopped campaign cannot be started again.`)) return;
    setError(null);
    api("POST", `/api/campaigns/${c.id}/${action}`).then((n) => { setNotice(`${n.name}: ${n.status}.`); load(); }, setError);
  };
  const remove = (c) => {
    if (!window.confirm(`Delete the draft ${c.name}?`)) return;
    api("DELETE", `/api/campaigns/${c.id}`).then(() => { setNotice(`Deleted ${c.name}.`); load(); }, setError);
  };
  const showPreview = (c) => {
    setPreview({ campaign: c, data: null });
    api("GET", `/api/campaigns/${c.id}/preview`).then((data) => setPreview({ campaign: c, data }), setError);
  };

  const f = editing && editing.form;
  const wrong = error instanceof ApiError ? inputOf(error.field) : null;
  const set = (k) => (e) => setEditing({ ...editing, form: { ...f, [k]: e.target.type === "checkbox" ? e.target.checked : e.target.value } });
  const input = (k, label, type = "text") => html`<div>
    <label for=${"cmp-" + k}>${label}</label>
    <input id=${"cmp-" + k} type=${type} value=${f[k]} onInput=${set(k)} aria-invalid=${wrong === k ? "true" : undefined}
      aria-describedby=${wrong === k ? "cmp-error" : undefined} />
    ${wrong === k && html`<div id="cmp-error" class="error" role="alert">${error.message}</div>`}
  </div>`;
  const toggleDay = (d) => setEditing({ ...editing, form: { ...f, days: f.days.includes(d) ? f.days.filter((x) => x !== d) : [...f.days, d] } });

  return html`<section aria-labelledby="campaigns-title">
    <h2 id="campaigns-title">Campaigns</h2>
    <p class="muted">Calls go out only inside the calling windows in the called person's own time (08:00-21:00 at most), never to a number on the do-not-call list; both are checked again immediately before every call.</p>
    ${notice && html`<p class="ok" role="status">${notice}</p>`}
    ${error && !(f && INPUTS.has(wrong)) && html`<${ErrorLine} error=${error} />`}
    <table aria-label="Campaigns"><thead><tr><th>Name</th><th>Status</th><th>Agent</th><th>Audience</th><th>Windows</th><th>Progress</th><th></th></tr></thead>
      <tbody>${campaigns.map((c) => html`<tr>
        <td>${c.name}</td><td>${c.status}</td><td>${c.agent_profile || "default"}</td>
        <td>${c.audience.target}${c.audience.include_tags.length ? ` · tags ${c.audience.include_tags.join(", ")}` : ""}${c.audience.languages.length ? ` · ${c.audience.languages.join(", ")}` : ""}</td>
        <td>${c.schedule.windows.length ? c.schedule.windows.map((w) => `${w.days.join(" ")} ${w.start}-${w.end}`).join("; ") : "every day 08:00-21:00"}</td>
        <td>${progress[c.id] ? html`<progress max=${progress[c.id].contacts || 1} value=${progress[c.id].done} aria-label=${`${c.name} progress`}></progress>
          ${` ${progress[c.id].done}/${progress[c.id].contacts} done, ${progress[c.id].dialed} dialled`}` : ""}</td>
        <td>
          <button type="button" onClick=${() => showPreview(c)}>Preview</button>
          ${c.status !== "draft" && html` <button type="button" onClick=${() => setWatching(c)}>Figures</button>`}
          ${can("campaigns.edit") && c.status === "draft" && html` <button type="button" onClick=${() => { setError(null); setEditing({ id: c.id, form: formOf(c) }); }}>Edit</button>
            ${" "}<button type="button" onClick=${() => remove(c)}>Delete</button>`}
          ${can("campaigns.control") && ACTIONS[c.status].map((a) => html` <button type="button" class=${a === "stop" ? "danger" : ""}
            onClick=${() => act(c, a)}>${a[0].toUpperCase() + a.slice(1)}</button>`)}
        </td></tr>`)}</tbody></table>
    ${preview && html`<div class="panel" role="region" aria-label="Preview">
      <h3>Preview of ${preview.campaign.name}</h3>
      ${!preview.data ? html`<p class="muted">Counting…</p>` : html`
        <p>${`${preview.data.matching} contacts would be called; ${preview.data.opted_out} left out for the do-not-call list; ${preview.data.customers_read} customers read${preview.data.complete ? "." : " (stopped after 10 s: at least this many)."}`}</p>
        <table aria-label="Sample"><thead><tr><th>Name</th><th>Contact</th><th>Phone</th><th>Language</th></tr></thead>
          <tbody>${preview.data.sample.map((s) => html`<tr><td><a href=${"#/prospects/" + s.customer_id}>${s.name || "(no name)"}</a></td>
            <td>${s.code || "invoice"}</td><td>${s.phone}</td><td>${s.language}</td></tr>`)}</tbody></table>`}
    </div>`}
    ${watching && html`<${CampaignLive} campaign=${watching} onClose=${() => { setWatching(null); load(); }} />`}
    ${can("campaigns.edit") && !editing && html`<p><button type="button" onClick=${() => { setError(null); setEditing({ id: null, form: formOf(null) }); }}>New campaign</button></p>`}
    ${editing && html`<form onSubmit=${save} aria-label="Campaign">
      <div class="row">${input("name", "Name")}${input("description", "Description")}
        <div><label for="cmp-agent">Agent profile</label><select id="cmp-agent" value=${f.agent_profile} onChange=${set("agent_profile")}>
          <option value="">default</option>${agents.map((a) => html`<option value=${a.name}>${a.name}</option>`)}</select></div></div>
      <h3>Audience</h3>
      <div class="row">
        <div><label for="cmp-target">Contacts</label><select id="cmp-target" value=${f.target} onChange=${set("target")}>
          <option value="invoice">invoice</option><option value="delivery">delivery</option><option value="both">both</option></select></div>
        ${input("include_tags", "With all tags (comma separated)")}${input("exclude_tags", "Without tags")}${input("languages", "Languages (nl, fr, …)")}
      </div>
      <h3>Calling window, in the called person's time</h3>
      <fieldset><legend>Days</legend><div class="row">${DAYS.map((d) => html`<label class="check">
        <input type="checkbox" checked=${f.days.includes(d)} onChange=${() => toggleDay(d)} /> ${d}</label>`)}</div></fieldset>
      <div class="row">${input("start", "From (HH:MM)")}${input("end", "To (HH:MM)")}${input("timezone", "Campaign time zone (empty: the appliance's)")}
        ${input("start_date", "First day", "date")}${input("end_date", "Last day", "date")}${input("blackout_dates", "Blackout dates (YYYY-MM-DD, comma separated)")}</div>
      <p><label class="check"><input type="checkbox" checked=${f.allow_outside_legal_hours} onChange=${set("allow_outside_legal_hours")} />
        Allow windows outside 08:00-21:00 (only for calls the telemarketing hours rule does not cover; audited)</label></p>
      <h3>Pacing</h3>
      <div class="row">${input("max_concurrent", "Calls at once", "number")}${input("calls_per_second", "New calls per second", "number")}
        ${input("max_per_hour", "Calls per hour (empty: no cap)", "number")}${input("max_per_day", "Calls per day (empty: no cap)", "number")}
        ${input("max_attempts", "Attempts per number", "number")}${input("cooldown_minutes", "Minutes between calls to a number", "number")}
        <div><label class="check"><input type="checkbox" checked=${f.requires_consent} onChange=${set("requires_consent")} /> Only numbers with recorded consent</label></div></div>
      <h3>Retries</h3>
      <div class="row">${RETRIED.map((o) => html`<div>
        <label class="check"><input type="checkbox" checked=${f[`${o}_retry`]} onChange=${set(`${o}_retry`)} /> Retry ${o.replace("_", " ")}</label>
        ${input(o, `after minutes (${o.replace("_", " ")})`, "number")}</div>`)}</div>
      ${input("outcomes", "Outcome categories the agent may record (comma separated)")}
      <p><button class="primary" type="submit">Save draft</button> <button type="button" onClick=${() => { setEditing(null); setError(null); }}>Cancel</button></p>
    </form>`}
  </section>`;
}

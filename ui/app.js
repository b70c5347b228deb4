/*
 * hookbridge console: a small single-page app on the admin API, no framework.
 *
 * Safety rule of this file: webhook bodies, headers and every other value from the API are
 * attacker-controlled, so they only ever reach the page as text (textContent, attribute
 * values through setAttribute on non-event attributes). Nothing here writes innerHTML.
 * The admin token is sent once to POST /api/session and never stored: the session is an
 * HttpOnly cookie the page cannot read.
 */
"use strict";

const STATUSES = ["queued", "scheduled", "retrying", "delivered", "failed", "filtered", "aborted"];
const PENDING = new Set(["queued", "scheduled", "retrying"]);
const main = document.getElementById("main");
let timers = []; // refreshes of the current view, stopped when the view changes
let renderSeq = 0; // a view's late answers are dropped once another view has started

// ---- DOM helpers ---------------------------------------------------------------------

/* h("a", {href: "#/x", class: "btn"}, "text", child…): children are nodes or text. */
function h(tag, attrs, ...children) {
  const el = tag === "svg" || tag.startsWith("svg:")
    ? document.createElementNS("http://www.w3.org/2000/svg", tag.replace("svg:", ""))
    : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "text") el.textContent = v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

function svg(tag, attrs) {
  return h("svg:" + tag, attrs);
}

function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
}

function show(...nodes) {
  clear(main);
  main.append(...nodes.flat(Infinity).filter(Boolean));
}

function badge(status) {
  return h("span", {class: "badge " + status}, status);
}

let toastTimer = null;
function toast(msg, bad) {
  const t = document.getElementById("toast");
  t.textContent = msg;
  t.className = "toast" + (bad ? " bad" : "");
  t.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { t.hidden = true; }, 4000);
}

function fmtTime(iso) {
  if (!iso) return "—";
  const d = new Date(iso);
  if (isNaN(d)) return iso;
  const p = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ` +
    `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

function fmtAge(ms) {
  const s = Math.round(ms / 1000);
  if (s < 60) return s + " s ago";
  return Math.floor(s / 60) + " min " + (s % 60) + " s ago";
}

function pretty(v) {
  if (typeof v === "string") return v;
  return JSON.stringify(v, null, 2);
}

async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
  } catch (e) {
    // Without the async clipboard (an http:// origin that is not localhost): a selection.
    const ta = h("textarea", {class: "offscreen", readonly: true});
    ta.value = text;
    document.body.append(ta);
    ta.select();
    document.execCommand("copy");
    ta.remove();
  }
  toast("Copied " + text);
}

// ---- API -----------------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, body) {
    super((body && body.message) || (body && body.error) || "HTTP " + status);
    this.status = status;
    this.body = body || {};
  }
}

/* Call the admin API with the session cookie; a 401 sends the browser to sign in. */
async function api(method, path, body) {
  const opts = {method, credentials: "same-origin", headers: {Accept: "application/json"}};
  if (method !== "GET") {
    // Required of every state-changing request authenticated by cookie (and by CSRF rules).
    opts.headers["Content-Type"] = "application/json";
    if (body !== undefined) opts.body = JSON.stringify(body);
  }
  const res = await fetch(path, opts);
  let data = null;
  const text = await res.text();
  if (text) {
    try { data = JSON.parse(text); } catch (e) { data = {message: text}; }
  }
  if (res.status === 401 && path !== "/api/session") {
    signIn();
    throw new ApiError(401, data);
  }
  if (!res.ok) throw new ApiError(res.status, data);
  return data;
}

function qs(params) {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== "" && v !== null && v !== undefined) u.set(k, v);
  const s = u.toString();
  return s ? "?" + s : "";
}

// ---- routing -------------------------------------------------------------------------

/* "#/events?status=failed" -> {parts: ["events"], params: URLSearchParams} */
function currentRoute() {
  const hash = location.hash.replace(/^#\/?/, "");
  const [path, query] = hash.split("?");
  return {parts: path.split("/").filter(Boolean), params: new URLSearchParams(query || "")};
}

function go(hash) {
  if (location.hash === hash) render();
  else location.hash = hash;
}

function render() {
  timers.forEach(clearInterval);
  timers = [];
  const seq = ++renderSeq;
  const {parts, params} = currentRoute();
  document.getElementById("top").hidden = false;
  const section = parts[0] || "overview";
  for (const a of document.querySelectorAll("[data-nav]"))
    a.classList.toggle("current", a.dataset.nav === section);
  let view;
  if (section === "overview") view = viewOverview(seq);
  else if (section === "bridges" && parts[1] === "new") view = viewBridgeForm(seq, null);
  else if (section === "bridges" && parts[1]) view = viewBridgeForm(seq, parts[1]);
  else if (section === "bridges") view = viewBridges(seq, params);
  else if (section === "events" && parts[1]) view = viewEvent(seq, parts[1]);
  else if (section === "events") view = viewEvents(seq, params);
  else view = Promise.resolve(show(h("div", {class: "panel empty"}, "No such page. ",
    h("a", {href: "#/"}, "Go to the overview"))));
  document.title = "hookbridge · " + section;
  view.catch((e) => {
    if (e instanceof ApiError && e.status === 401) return;
    if (seq !== renderSeq) return;
    show(h("div", {class: "banner"}, "Could not load this page: " + e.message));
  });
}

function stale(seq) {
  return seq !== renderSeq;
}

// ---- sign in -------------------------------------------------------------------------

function signIn() {
  timers.forEach(clearInterval);
  timers = [];
  renderSeq++;
  document.getElementById("top").hidden = true;
  document.title = "hookbridge · sign in";
  const token = h("input", {type: "password", name: "token", id: "token", autocomplete: "current-password",
    required: true, autofocus: true});
  const err = h("p", {class: "error", role: "alert"});
  const form = h("form", {class: "form", onsubmit: async (e) => {
    e.preventDefault();
    err.textContent = "";
    try {
      await api("POST", "/api/session", {token: token.value});
      token.value = "";
      render();
    } catch (ex) {
      err.textContent = ex.status === 401 && /wrong/.test(ex.message) ? "That is not the admin token." : ex.message;
      token.select();
    }
  }},
  h("div", {class: "field"}, h("label", {for: "token"}, "Admin token"), token,
    h("span", {class: "help"}, "The value of HOOKBRIDGE_ADMIN_TOKEN. It is exchanged for a " +
      "12-hour session cookie and not kept by this page.")),
  err,
  h("div", {class: "form-actions"}, h("button", {type: "submit", class: "btn primary"}, "Sign in")));
  show(h("div", {class: "signin"}, h("div", {class: "panel"},
    h("h1", {}, "hookbridge"), h("p", {class: "muted"}, "Sign in to the console."), form)));
  token.focus();
}

document.getElementById("signout").addEventListener("click", async () => {
  try { await api("DELETE", "/api/session"); } catch (e) { /* signed out either way */ }
  signIn();
});

// ---- overview ------------------------------------------------------------------------

async function viewOverview(seq) {
  const cards = h("div", {class: "grid"});
  const chartBox = h("div", {class: "chart-box"});
  const workers = h("div", {class: "table-wrap"});
  const totals = h("div", {class: "table-wrap"});
  show(
    h("div", {class: "head"}, h("h1", {}, "Overview"),
      h("span", {class: "muted small push", id: "updated"}, "")),
    cards,
    h("section", {class: "panel"},
      h("h2", {}, "Last hour, per minute"),
      h("div", {class: "legend"}, h("span", {class: "l-accepted"}, "accepted"),
        h("span", {class: "l-delivered"}, "delivered"), h("span", {class: "l-failed"}, "failed")),
      chartBox),
    h("div", {class: "cols"},
      h("section", {class: "panel"}, h("h2", {}, "Workers"), workers),
      h("section", {class: "panel"}, h("h2", {}, "Events by status"), totals)));
  let series = null;
  async function load() {
    const [stats, s] = await Promise.all([api("GET", "/api/stats"), api("GET", "/api/stats/series?minutes=60")]);
    if (stale(seq)) return;
    series = s.minutes;
    clear(cards);
    const card = (label, value, id) => h("div", {class: "card", id},
      h("div", {class: "label"}, label), h("div", {class: "value"}, String(value)));
    const sum = (k) => series.reduce((a, m) => a + m[k], 0);
    cards.append(
      card("Ready", stats.queue.ready, "q-ready"), card("Scheduled", stats.queue.scheduled, "q-scheduled"),
      card("In flight", stats.queue.in_flight, "q-inflight"), card("Live workers", stats.workers.live, "w-live"),
      card("Accepted · 1 h", sum("accepted"), "h-accepted"), card("Failed · 1 h", sum("failed"), "h-failed"));
    drawChart(chartBox, series);
    clear(workers);
    const list = stats.workers.list || [];
    workers.append(list.length === 0
      ? h("p", {class: "empty"}, "No live worker. Start one with hookbridge-worker.")
      : h("table", {}, h("thead", {}, h("tr", {}, h("th", {}, "Worker"), h("th", {class: "num"}, "Heartbeat"))),
        h("tbody", {}, list.map((w) => h("tr", {},
          h("td", {class: "mono"}, w.id), h("td", {class: "num"}, fmtAge(w.heartbeat_age_ms)))))));
    clear(totals);
    const ev = stats.events || {};
    totals.append(h("table", {}, h("tbody", {},
      STATUSES.map((st) => h("tr", {}, h("td", {}, h("a", {href: "#/events?status=" + st}, badge(st))),
        h("td", {class: "num"}, String(ev[st] || 0)))),
      h("tr", {}, h("td", {}, h("strong", {}, "total")), h("td", {class: "num"}, h("strong", {}, String(ev.total || 0)))))));
    document.getElementById("updated").textContent = "updated " + fmtTime(new Date().toISOString());
  }
  await load();
  timers.push(setInterval(() => load().catch(() => {}), 5000));
  const redraw = () => { if (!stale(seq) && series) drawChart(chartBox, series); };
  window.onresize = redraw;
}

/* Three lines over the minutes, drawn at the box's pixel width so text stays crisp. */
function drawChart(box, minutes) {
  clear(box);
  const W = Math.max(box.clientWidth || 600, 280), H = 220;
  const padL = 36, padR = 10, padT = 10, padB = 24;
  const max = Math.max(1, ...minutes.flatMap((m) => [m.accepted, m.delivered, m.failed]));
  const top = niceMax(max);
  const x = (i) => padL + (i * (W - padL - padR)) / Math.max(1, minutes.length - 1);
  const y = (v) => padT + (H - padT - padB) * (1 - v / top);
  const chart = svg("svg", {class: "chart", viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: "img",
    "aria-label": "accepted, delivered and failed per minute"});
  for (let k = 0; k <= 4; k++) {
    const v = (top * k) / 4;
    chart.append(svg("line", {class: "grid-line", x1: padL, x2: W - padR, y1: y(v), y2: y(v)}));
    const t = svg("text", {class: "axis", x: padL - 6, y: y(v) + 4, "text-anchor": "end"});
    t.textContent = String(Math.round(v));
    chart.append(t);
  }
  const step = W < 500 ? 20 : 10;
  minutes.forEach((m, i) => {
    const ago = minutes.length - 1 - i;
    if (ago % step !== 0) return;
    const t = svg("text", {class: "axis", x: x(i), y: H - 6, "text-anchor": "middle"});
    t.textContent = ago === 0 ? "now" : "-" + ago + " min";
    chart.append(t);
  });
  for (const k of ["accepted", "delivered", "failed"]) {
    const pts = minutes.map((m, i) => `${x(i).toFixed(1)},${y(m[k]).toFixed(1)}`).join(" ");
    chart.append(svg("polyline", {class: k, points: pts}));
  }
  box.append(chart);
}

function niceMax(v) {
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 4, 5, 10]) if (m * p >= v) return Math.max(4, m * p);
  return v;
}

// ---- bridges -------------------------------------------------------------------------

async function viewBridges(seq, params) {
  const q = params.get("q") || "";
  const before = params.get("before") || "";
  const search = h("input", {type: "search", name: "q", placeholder: "Search by name", value: q,
    "aria-label": "Search bridges by name"});
  const form = h("form", {class: "filters", onsubmit: (e) => {
    e.preventDefault();
    go("#/bridges" + qs({q: search.value.trim()}));
  }}, search, h("div", {}, h("button", {type: "submit", class: "btn"}, "Search")));
  const body = h("div", {class: "table-wrap"}, h("p", {class: "muted"}, "Loading…"));
  show(h("div", {class: "head"}, h("h1", {}, "Bridges"),
    h("div", {class: "actions"}, h("a", {class: "btn primary", href: "#/bridges/new"}, "New bridge"))),
  h("section", {class: "panel"}, form), h("section", {class: "panel"}, body));
  const page = await api("GET", "/api/bridges" + qs({limit: 25, q, before}));
  if (stale(seq)) return;
  clear(body);
  if (page.bridges.length === 0) {
    body.append(h("p", {class: "empty"}, q ? "No bridge name holds “" + q + "”." :
      "No bridges yet. Create one to get an inbound URL."));
    return;
  }
  body.append(h("table", {id: "bridges", class: "stack"},
    h("thead", {}, h("tr", {}, h("th", {}, "Name"), h("th", {}, "Inbound URL"), h("th", {}, "State"),
      h("th", {}, "Last 24 h"), h("th", {class: "hide-narrow"}, "Destination"))),
    h("tbody", {}, page.bridges.map((b) => h("tr", {"data-id": b.id},
      h("td", {}, h("a", {href: "#/bridges/" + b.id}, b.name || b.id)),
      h("td", {}, h("span", {class: "url"}, h("code", {title: b.inbound_url}, b.inbound_url),
        h("button", {type: "button", class: "btn small", onclick: () => copyText(b.inbound_url)}, "Copy"))),
      h("td", {}, badge(stateOf(b))),
      h("td", {"data-label": "last 24 h", class: "counts"}, countsOf(b)),
      h("td", {class: "hide-narrow"}, h("code", {}, (b.method || "") + " " + (b.outbound_url || ""))))))));
  const pager = h("div", {class: "pager"});
  if (before) pager.append(h("a", {class: "btn", href: "#/bridges" + qs({q})}, "First page"));
  if (page.next) pager.append(h("a", {class: "btn", href: "#/bridges" + qs({q, before: page.next})}, "Older"));
  body.append(pager);
}

/* A bridge's last 24 h of events (counts_24h), each status that has any as a link to
 * those events. */
function countsOf(b) {
  const c = b.counts_24h || {};
  const since = new Date(Date.now() - 24 * 3600 * 1000).toISOString().replace(/\.\d{3}Z$/, "Z");
  const shown = STATUSES.filter((st) => c[st] > 0).map((st) => h("a", {class: "count",
    href: "#/events" + qs({bridge_id: b.id, status: st, since}), title: c[st] + " " + st + " in the last 24 hours"},
  badge(st), h("span", {class: "n"}, String(c[st]))));
  return shown.length ? shown : h("span", {class: "muted small"}, "no events");
}

function stateOf(b) {
  if (!b.active) return "inactive";
  if (b.deliveries === "paused") return "paused";
  return "active";
}

/* The form's fields: name, kind, help. JSON fields are edited as text and checked. */
const BRIDGE_FIELDS = [
  {name: "headers", help: "Outbound headers, name → template. Example: {\"Authorization\": \"Bearer $env.TOKEN\"}"},
  {name: "payload", help: "JSON template of the outbound body ($payload.x, $headers.x, $env.X). Empty forwards the inbound body."},
  {name: "filter", help: "Only matching requests are delivered, e.g. {\"$payload.type\": {\"eq\": \"order.created\"}}. Empty delivers all."},
  {name: "schema", help: "JSON Schema (draft-07) every inbound body must pass; others are refused with 400."},
  {name: "auth", help: "How senders prove who they are, e.g. {\"type\": \"hmac-sha256\", \"secret\": \"…\", \"header\": \"X-Signature\"}. Secrets are write-only."},
  {name: "env", help: "Write-only values for $env.NAME in templates. Stored values show ********; leave them to keep them."},
  {name: "routes", help: "Several destinations for one inbound URL: an array of routes, each with a name and the outbound fields."},
];

/* Templates of the auth types, the sender presets first: choosing one fills the editor. */
const AUTH_PRESETS = {
  stripe: {type: "stripe", secret: "whsec_…", tolerance_seconds: 300},
  github: {type: "github", secret: "…"},
  shopify: {type: "shopify", secret: "…"},
  xero: {type: "xero", secret: "…"},
  "standard-webhooks": {type: "standard-webhooks", secret: "whsec_…", tolerance_seconds: 300},
  slack: {type: "slack", secret: "…"},
  "hmac-sha256": {type: "hmac-sha256", secret: "…", header: "X-Signature", encoding: "hex", prefix: ""},
  token: {type: "token", secret: "…", header: "Authorization", prefix: "Bearer "},
  "jwt-hs256": {type: "jwt-hs256", secret: "…", audience: "…", issuer: "…"},
};

/* Fields of sources, flow control and destinations (SPEC "Sources", "Flow control",
 * "Destinations"), kept folded: most bridges need none of them. */
const MORE_JSON_FIELDS = [
  {name: "response", help: "The answer to an accepted request instead of 202, e.g. {\"status\": 200, \"body\": \"ok\", \"content_type\": \"text/plain\"}."},
  {name: "challenge", help: "A handshake answered at once, not queued, e.g. {\"when\": {\"$payload.type\": {\"eq\": \"url_verification\"}}, \"respond\": \"$payload.challenge\"}."},
  {name: "dedup", help: "Drop repeats within a window, e.g. {\"key\": \"$payload.id\", \"window_seconds\": 86400, \"on_duplicate\": \"accept\"}."},
  {name: "rate_limit", help: "At most this many attempts per window, e.g. {\"requests\": 60, \"per_seconds\": 60}."},
  {name: "circuit", help: "Stop calling a failing destination for a while, e.g. {\"failures\": 10, \"open_seconds\": 60}."},
  {name: "oauth2", help: "Client-credentials token for deliveries, e.g. {\"grant\": \"client_credentials\", \"token_url\": \"…\", \"client_id\": \"…\", \"client_secret\": \"…\"}. Secrets are write-only."},
  {name: "email", help: "For an smtp:// or smtps:// destination: the mail's from, to and subject templates."},
  {name: "tls", help: "Client certificate and trusted CA for the destination, in PEM. The key is write-only."},
];

function authPresets(ta) {
  const sel = h("select", {id: "auth-preset", "aria-label": "Fill auth from a preset", onchange: () => {
    const p = AUTH_PRESETS[sel.value];
    sel.value = "";
    if (!p) return;
    ta.value = JSON.stringify(p, null, 2);
    fitRows(ta);
    ta.dispatchEvent(new Event("input"));
    ta.focus();
  }}, h("option", {value: ""}, "Fill from a preset…"),
  h("optgroup", {label: "Senders"}, ["stripe", "github", "shopify", "xero", "standard-webhooks", "slack"]
    .map((k) => h("option", {value: k}, k))),
  h("optgroup", {label: "Generic"}, ["hmac-sha256", "token", "jwt-hs256"].map((k) => h("option", {value: k}, k))));
  return sel;
}

/* The JSON's tokens as coloured spans (text nodes only), the character at `errPos` marked. */
function paintJson(pre, text, errPos) {
  clear(pre);
  const re = /("(?:[^"\\\n]|\\.)*"?)(\s*:)?|(-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)|(true|false|null)|([{}[\],:])/g;
  let last = 0;
  const plain = (a, b) => {
    if (b <= a) return;
    if (errPos >= a && errPos < b) {
      if (errPos > a) pre.append(text.slice(a, errPos));
      pre.append(h("span", {class: "j-err"}, text[errPos] === "\n" ? " \n" : text[errPos]));
      if (errPos + 1 < b) pre.append(text.slice(errPos + 1, b));
    } else pre.append(text.slice(a, b));
  };
  for (let m; (m = re.exec(text)) !== null;) {
    plain(last, m.index);
    const tok = m[1] !== undefined ? m[1] : m[0];
    const cls = m[1] !== undefined ? (m[2] ? "j-key" : "j-str") : m[3] !== undefined ? "j-num"
      : m[4] !== undefined ? "j-lit" : "j-punct";
    if (errPos >= m.index && errPos < m.index + tok.length) plain(m.index, m.index + tok.length);
    else pre.append(h("span", {class: cls}, tok));
    last = m.index + tok.length;
    re.lastIndex = last;
  }
  plain(last, text.length);
  if (errPos >= text.length) pre.append(h("span", {class: "j-err"}, " "));
  pre.append("\n"); // a last empty line keeps its height
}

/* A textarea over a highlighted copy of its text: the textarea (transparent text, visible
 * caret) stays the control people and tests type into; the copy only shows colours. */
function jsonEditor(ta) {
  const pre = h("pre", {class: "hl", "aria-hidden": "true"});
  const box = h("div", {class: "editor"}, pre, ta);
  ta.setAttribute("wrap", "off");
  ta._paint = (errPos) => {
    paintJson(pre, ta.value, errPos === undefined ? -1 : errPos);
    pre.scrollTop = ta.scrollTop;
    pre.scrollLeft = ta.scrollLeft;
  };
  ta.addEventListener("scroll", () => { pre.scrollTop = ta.scrollTop; pre.scrollLeft = ta.scrollLeft; });
  ta._paint();
  return box;
}

function jsonField(name, help) {
  const ta = h("textarea", {name, id: "f-" + name, rows: 4, spellcheck: "false", "aria-describedby": "e-" + name});
  const status = h("span", {class: "error", id: "e-" + name, role: "alert"});
  const wrap = h("div", {class: "field", "data-field": name},
    h("div", {class: "label-row"}, h("label", {for: "f-" + name}, name, h("code", {}, "JSON")),
      name === "auth" ? authPresets(ta) : null),
    jsonEditor(ta), status, h("span", {class: "help"}, help));
  ta.addEventListener("input", () => checkJson(wrap));
  ta.addEventListener("keydown", (e) => {
    if (e.key === "Tab" && !e.shiftKey && !e.ctrlKey) { // two spaces, not a focus change
      e.preventDefault();
      ta.setRangeText("  ", ta.selectionStart, ta.selectionEnd, "end");
    }
  });
  return wrap;
}

/* Parse a JSON field's text; shows where it breaks. Returns {ok, value, empty}. */
function checkJson(wrap) {
  const ta = wrap.querySelector("textarea");
  const out = wrap.querySelector(".error");
  const text = ta.value.trim();
  wrap.classList.remove("invalid");
  out.textContent = "";
  if (text === "") {
    if (ta._paint) ta._paint();
    return {ok: true, empty: true};
  }
  try {
    const value = JSON.parse(text);
    if (ta._paint) ta._paint();
    return {ok: true, value};
  } catch (e) {
    wrap.classList.add("invalid");
    out.textContent = "Not valid JSON: " + jsonErrorWhere(ta.value, e.message);
    if (ta._paint) ta._paint(jsonScan(ta.value).pos);
    return {ok: false};
  }
}

/* "line 3, column 7: expected a value" for text JSON.parse refused. Engines differ in what
 * their messages say (recent Chromium names no position), so a small scanner finds where
 * the text stops being JSON. */
function jsonErrorWhere(text, engineMsg) {
  const {pos, msg} = jsonScan(text);
  if (pos < 0) return engineMsg;
  const before = text.slice(0, pos).split("\n");
  return `line ${before.length}, column ${before[before.length - 1].length + 1}: ${msg}`;
}

/* Returns {pos, msg} of the first error in `t`, or {pos: -1} when it is JSON. */
function jsonScan(t) {
  let i = 0;
  const ws = () => { while (i < t.length && " \t\n\r".includes(t[i])) i++; };
  const fail = (msg) => { throw {pos: i, msg}; };
  const what = () => (i >= t.length ? "the text ends" : `unexpected ${JSON.stringify(t[i])}`);
  function value() {
    ws();
    const c = t[i];
    if (c === "{") {
      i++; ws();
      if (t[i] === "}") { i++; return; }
      for (;;) {
        ws();
        if (t[i] !== '"') fail(what() + ", expected a \"quoted\" name");
        string(); ws();
        if (t[i] !== ":") fail(what() + ", expected ':'");
        i++; value(); ws();
        if (t[i] === ",") { i++; continue; }
        if (t[i] === "}") { i++; return; }
        fail(what() + ", expected ',' or '}'");
      }
    }
    if (c === "[") {
      i++; ws();
      if (t[i] === "]") { i++; return; }
      for (;;) {
        value(); ws();
        if (t[i] === ",") { i++; continue; }
        if (t[i] === "]") { i++; return; }
        fail(what() + ", expected ',' or ']'");
      }
    }
    if (c === '"') return string();
    const m = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(t.slice(i, i + 400));
    if (m && m[0] !== "" && m[0] !== "-") { i += m[0].length; return; }
    for (const w of ["true", "false", "null"]) if (t.startsWith(w, i)) { i += w.length; return; }
    fail(what() + ", expected a value (a \"string\", number, object, array, true, false or null)");
  }
  function string() {
    i++;
    while (i < t.length && t[i] !== '"') {
      if (t[i] === "\\") {
        i++;
        if (!'"\\/bfnrtu'.includes(t[i] || "x")) fail("bad escape in a string");
      } else if (t.charCodeAt(i) < 0x20) fail("a line break or control character in a string");
      i++;
    }
    if (i >= t.length) fail("a string is not closed");
    i++;
  }
  try {
    value(); ws();
    if (i < t.length) fail(what() + " after the value");
    return {pos: -1};
  } catch (e) {
    if (e && typeof e.pos === "number") return e;
    throw e;
  }
}

function textField(name, label, help, attrs) {
  const input = h("input", Object.assign({type: "text", name, id: "f-" + name}, attrs || {}));
  return h("div", {class: "field", "data-field": name},
    h("label", {for: "f-" + name}, label, h("code", {}, name)), input,
    h("span", {class: "error", id: "e-" + name, role: "alert"}), help ? h("span", {class: "help"}, help) : null);
}

async function viewBridgeForm(seq, id) {
  let bridge = null;
  if (id) {
    bridge = await api("GET", "/api/bridges/" + encodeURIComponent(id));
    if (stale(seq)) return;
  }
  const method = h("select", {name: "method", id: "f-method"},
    ["POST", "PUT", "PATCH", "GET", "DELETE"].map((m) => h("option", {value: m}, m)));
  const banner = h("div", {class: "banner", hidden: true, role: "alert"});
  const form = h("form", {class: "form", id: "bridge-form", novalidate: true},
    banner,
    textField("name", "Name", "Shown in lists; any text.", {maxlength: 200, placeholder: "Orders from Shopify"}),
    h("div", {class: "row3"},
      textField("outbound_url", "Destination URL", "Where each event goes. May use templates, e.g. $env.BASE/orders.",
        {placeholder: "https://example.com/webhooks", required: true}),
      h("div", {class: "field", "data-field": "method"}, h("label", {for: "f-method"}, "Method", h("code", {}, "method")),
        method, h("span", {class: "error", id: "e-method"}), h("span", {class: "help"}, "HTTP method of the delivery.")),
      textField("timeout_ms", "Timeout", "Milliseconds per attempt.", {type: "number", min: 100, max: 300000, placeholder: "10000"})),
    h("div", {class: "row3"},
      textField("notify_url", "Failure notice URL", "Gets a JSON notice when an event finally fails. Optional.", {placeholder: "https://…"}),
      textField("delay_seconds", "Delay", "Seconds to wait before the first attempt.", {type: "number", min: 0, placeholder: "0"}),
      textField("retries", "Retries", "Attempts after the first one fails (0–25).", {type: "number", min: 0, max: 25, placeholder: "5"})),
    textField("signing_secret", "Signing secret", "Write-only Standard Webhooks secret (whsec_…) to sign deliveries. Shows ******** once set.",
      {autocomplete: "off", placeholder: "whsec_…"}),
    BRIDGE_FIELDS.map((f) => jsonField(f.name, f.help)),
    h("details", {class: "more", id: "more-fields"},
      h("summary", {}, "Sources, flow control and destinations"),
      h("div", {class: "row3"},
        textField("split", "Split", "One event per element of this array, e.g. $payload.events.", {placeholder: "$payload.events"}),
        textField("max_concurrency", "Concurrency", "Attempts in flight at once, across workers.", {type: "number", min: 1}),
        h("div", {})),
      MORE_JSON_FIELDS.map((f) => jsonField(f.name, f.help))),
    h("div", {class: "form-actions"}, h("button", {type: "submit", class: "btn primary"}, "Save"),
      h("a", {class: "btn", href: id ? "#/bridges/" + id : "#/bridges"}, "Cancel")));

  const original = {};
  const fieldEl = (name) => form.querySelector(`[name="${name}"]`);
  if (bridge) {
    for (const k of ["name", "outbound_url", "method", "timeout_ms", "notify_url", "delay_seconds", "retries",
      "signing_secret", "split", "max_concurrency"]) {
      const v = bridge[k];
      fieldEl(k).value = v === null || v === undefined ? "" : String(v);
    }
    for (const f of BRIDGE_FIELDS.concat(MORE_JSON_FIELDS)) {
      let v = bridge[f.name];
      if (f.name === "headers" && v && Object.keys(v).length === 0) v = null;
      if (f.name === "env" && v && Object.keys(v).length === 0) v = null;
      if (f.name === "auth" && v && v.type === "none" && Object.keys(v).length === 1) v = null;
      fieldEl(f.name).value = v === null || v === undefined ? "" : JSON.stringify(v, null, 2);
      fitRows(fieldEl(f.name));
    }
    // Open the folded fields when the bridge uses any of them.
    if (MORE_JSON_FIELDS.some((f) => bridge[f.name] !== null && bridge[f.name] !== undefined) ||
        bridge.split || bridge.max_concurrency) form.querySelector("#more-fields").open = true;
  } else {
    method.value = "POST";
  }
  for (const el of form.querySelectorAll("input, select, textarea")) original[el.name] = el.value;

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    for (const el of form.querySelectorAll(".field")) {
      el.classList.remove("invalid");
      const er = el.querySelector(".error");
      if (er) er.textContent = "";
    }
    banner.hidden = true;
    const body = {};
    let ok = true;
    for (const el of form.querySelectorAll("input, select, textarea")) {
      const name = el.name;
      if (!name) continue; // a helper control (the auth preset), no field of its own
      if (bridge && el.value === original[name]) continue; // PATCH only what changed
      const wrap = el.closest(".field");
      if (el.tagName === "TEXTAREA") {
        const r = checkJson(wrap);
        if (!r.ok) { ok = false; continue; }
        if (r.empty) { if (bridge) body[name] = null; continue; }
        body[name] = name === "env" && bridge ? envPatch(bridge.env, r.value) : r.value;
      } else if (el.type === "number") {
        if (el.value.trim() === "") { if (bridge) body[name] = null; continue; }
        const n = Number(el.value);
        if (!Number.isInteger(n)) { fieldError(form, name, "a whole number, please"); ok = false; continue; }
        body[name] = n;
      } else if (el.value.trim() === "") {
        if (bridge) body[name] = null;
      } else {
        body[name] = el.value.trim();
      }
    }
    if (!ok) { banner.textContent = "Fix the fields marked in red, then save again."; banner.hidden = false; return; }
    try {
      const saved = bridge ? await api("PATCH", "/api/bridges/" + bridge.id, body) : await api("POST", "/api/bridges", body);
      toast(bridge ? "Saved" : "Bridge created");
      go("#/bridges/" + saved.id);
    } catch (ex) {
      const field = ex.body && ex.body.field ? String(ex.body.field).split(/[.[]/)[0] : "";
      if (field && fieldEl(field)) fieldError(form, field, ex.message);
      else { banner.textContent = ex.message; banner.hidden = false; }
    }
  });

  const head = h("div", {class: "head"}, h("h1", {}, bridge ? bridge.name || bridge.id : "New bridge"));
  const parts = [head];
  if (bridge) {
    head.append(h("div", {class: "actions"}, bridgeActions(bridge)));
    parts.push(h("section", {class: "panel"},
      h("dl", {class: "kv"},
        h("dt", {}, "Inbound URL"), h("dd", {}, h("span", {class: "url"}, h("code", {id: "inbound-url"}, bridge.inbound_url),
          h("button", {type: "button", class: "btn small", onclick: () => copyText(bridge.inbound_url)}, "Copy"))),
        h("dt", {}, "State"), h("dd", {}, badge(stateOf(bridge))),
        "deliveries" in bridge ? [h("dt", {}, "Deliveries"), h("dd", {id: "deliveries"},
          bridge.deliveries === "paused" ? "paused: events are accepted and kept, none is sent until resumed" : "running")] : null,
        h("dt", {}, "Id"), h("dd", {class: "mono"}, bridge.id),
        h("dt", {}, "Created"), h("dd", {}, fmtTime(bridge.created_at)),
        h("dt", {}, "Events"), h("dd", {}, h("a", {href: "#/events?bridge_id=" + bridge.id}, "See this bridge's events")))));
    parts.push(h("div", {id: "confirm"}));
  }
  parts.push(h("section", {class: "panel"}, h("h2", {}, bridge ? "Settings" : "Settings of the new bridge"), form));
  show(...parts);
}

function fitRows(ta) {
  ta.rows = Math.min(16, Math.max(4, ta.value.split("\n").length + 1));
  if (ta._paint) ta._paint();
}

/* env: names dropped from the editor are deleted (null); ******** keeps a stored value. */
function envPatch(old, edited) {
  const out = Object.assign({}, edited);
  for (const k of Object.keys(old || {})) if (!(k in out)) out[k] = null;
  return out;
}

function fieldError(form, name, msg) {
  const wrap = form.querySelector(`.field[data-field="${name}"]`);
  if (!wrap) return;
  const folded = wrap.closest("details");
  if (folded) folded.open = true;
  wrap.classList.add("invalid");
  wrap.querySelector(".error").textContent = msg;
  wrap.scrollIntoView({block: "center"});
}

function bridgeActions(b) {
  const act = (label, fn, cls) => h("button", {type: "button", class: "btn " + (cls || "")}, label);
  const btns = [];
  const post = async (path, done) => {
    try {
      const r = await api("POST", "/api/bridges/" + b.id + path, {});
      toast(done(r));
      render();
    } catch (e) { toast(e.message, true); }
  };
  const testBtn = act("Send a test event");
  testBtn.addEventListener("click", () => sendTest(b));
  btns.push(testBtn);
  const toggle = act(b.active ? "Deactivate" : "Activate");
  toggle.addEventListener("click", () => post(b.active ? "/deactivate" : "/activate",
    () => b.active ? "Deactivated: requests now get 503" : "Activated"));
  btns.push(toggle);
  // A bridge without "deliveries" (a server before pause/resume) is running.
  const paused = b.deliveries === "paused";
  const p = act(paused ? "Resume deliveries" : "Pause deliveries");
  p.id = paused ? "resume" : "pause";
  p.addEventListener("click", () => post(paused ? "/resume" : "/pause",
    () => paused ? "Deliveries resumed" : "Deliveries paused: events are kept until you resume"));
  btns.push(p);
  const abort = act("Abort pending", null, "danger");
  abort.addEventListener("click", () => post("/abort", (r) => `Aborted ${r.aborted} pending event(s)`));
  btns.push(abort);
  const del = act("Delete", null, "danger");
  del.addEventListener("click", () => confirmDelete(b));
  btns.push(del);
  return btns;
}

function confirmDelete(b) {
  const box = document.getElementById("confirm");
  clear(box);
  box.append(h("div", {class: "banner", role: "alertdialog"},
    h("p", {}, "Delete “" + (b.name || b.id) + "”? Its pending events are aborted and its inbound URL stops working. This cannot be undone."),
    h("div", {class: "form-actions"},
      h("button", {type: "button", class: "btn danger solid", id: "confirm-delete", onclick: async () => {
        try {
          await api("DELETE", "/api/bridges/" + b.id);
          toast("Bridge deleted");
          go("#/bridges");
        } catch (e) { toast(e.message, true); }
      }}, "Yes, delete it"),
      h("button", {type: "button", class: "btn", onclick: () => clear(box)}, "Cancel"))));
  box.scrollIntoView({block: "center"});
}

/* POST a sample body to the bridge through the admin listener (same origin, so the page's
 * Content-Security-Policy allows it), then open the event it made. */
async function sendTest(b) {
  const sample = {type: "hookbridge.test", sent_at: new Date().toISOString(), data: {hello: "world"}};
  try {
    const res = await fetch("/hooks/" + encodeURIComponent(b.endpoint), {method: "POST", credentials: "same-origin",
      headers: {"Content-Type": "application/json"}, body: JSON.stringify(sample)});
    const data = await res.json().catch(() => ({}));
    if (res.status !== 202 || !data.event_id) {
      toast("Test event refused: " + res.status + " " + (data.message || data.error || ""), true);
      return;
    }
    toast("Test event sent");
    go("#/events/" + data.event_id);
  } catch (e) { toast(e.message, true); }
}

// ---- events --------------------------------------------------------------------------

/* datetime-local value (local time) <-> RFC 3339 in UTC, as the API takes it. */
function localToIso(v) {
  if (!v) return "";
  const d = new Date(v);
  return isNaN(d) ? "" : d.toISOString().replace(/\.\d{3}Z$/, "Z");
}

function isoToLocal(v) {
  if (!v) return "";
  const d = new Date(v);
  if (isNaN(d)) return "";
  const p = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}

async function viewEvents(seq, params) {
  const f = {bridge_id: params.get("bridge_id") || "", status: params.get("status") || "",
    since: params.get("since") || "", until: params.get("until") || "", q: params.get("q") || "",
    before: params.get("before") || ""};
  const chosen = new Set(f.status.split(",").filter(Boolean));
  const bridgeSel = h("select", {name: "bridge_id", id: "f-bridge_id"}, h("option", {value: ""}, "All bridges"));
  const since = h("input", {type: "datetime-local", name: "since", id: "f-since", value: isoToLocal(f.since)});
  const until = h("input", {type: "datetime-local", name: "until", id: "f-until", value: isoToLocal(f.until)});
  const text = h("input", {type: "search", name: "q", id: "f-q", value: f.q, placeholder: "Text in the body"});
  const form = h("form", {class: "form", id: "event-filters", onsubmit: (e) => {
    e.preventDefault();
    const st = [...form.querySelectorAll("input[name=status]:checked")].map((c) => c.value).join(",");
    go("#/events" + qs({bridge_id: bridgeSel.value, status: st, since: localToIso(since.value),
      until: localToIso(until.value), q: text.value.trim()}));
  }},
  h("div", {class: "filters"},
    h("div", {class: "field"}, h("label", {for: "f-bridge_id"}, "Bridge"), bridgeSel),
    h("div", {class: "field"}, h("label", {for: "f-since"}, "Received from"), since),
    h("div", {class: "field"}, h("label", {for: "f-until"}, "Received until"), until),
    h("div", {class: "field"}, h("label", {for: "f-q"}, "Search"), text)),
  h("div", {class: "field"}, h("label", {}, "Status"),
    h("div", {class: "statuses"}, STATUSES.map((s) => h("label", {},
      h("input", {type: "checkbox", name: "status", value: s, checked: chosen.has(s)}), badge(s))))),
  h("div", {class: "form-actions"}, h("button", {type: "submit", class: "btn primary"}, "Apply filters"),
    h("a", {class: "btn", href: "#/events"}, "Clear")));
  const body = h("div", {class: "table-wrap"}, h("p", {class: "muted"}, "Loading…"));
  const confirmBox = h("div", {id: "confirm"});
  const bulk = h("button", {type: "button", class: "btn", id: "bulk-replay",
    onclick: () => confirmBulkReplay(confirmBox, f)}, "Replay these events");
  show(h("div", {class: "head"}, h("h1", {}, "Events"), h("div", {class: "actions"}, bulk)),
    h("section", {class: "panel"}, form), confirmBox, h("section", {class: "panel"}, body));

  const [bridges, page] = await Promise.all([
    api("GET", "/api/bridges"),
    api("GET", "/api/events" + qs({bridge_id: f.bridge_id, status: f.status, since: f.since, until: f.until,
      q: f.q, before: f.before, limit: 25})).catch((e) => ({error: e})),
  ]);
  if (stale(seq)) return;
  const names = {};
  for (const b of bridges.bridges) {
    names[b.id] = b.name || b.id;
    bridgeSel.append(h("option", {value: b.id, selected: b.id === f.bridge_id}, b.name || b.id));
  }
  clear(body);
  if (page.error) {
    body.append(h("div", {class: "banner"}, "The server refused these filters: " + page.error.message));
    return;
  }
  if (page.events.length === 0) {
    body.append(h("p", {class: "empty"}, "No events match."));
    return;
  }
  body.append(h("table", {id: "events", class: "stack"},
    h("thead", {}, h("tr", {}, h("th", {}, "Event"), h("th", {class: "hide-narrow"}, "Bridge"), h("th", {}, "Status"),
      h("th", {}, "Received"), h("th", {class: "num hide-narrow"}, "Attempts"), h("th", {class: "num"}, "Response"))),
    h("tbody", {}, page.events.map((ev) => h("tr", {"data-id": ev.id},
      h("td", {}, h("a", {href: "#/events/" + ev.id, class: "mono"}, ev.id)),
      h("td", {class: "hide-narrow"}, h("a", {href: "#/bridges/" + ev.bridge_id}, names[ev.bridge_id] || ev.bridge_id)),
      h("td", {}, badge(ev.status), ev.waiting ? h("span", {class: "waiting", title: "waiting for " + ev.waiting}, " waiting: " + ev.waiting) : null),
      h("td", {"data-label": "received"}, fmtTime(ev.received_at)),
      h("td", {class: "num hide-narrow"}, String(ev.attempts)),
      h("td", {class: "num", "data-label": "last response"}, ev.last_status === null || ev.last_status === undefined ? "—" : String(ev.last_status)))))));
  const pager = h("div", {class: "pager"});
  const keep = {bridge_id: f.bridge_id, status: f.status, since: f.since, until: f.until, q: f.q};
  if (f.before) pager.append(h("a", {class: "btn", href: "#/events" + qs(keep)}, "Newest"));
  if (page.next) pager.append(h("a", {class: "btn", href: "#/events" + qs(Object.assign({}, keep, {before: page.next}))}, "Older"));
  body.append(pager);
}

/* The events filter as a bulk replay's body (POST /api/events/replay), or a reason why the
 * current filter cannot be one. */
function bulkFilter(f) {
  if (f.q) return {why: "A text search cannot be replayed in bulk: clear the search, or replay events one by one."};
  const body = {};
  if (f.bridge_id) body.bridge_id = f.bridge_id;
  if (f.status) body.status = f.status.split(",").filter(Boolean);
  if (f.since) body.since = f.since;
  if (f.until) body.until = f.until;
  if (Object.keys(body).length === 0)
    return {why: "Choose a bridge, a status or a time range first: replaying every event at once is refused."};
  return {body};
}

/* Count what the filter matches (a dry run), ask, then replay. */
async function confirmBulkReplay(box, f) {
  clear(box);
  const {body, why} = bulkFilter(f);
  if (why) {
    box.append(h("div", {class: "banner info", role: "status"}, why));
    return;
  }
  let n;
  try {
    n = (await api("POST", "/api/events/replay", Object.assign({dry_run: true}, body))).matching;
  } catch (e) {
    box.append(h("div", {class: "banner", role: "alert"}, "Cannot replay these events: " + e.message));
    return;
  }
  if (n === 0) {
    box.append(h("div", {class: "banner info", role: "status"}, "No event matches this filter: nothing to replay."));
    return;
  }
  const what = n === 1 ? "1 event" : n + " events";
  box.append(h("div", {class: "banner confirm", role: "alertdialog"},
    h("p", {}, `Replay ${what} matching this filter? Each is sent again as a new event through its bridge's ` +
      "current settings, oldest first."),
    h("div", {class: "form-actions"},
      h("button", {type: "button", class: "btn primary", id: "confirm-replay", onclick: async (e) => {
        e.target.disabled = true;
        try {
          const r = await api("POST", "/api/events/replay", body);
          toast(`Replayed ${r.replayed} event(s)` + (r.skipped ? `, ${r.skipped} skipped (see the ingress log)` : ""));
          clear(box);
          render();
        } catch (ex) {
          e.target.disabled = false;
          toast(ex.message, true);
        }
      }}, "Yes, replay " + what),
      h("button", {type: "button", class: "btn", onclick: () => clear(box)}, "Cancel"))));
  box.scrollIntoView({block: "nearest"});
}

function headersTable(headers) {
  const entries = Object.entries(headers || {});
  if (entries.length === 0) return h("p", {class: "muted small"}, "no headers");
  return h("table", {class: "headers"}, h("tbody", {}, entries.map(([k, v]) => h("tr", {}, h("td", {}, k), h("td", {}, String(v))))));
}

function bodyBlock(msg) {
  if (msg.body_base64) return h("pre", {class: "body"}, "(binary, base64) " + msg.body_base64);
  if (msg.body === null || msg.body === undefined || msg.body === "") return h("p", {class: "muted small"}, "no body");
  return h("pre", {class: "body"}, pretty(msg.body));
}

function requestBlock(title, line, msg) {
  return h("section", {class: "panel"}, h("h2", {}, title), h("p", {class: "mono small"}, line),
    h("h3", {}, "Headers"), headersTable(msg.headers), h("h3", {}, "Body"), bodyBlock(msg));
}

function attemptsBlock(attempts) {
  if (!attempts || attempts.length === 0) return h("p", {class: "muted"}, "No attempt yet.");
  return attempts.map((a) => h("div", {class: "attempt"},
    h("div", {class: "attempt-head"}, h("strong", {}, "Attempt " + a.n),
      a.status !== null && a.status !== undefined ? h("span", {class: "badge " + (a.status < 300 ? "delivered" : "failed")}, "HTTP " + a.status) : null,
      a.error ? h("span", {class: "error"}, a.error) : null,
      h("span", {class: "muted small"}, fmtTime(a.started_at) + " · " + a.duration_ms + " ms")),
    a.response ? [h("h3", {}, "Response headers"), headersTable(a.response.headers),
      h("h3", {}, "Response body" + (a.response.truncated ? " (truncated)" : "")),
      a.response.body ? h("pre", {class: "body"}, a.response.body) : h("p", {class: "muted small"}, "no body")] : null));
}

async function viewEvent(seq, id) {
  const ev = await api("GET", "/api/events/" + encodeURIComponent(id));
  if (stale(seq)) return;
  let bridgeName = ev.bridge_id;
  try { bridgeName = (await api("GET", "/api/bridges/" + ev.bridge_id)).name || ev.bridge_id; } catch (e) { /* deleted */ }
  if (stale(seq)) return;
  const replay = h("button", {type: "button", class: "btn", id: "replay", onclick: async () => {
    try {
      const r = await api("POST", "/api/events/" + ev.id + "/replay", {});
      toast("Replayed as " + r.event_id);
      go("#/events/" + r.event_id);
    } catch (e) { toast(e.message, true); }
  }}, "Replay");
  const abort = h("button", {type: "button", class: "btn danger", id: "abort", disabled: !PENDING.has(ev.status), onclick: async () => {
    try {
      await api("POST", "/api/events/" + ev.id + "/abort", {});
      toast("Aborted");
      render();
    } catch (e) { toast(e.status === 409 ? "This event is no longer pending" : e.message, true); }
  }}, "Abort");
  const req = ev.request || {};
  const query = new URLSearchParams(req.query || {}).toString();
  const deliveries = Array.isArray(ev.deliveries) && ev.deliveries.length > 0 ? ev.deliveries
    : [{route: null, status: ev.status, outbound: ev.outbound, attempts: ev.attempts, next_attempt_at: ev.next_attempt_at}];
  show(
    h("div", {class: "head"}, h("h1", {class: "mono"}, ev.id), badge(ev.status),
      h("div", {class: "actions"}, replay, abort)),
    h("section", {class: "panel"}, h("dl", {class: "kv"},
      h("dt", {}, "Bridge"), h("dd", {}, h("a", {href: "#/bridges/" + ev.bridge_id}, bridgeName)),
      h("dt", {}, "Received"), h("dd", {}, fmtTime(ev.received_at)),
      h("dt", {}, "Next attempt"), h("dd", {}, fmtTime(ev.next_attempt_at)),
      ev.waiting ? [h("dt", {}, "Waiting for"), h("dd", {}, ev.waiting)] : null,
      h("dt", {}, "Replay of"), h("dd", {}, ev.replay_of ? h("a", {href: "#/events/" + ev.replay_of, class: "mono"}, ev.replay_of) : "—"))),
    requestBlock("Inbound request", (req.method || "") + " " + (req.path || "") + (query ? "?" + query : ""), req),
    deliveries.map((d) => [
      d.outbound ? requestBlock("Outbound request" + (d.route ? " · route " + d.route : ""),
        d.outbound.method + " " + d.outbound.url, d.outbound)
        : h("section", {class: "panel"}, h("h2", {}, "Outbound request" + (d.route ? " · route " + d.route : "")),
          h("p", {class: "muted"}, "Not sent yet.")),
      h("section", {class: "panel", id: "attempts"}, h("h2", {}, "Attempts" + (d.route ? " · route " + d.route : "")),
        attemptsBlock(d.attempts))]));
  if (PENDING.has(ev.status)) {
    timers.push(setInterval(async () => {
      try {
        const now = await api("GET", "/api/events/" + encodeURIComponent(id));
        if (!stale(seq) && (now.status !== ev.status || (now.attempts || []).length !== (ev.attempts || []).length)) render();
      } catch (e) { /* shown on the next render */ }
    }, 2000));
  }
}

// ---- start ---------------------------------------------------------------------------

window.addEventListener("hashchange", render);
render();

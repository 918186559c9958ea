// The Meridian dashboard: polls GET /dashboard/state every second and redraws in place (no
// page reload); keeps polling, slower, while Meridian is away, so a restart reconnects by
// itself. Actions (reload, drain, undrain) POST with the Meridian-Admin header and the admin
// token, asked for once and kept in sessionStorage (this tab, until it closes).
"use strict";

const POLL_MS = 1000;
const RETRY_MS = 2000;
const SVG = "http://www.w3.org/2000/svg";
const SHAPES = { up: "●", degraded: "▲", down: "✕", drained: "◇", empty: "○" };
const WORDS = { up: "up", degraded: "some endpoints down", down: "no endpoint up",
  drained: "drained", empty: "no endpoints" };

let state = null;        // the latest /dashboard/state
let selected = null;     // the region whose endpoints are shown
let explained = null;    // the latest /explain answer, drawn on the map
const regionItems = new Map();  // region name -> {li, dot, ...}: updated in place (keeps focus)

const $ = (id) => document.getElementById(id);
function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v; else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
}
function svg(tag, attrs) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  return e;
}
// Equirectangular: x = longitude + 180, y = 85 - latitude (the map shows 85N to 65S).
const px = (lon) => lon + 180;
const py = (lat) => 85 - lat;
const fmt = (v, unit = "") => (v === null || v === undefined ? "–" : v + unit);
function ago(iso) {
  if (!iso) return "";
  const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  return s < 60 ? s + " s ago" : s < 3600 ? Math.round(s / 60) + " min ago" : Math.round(s / 3600) + " h ago";
}

// --- The map ---------------------------------------------------------------------------------

function drawWorld() {
  const map = $("map");
  const land = svg("g", { "aria-hidden": "true" });
  for (const poly of WORLD_OUTLINE) {
    let pts = "";
    for (let i = 0; i < poly.length; i += 2) pts += px(poly[i]) + "," + py(poly[i + 1]) + " ";
    land.append(svg("polygon", { class: "land", points: pts.trim() }));
  }
  map.append(land, svg("g", { id: "explain-layer", "aria-hidden": "true" }), svg("g", { id: "regions-layer" }));
}

// The mark of a state: a shape as well as a colour.
function markFor(stateName, x, y) {
  if (stateName === "degraded") return svg("polygon", { class: "mark", points: `${x},${y - 3.4} ${x + 3.2},${y + 2.2} ${x - 3.2},${y + 2.2}` });
  if (stateName === "down") return svg("path", { class: "mark", d: `M${x - 2.6},${y - 1.2}l1.4,-1.4l1.2,1.2l1.2,-1.2l1.4,1.4l-1.2,1.2l1.2,1.2l-1.4,1.4l-1.2,-1.2l-1.2,1.2l-1.4,-1.4l1.2,-1.2z` });
  if (stateName === "drained") return svg("polygon", { class: "mark", points: `${x},${y - 3} ${x + 3},${y} ${x},${y + 3} ${x - 3},${y}` });
  return svg("circle", { class: "mark", cx: x, cy: y, r: 2.6 });
}

function regionLabel(r) {
  return `${r.name}: ${WORDS[r.state]}, ${r.healthy_endpoints} of ${r.endpoints} endpoints healthy, ${fmt(r.rps)} requests per second` +
    (r.drain_override ? `, runtime override: ${r.drain_override}` : "");
}

function updateMapRegion(item, r) {
  const x = px(r.lon), y = py(r.lat);
  const g = item.dot;
  g.setAttribute("class", `region ${r.state}` + (selected === r.name ? " selected" : ""));
  g.setAttribute("aria-label", regionLabel(r));
  g.replaceChildren();
  const title = svg("title");
  title.textContent = regionLabel(r);
  g.append(title, svg("circle", { class: "ring", cx: x, cy: y, r: 5, fill: "transparent" }), markFor(r.state, x, y));
  const label = svg("text", { x: x + 4.5, y: y + 1.8 });
  label.textContent = `${r.name} ${WORDS[r.state] === "up" ? "" : "(" + r.state + ") "}${fmt(r.rps)}/s`;
  g.append(label);
}

function regionButtons(r, item) {
  const actions = item.actions;
  actions.replaceChildren();
  const open = el("button", { type: "button", "aria-controls": "region-section" }, "Endpoints");
  open.addEventListener("click", () => selectRegion(r.name, true));
  const action = r.drained ? "undrain" : "drain";
  const act = el("button", { type: "button", "data-action": action, "data-region": r.name },
    r.drained ? "Undrain" : "Drain");
  act.addEventListener("click", () => regionAction(r.name, action));
  actions.append(open, act);
}

function renderRegions() {
  const layer = $("regions-layer");
  const list = $("region-list");
  const seen = new Set();
  for (const r of state.regions) {
    seen.add(r.name);
    let item = regionItems.get(r.name);
    if (!item) {
      const dot = svg("g", { tabindex: "0", role: "button", "data-region": r.name });
      dot.addEventListener("click", () => selectRegion(r.name, true));
      dot.addEventListener("keydown", (ev) => {
        if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); selectRegion(r.name, true); }
      });
      const li = el("li", { "data-region": r.name });
      item = { dot, li, head: el("div"), detail: el("div"), actions: el("div", { class: "actions" }), drained: null };
      li.append(item.head, item.detail, item.actions);
      regionItems.set(r.name, item);
      layer.append(dot);
      list.append(li);
    }
    if (r.located) updateMapRegion(item, r); else item.dot.replaceChildren();
    item.li.setAttribute("data-state", r.state);
    item.head.replaceChildren(
      el("span", { class: "name" }, r.name), " ",
      el("span", { class: `state ${r.state}` }, `${SHAPES[r.state]} ${WORDS[r.state]}`));
    const detail = [`${r.healthy_endpoints}/${r.endpoints} endpoints healthy · ${fmt(r.rps)} req/s`];
    item.detail.replaceChildren(detail[0]);
    if (r.drain_override) {
      item.detail.append(" ", el("span", { class: "override", title: "set at runtime, not in the config file" },
        `runtime override: ${r.drain_override}`));
    } else if (r.drain_config) {
      item.detail.append(" ", el("span", { class: "override" }, "drained by the config"));
    }
    // Rebuilt only when the action changes, so a focused button keeps its focus.
    if (item.drained !== r.drained) { regionButtons(r, item); item.drained = r.drained; }
  }
  for (const [name, item] of regionItems) {
    if (!seen.has(name)) { item.dot.remove(); item.li.remove(); regionItems.delete(name); }
  }
}

function selectRegion(name, focus) {
  selected = name;
  renderRegionDetail();
  for (const [n, item] of regionItems) item.dot.classList.toggle("selected", n === name);
  if (focus) $("region-h").scrollIntoView({ block: "nearest" });
}

function renderRegionDetail() {
  const r = state && state.regions.find((x) => x.name === selected);
  const section = $("region-section");
  if (!r) { section.hidden = true; return; }
  section.hidden = false;
  $("region-h").textContent = `Region ${r.name}`;
  $("region-summary").replaceChildren(
    el("span", { class: `state ${r.state}` }, `${SHAPES[r.state]} ${WORDS[r.state]}`),
    ` · ${r.healthy_endpoints}/${r.endpoints} endpoints healthy · ${fmt(r.rps)} req/s` +
    (r.drain_override ? ` · runtime override: ${r.drain_override}` : r.drain_config ? " · drained by the config" : ""));
  const body = $("endpoints").tBodies[0];
  body.replaceChildren();
  for (const c of r.clusters) {
    for (const e of c.endpoints) {
      const health = e.healthy ? "✔ healthy" : "✘ unhealthy";
      const check = e.last_check ? `${e.last_check.passed ? "✔" : "✘"} ${e.last_check.result}, ${ago(e.last_check.at)}` : "–";
      body.append(el("tr", { "data-endpoint": e.address },
        el("td", {}, c.cluster), el("td", {}, e.address),
        el("td", { class: e.healthy ? "up" : "down", title: e.reason }, `${health} (${e.reason})`),
        el("td", {}, e.ejected ? `ejected until ${e.ejected_until} (${e.ejections}×)` : e.ejections ? `not ejected (${e.ejections}× before)` : "not ejected"),
        el("td", { class: "num" }, e.in_flight), el("td", { class: "num" }, fmt(e.rps)),
        el("td", { class: "num" }, fmt(e.error_rate, " %")), el("td", { class: "num" }, fmt(e.p50_ms, " ms")),
        el("td", { class: "num" }, fmt(e.p99_ms, " ms")), el("td", {}, check)));
    }
  }
}

// --- Routes, config ----------------------------------------------------------------------------

function renderRoutes() {
  $("window-s").textContent = Math.round(state.window_seconds);
  const box = $("routes");
  box.replaceChildren();
  for (const rt of state.routes) {
    const div = el("div", { class: "route", "data-route": rt.name });
    div.append(el("h3", {}, `${rt.name} `, el("small", {}, `${rt.host || "any host"}${rt.path_prefix} · ${fmt(rt.rps)} req/s`)));
    const table = el("table", { class: "split" });
    table.append(el("thead", {}, el("tr", {}, el("th", { scope: "col" }, "backend"), el("th", { scope: "col", class: "num" }, "configured"),
      el("th", { scope: "col", class: "num" }, "served"), el("th", { scope: "col" }, "split"))));
    const body = el("tbody");
    for (const b of rt.backends) {
      // Widths through the CSSOM: the page's CSP allows no style attributes.
      const cfg = el("span", { class: "cfg" }), srv = el("span", { class: "srv" });
      cfg.style.width = `${b.configured_pct || 0}%`;
      srv.style.width = `${b.served_pct || 0}%`;
      const bar = el("div", { class: "bar", "aria-hidden": "true" }, cfg, srv);
      body.append(el("tr", { "data-backend": b.cluster }, el("td", {}, b.cluster),
        el("td", { class: "num" }, `${b.configured_pct} % (weight ${b.weight})`),
        el("td", { class: "num served" }, `${fmt(b.served_pct, " %")} (${b.served})`), el("td", {}, bar)));
    }
    table.append(body);
    div.append(el("div", { class: "scroll" }, table),
      el("p", { class: "bars-key" }, "Bars: upper half (grey) configured, lower half (blue) served."));
    const reasons = Object.entries(rt.replays);
    const replays = reasons.length
      ? reasons.map(([why, n]) => `${why}: ${n.last_window} (total ${n.total})`).join(" · ") : "none";
    const b = rt.budget;
    div.append(el("p", {}, `Replays in the last ${Math.round(state.window_seconds)} s by reason: ${replays}`),
      el("p", {}, `Retry budget in use: ${b.replays_in_window} of ${b.replays_allowed} replays allowed in the last ${b.window_seconds} s (${fmt(b.in_use_pct, " %")}; ${b.percent} % of ${b.requests_in_window} requests started; ${b.replays_in_flight} in flight, ${b.always_allowed_in_flight} always allowed)`));
    box.append(div);
  }
}

function configEvent(e) {
  if (!e) return "none";
  return `${e.ok ? "✔ loaded" : "✘ failed"} ${e.at} (${ago(e.at)}) by ${e.by}`;
}

function renderConfig() {
  const c = state.config;
  const dl = $("config");
  dl.replaceChildren();
  const row = (k, v) => dl.append(el("dt", {}, k), el("dd", {}, v));
  row("generation", String(c.generation));
  row("loaded", configEvent(c.loaded));
  row("last reload", configEvent(c.last_reload));
  row("reloads", `${c.reloads_ok} ok, ${c.reloads_failed} failed`);
  const lr = c.last_reload;
  if (lr && !lr.ok) {
    row("its errors", lr.errors_hidden ? "hidden: enter the admin token to see them" : el("pre", { class: "errors" }, lr.errors));
  }
  const overrides = Object.entries(state.drain_overrides);
  row("runtime overrides", overrides.length ? overrides.map(([r, s]) => `${r}: ${s}`).join(", ") : "none");
}

function render() {
  $("meta-gen").textContent = `generation ${state.config.generation}`;
  $("meta-rps").textContent = `${fmt(state.rps)} req/s`;
  $("meta-time").textContent = `updated ${new Date(Date.parse(state.time)).toLocaleTimeString()}`;
  renderRegions();
  renderRegionDetail();
  renderRoutes();
  renderConfig();
  drawExplain();
}

// --- Polling -----------------------------------------------------------------------------------

let failures = 0;
function setConn(kind, text) {
  $("conn").dataset.state = kind;
  $("conn-text").textContent = text;
}

async function poll() {
  let next = POLL_MS;
  try {
    const ctl = new AbortController();
    const timer = setTimeout(() => ctl.abort(), 3000);
    const headers = token() ? { Authorization: "Bearer " + token() } : {};
    const res = await fetch("/dashboard/state", { cache: "no-store", headers, signal: ctl.signal });
    clearTimeout(timer);
    if (!res.ok) throw new Error("HTTP " + res.status);
    state = await res.json();
    failures = 0;
    setConn("live", "live");
    render();
  } catch (err) {
    failures++;
    next = RETRY_MS;
    setConn("reconnecting", `Meridian unreachable, retrying (${failures})`);
  }
  setTimeout(poll, next);
}

// --- Token and actions ---------------------------------------------------------------------

function token() { return sessionStorage.getItem("meridian-admin-token") || ""; }
function showTokenState() {
  $("token-button").textContent = token() ? "Forget the admin token" : "Enter admin token";
}

// Asks for the token; resolves true when one was entered.
function askToken(why) {
  return new Promise((resolve) => {
    const dialog = $("token-dialog");
    $("token-why").textContent = why || "";
    $("token-input").value = "";
    dialog.addEventListener("close", function onClose() {
      dialog.removeEventListener("close", onClose);
      const value = $("token-input").value.trim();
      if (dialog.returnValue === "ok" && value) {
        sessionStorage.setItem("meridian-admin-token", value);
        showTokenState();
        resolve(true);
      } else {
        resolve(false);
      }
    });
    dialog.returnValue = "";  // Escape closes without a value: not the last "ok"
    dialog.showModal();
    $("token-input").focus();
  });
}

// POSTs with the admin header and token; on 401 asks for the token and tries again.
async function adminPost(path) {
  for (let tries = 0; tries < 3; tries++) {
    const headers = { "Meridian-Admin": "1" };
    if (token()) headers.Authorization = "Bearer " + token();
    const res = await fetch(path, { method: "POST", headers, cache: "no-store" });
    if (res.status !== 401) return res;
    sessionStorage.removeItem("meridian-admin-token");
    showTokenState();
    const ok = await askToken(tries === 0 ? "This action needs the admin token." : "That token was refused. Try again.");
    if (!ok) return res;
  }
  return null;
}

async function act(path, done) {
  const out = $("action-result");
  out.textContent = "…";
  try {
    const res = await adminPost(path);
    const text = res ? (await res.text()).trim() : "";
    if (res && res.ok) {
      out.className = "";
      out.textContent = done(text);
    } else {
      out.className = "error-text";
      out.textContent = `✘ refused (${res ? res.status : "no answer"}): ${text}`;
    }
  } catch (err) {
    out.className = "error-text";
    out.textContent = "✘ Meridian unreachable: " + err.message;
  }
}

function regionAction(region, action) {
  act(`/regions/${encodeURIComponent(region)}/${action}`,
    () => `✔ ${region} ${action === "drain" ? "drained" : "undrained"} at runtime (not written to the config file)`);
}

// --- Explain -----------------------------------------------------------------------------------

async function explain(ev) {
  ev.preventDefault();
  const form = new FormData($("explain-form"));
  const q = new URLSearchParams({ client_ip: form.get("client_ip"), host: form.get("host"), path: form.get("path") || "/" });
  const out = $("explain-result");
  try {
    const res = await fetch("/explain?" + q, { cache: "no-store" });
    if (!res.ok) {
      explained = null;
      out.replaceChildren(el("p", { class: "error-text" }, "✘ " + (await res.text()).trim()));
      drawExplain();
      return;
    }
    explained = await res.json();
  } catch (err) {
    explained = null;
    out.replaceChildren(el("p", { class: "error-text" }, "✘ Meridian unreachable"));
    return;
  }
  const e = explained;
  // The health and drains of this moment: ask again to see a later decision.
  const parts = [el("p", {}, `Route: ${e.route || "none"} · status ${e.status} · ${e.why} · as of ${new Date().toLocaleTimeString()}`)];
  if (e.backend) parts.push(el("p", {}, `Backend: ${e.backend.cluster} (${e.backend.why})`));
  if (e.client) parts.push(el("p", {}, `Client ${e.client.ip}: ` + (e.client.location ? `${e.client.location.lat}, ${e.client.location.lon}` : "location unknown") +
    (e.client.country ? `, ${e.client.country}` : "")));
  if (e.candidates) {
    const ol = el("ol", { id: "explain-order" });
    for (const c of e.candidates) {
      if (c.excluded) continue;
      const chosen = c.region === e.chosen;
      ol.append(el("li", { class: chosen ? "chosen" : "", "data-region": c.region },
        `${c.region}${chosen ? " ★ chosen" : ""} · ${c.healthy_endpoints}/${c.endpoints} healthy` +
        (c.distance_km !== null ? ` · ${c.distance_km} km` : "") + (c.drained ? " · drained" : "")));
    }
    parts.push(ol);
    const excluded = e.candidates.filter((c) => c.excluded).map((c) => c.region);
    if (excluded.length) parts.push(el("p", {}, "Not candidates: " + excluded.join(", ")));
  }
  out.replaceChildren(...parts);
  drawExplain();
}

// The decision on the map: a numbered badge on each candidate region in order, a dashed ring
// on the chosen one, and a line from the client (when located) to it.
function drawExplain() {
  const layer = $("explain-layer");
  layer.replaceChildren();
  if (!explained || !explained.candidates || !state) return;
  const where = new Map(state.regions.filter((r) => r.located).map((r) => [r.name, r]));
  const loc = explained.client && explained.client.location;
  const chosen = where.get(explained.chosen);
  if (loc && chosen) {
    layer.append(svg("line", { class: "explain-line", x1: px(loc.lon), y1: py(loc.lat), x2: px(chosen.lon), y2: py(chosen.lat) }));
  }
  if (loc) layer.append(svg("circle", { class: "client", cx: px(loc.lon), cy: py(loc.lat), r: 1.8 }));
  let rank = 0;
  for (const c of explained.candidates) {
    if (c.excluded) continue;
    rank++;
    const r = where.get(c.region);
    if (!r) continue;
    const x = px(r.lon) - 6, y = py(r.lat) - 5;
    layer.append(svg("circle", { class: "explain-badge", cx: x, cy: y, r: 2.8 }));
    const t = svg("text", { class: "explain-rank", x: x - 1.4, y: y + 1.7 });
    t.textContent = rank;
    layer.append(t);
    if (c.region === explained.chosen) layer.append(svg("circle", { class: "chosen-ring", cx: px(r.lon), cy: py(r.lat), r: 7 }));
  }
}

// --- Start -------------------------------------------------------------------------------------

drawWorld();
showTokenState();
$("token-button").addEventListener("click", () => {
  if (token()) { sessionStorage.removeItem("meridian-admin-token"); showTokenState(); } else { askToken(""); }
});
$("reload-button").addEventListener("click", () => act("/reload", (t) => `✔ reloaded: ${t}`));
$("explain-form").addEventListener("submit", explain);
poll();

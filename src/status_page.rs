//! `GET /`: a small self-contained HTML status page (no external assets, works offline):
//! VRRP instances, virtual and real servers with health, weights, operator state, connection
//! counts, and the recent events. The current state is embedded in the page as JSON and
//! rendered by the inline script at load (so the first paint needs no request), which then
//! refreshes from `/status` and `/events.json` every [`REFRESH_MS`].
//!
//! The script builds the DOM with `textContent` only: names from the configuration (instance
//! names, failure reasons) can never inject markup.

use bytes::Bytes;
use http::{Response, StatusCode};

use crate::runtime_api::{Body, respond};
use crate::status::StatusHub;

/// How often the page refreshes itself.
pub const REFRESH_MS: u32 = 2000;

/// JSON safe to embed in a `<script>` element: no `<` at all (only possible inside strings,
/// where `\u003c` means the same).
fn embed(v: &impl serde::Serialize) -> String {
    serde_json::to_string(v)
        .unwrap_or_else(|_| "null".into())
        .replace('<', "\\u003c")
}

pub fn page(hub: &StatusHub) -> Response<Body> {
    let status = embed(&hub.snapshot());
    let events = embed(&hub.events.recent());
    let html = TEMPLATE
        .replace("@STATUS@", &status)
        .replace("@EVENTS@", &events)
        .replace("@REFRESH@", &REFRESH_MS.to_string());
    let mut r = respond(
        StatusCode::OK,
        "text/html; charset=utf-8",
        Bytes::from(html),
    );
    r.headers_mut().insert(
        http::header::CACHE_CONTROL,
        http::HeaderValue::from_static("no-store"),
    );
    r
}

const TEMPLATE: &str = r##"<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>lvsd status</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:1.2em;color:#1d2430;background:#f7f8fa}
h1{font-size:1.3em;margin:0 0 .2em} h2{font-size:1.05em;margin:1.2em 0 .4em}
table{border-collapse:collapse;background:#fff;box-shadow:0 1px 2px #0002;min-width:40em}
th,td{padding:.25em .7em;text-align:left;border-bottom:1px solid #e4e7ec;white-space:nowrap}
th{background:#eef1f5;font-weight:600} td.num{text-align:right}
.up,.MASTER{color:#126b2f;font-weight:600} .down,.FAULT{color:#b3261e;font-weight:600}
.BACKUP{color:#6b5a12} .op{color:#8a4b00;font-weight:600} .vs td{background:#f3f5f8;font-weight:600}
#meta{color:#5b6472} .empty{color:#8a93a0;font-style:italic}
</style></head><body>
<h1>lvsd</h1><div id="meta"></div>
<h2>VRRP instances</h2>
<table id="vrrp"><thead><tr><th>instance</th><th>interface</th><th>VRID</th><th>state</th>
<th>priority</th><th>master</th><th>virtual addresses</th></tr></thead><tbody></tbody></table>
<h2>Virtual servers</h2>
<table id="virtual-servers"><thead><tr><th>server</th><th>health</th><th>operator</th>
<th>weight</th><th>kernel weight</th><th>active</th><th>inactive</th><th>last failure</th>
</tr></thead><tbody></tbody></table>
<h2>Recent events</h2>
<table id="events"><thead><tr><th>#</th><th>time</th><th>kind</th><th>subject</th>
<th>what</th></tr></thead><tbody></tbody></table>
<script id="initial-status" type="application/json">@STATUS@</script>
<script id="initial-events" type="application/json">@EVENTS@</script>
<script>
"use strict";
function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}
function row(cells, cls) {
  const tr = el("tr", null, cls);
  for (const c of cells) tr.appendChild(c instanceof Node ? c : el("td", c));
  return tr;
}
function fill(id, rows, cols, empty) {
  const tb = document.querySelector("#" + id + " tbody");
  tb.replaceChildren();
  if (!rows.length) tb.appendChild(row([el("td", empty, "empty")]));
  for (const r of rows) tb.appendChild(r);
  tb.lastChild.firstChild.colSpan = rows.length ? 1 : cols;
}
function time(ms) { return ms ? new Date(ms).toLocaleTimeString() : ""; }
function render(st, events) {
  const reload = st.reload || {};
  document.getElementById("meta").textContent =
    (reload.config_file || "") + " \u2014 reloads: " + (reload.successes || 0) +
    (reload.last_error ? " \u2014 last reload failed: " + reload.last_error : "") +
    " \u2014 updated " + new Date().toLocaleTimeString();
  fill("vrrp", (st.vrrp || []).map(i => row([
    i.name, i.interface, i.vrid, el("td", i.state, i.state),
    i.effective_priority + (i.effective_priority !== i.base_priority ? " (base " + i.base_priority + ")" : ""),
    i.master_addr || "", (i.vips || []).join(" ")])), 7, "no VRRP instances");
  const rows = [];
  for (const vs of st.virtual_servers || []) {
    const q = vs.quorum_up ? "quorum up" : "quorum DOWN";
    const tr = row([vs.key + " (" + vs.scheduler + ")", el("td", q, vs.quorum_up ? "up" : "down"),
      el("td", vs.operator || "", "op"), vs.live_weight + " live", "",
      "", "", vs.sorry_server_active ? "sorry server active" : ""], "vs");
    tr.dataset.vs = vs.key;
    rows.push(tr);
    for (const rs of vs.real_servers) {
      const addr = rs.address.includes(":") ? "[" + rs.address + "]:" + rs.port : rs.address + ":" + rs.port;
      const kw = rs.live_weight === null ? "out" : String(rs.live_weight) + (rs.ramping ? " (slow start)" : "");
      const r = row([el("td", "\u00a0\u00a0" + addr), el("td", rs.up ? "up" : "down", rs.up ? "up health" : "down health"),
        el("td", rs.operator || "", "op operator"), el("td", rs.weight, "num"), el("td", kw, "num kernel-weight"),
        el("td", rs.active_conns ?? "", "num active"), el("td", rs.inactive_conns ?? "", "num inactive"),
        rs.last_failure || ""], "rs");
      r.dataset.rs = vs.key + " " + addr;
      rows.push(r);
    }
  }
  fill("virtual-servers", rows, 8, "no virtual servers");
  fill("events", (events || []).slice(-50).reverse().map(e => row([
    e.seq, time(e.unix_ms), e.kind, e.subject, e.message])), 5, "no events yet");
}
render(JSON.parse(document.getElementById("initial-status").textContent),
       JSON.parse(document.getElementById("initial-events").textContent));
async function refresh() {
  try {
    const [s, e] = await Promise.all([fetch("/status"), fetch("/events.json")]);
    if (s.ok && e.ok) render(await s.json(), await e.json());
  } catch (_) { document.getElementById("meta").textContent += " (lvsd unreachable)"; }
}
setInterval(refresh, @REFRESH@);
</script></body></html>
"##;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_json_cannot_close_the_script() {
        let s = embed(&"</script><b>x</b>");
        assert!(!s.contains('<'), "{s}");
        let back: String = serde_json::from_str(&s).unwrap();
        assert_eq!(back, "</script><b>x</b>");
    }
}

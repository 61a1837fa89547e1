/// The web console (`GET /`): one page, no external assets, that works offline. It reads what
/// the server already serves: `/metrics` for the streams' and queries' counters (rates from
/// successive readings), the SQL API for the queries' states and the alerts (`SHOW QUERIES`,
/// `SHOW ALERTS`), and a push query for its chart, drawn as rows arrive (a numeric column over
/// event time, with a threshold line). `?sql=...&x=...&y=...&threshold=...` starts a chart at
/// once. Errors of the page show in it (`#errors`), so a browser test can read them.
enum Console {
    static let page = """
    <!doctype html>
    <html lang="en"><head><meta charset="utf-8"><title>Sluice console</title>
    <style>
    body { font: 14px system-ui, sans-serif; margin: 1.5em; color: #222; }
    h1 { font-size: 1.4em; margin: 0 0 .5em; } h2 { font-size: 1.1em; margin: 1.2em 0 .4em; }
    table { border-collapse: collapse; } th, td { border-bottom: 1px solid #ddd; padding: .25em .8em; text-align: left; }
    td.n { text-align: right; font-variant-numeric: tabular-nums; } pre { background: #f6f6f6; padding: .5em; }
    #errors { color: #b00; white-space: pre-wrap; } canvas { border: 1px solid #ccc; margin-top: .5em; }
    input { font: inherit; }
    </style></head>
    <body>
    <h1>Sluice</h1>
    <div id="errors"></div>
    <h2>Streams</h2>
    <table id="streams"><thead><tr><th>stream</th><th>open shards</th><th>records/s</th><th>bytes/s</th><th>records written</th></tr></thead><tbody></tbody></table>
    <h2>Queries</h2>
    <table id="queries"><thead><tr><th>query</th><th>state</th><th>records/s</th><th>records in</th><th>rows out</th><th>bad</th><th>late</th><th>watermark lag</th></tr></thead><tbody></tbody></table>
    <h2>Alerts</h2>
    <pre id="alerts">-</pre>
    <h2>Chart</h2>
    <form id="chartForm">SELECT <input id="sql" size="70" placeholder="SELECT window_end, avg_ms FROM ..."> x <input id="x" size="10" placeholder="window_end">
    y <input id="y" size="10" placeholder="avg_ms"> threshold <input id="threshold" size="6"> <button>Run</button></form>
    <canvas id="chart" width="900" height="280"></canvas>
    <div>points: <span id="points">0</span> <span id="chartState"></span></div>
    <script>
    "use strict";
    // Under --require-auth the page came with the server's console token, which its requests carry.
    const token = new URLSearchParams(location.search).get("token");
    const auth = token ? { "Authorization": "Bearer " + token } : {};
    const errors = document.getElementById("errors");
    function note(m) { errors.textContent += m + "\\n"; }
    window.addEventListener("error", e => note("error: " + e.message));
    window.addEventListener("unhandledrejection", e => note("error: " + (e.reason && e.reason.message || e.reason)));

    function metrics(text) {
      const out = {};
      for (const line of text.split("\\n")) {
        const m = /^(\\w+)\\{(\\w+)="((?:[^"\\\\]|\\\\.)*)"\\} (-?[0-9.eE+]+)$/.exec(line);
        if (!m) continue;
        const name = m[3].replace(/\\\\n/g, "\\n").replace(/\\\\"/g, "\\"").replace(/\\\\\\\\/g, "\\\\");
        (out[m[1]] = out[m[1]] || {})[name] = Number(m[4]);
      }
      return out;
    }
    function cell(row, text, numeric) { const td = row.insertCell(); td.textContent = text; if (numeric) td.className = "n"; }
    function rate(now, before, seconds) { return before === undefined || seconds <= 0 ? "-" : Math.max(0, (now - before) / seconds).toFixed(1); }
    function lag(ms) { return ms === undefined ? "-" : ms < 1000 ? ms + " ms" : (ms / 1000).toFixed(1) + " s"; }

    let last = null;
    async function refresh() {
      const m = metrics(await (await fetch("/metrics", { headers: auth })).text());
      const now = Date.now(), seconds = last ? (now - last.at) / 1000 : 0;
      const streams = document.querySelector("#streams tbody");
      streams.textContent = "";
      const written = m.sluice_stream_records_written_total || {}, bytes = m.sluice_stream_bytes_written_total || {};
      for (const name of Object.keys(m.sluice_stream_open_shards || {}).sort()) {
        const r = streams.insertRow();
        cell(r, name); cell(r, m.sluice_stream_open_shards[name], true);
        cell(r, rate(written[name], last && last.m.sluice_stream_records_written_total && last.m.sluice_stream_records_written_total[name], seconds), true);
        cell(r, rate(bytes[name], last && last.m.sluice_stream_bytes_written_total && last.m.sluice_stream_bytes_written_total[name], seconds), true);
        cell(r, written[name] || 0, true);
      }
      const answer = await (await fetch("/v1/sql", { method: "POST", headers: auth, body: "SHOW QUERIES; SHOW ALERTS" })).json();
      if (answer.errors) note("error: " + answer.errors.map(e => e.message).join("; "));
      const results = answer.results || [];
      const states = {};
      for (const line of ((results[0] || {}).output || "").split("\\n")) {
        const q = /^(query \\d+ \\(.*?\\)): (\\w+)/.exec(line);
        if (q) states[q[1]] = q[2];
      }
      document.getElementById("alerts").textContent = (results[1] || {}).output || "-";
      const queries = document.querySelector("#queries tbody");
      queries.textContent = "";
      const into = m.sluice_query_records_in_total || {};
      for (const name of Object.keys(states)) {
        const r = queries.insertRow();
        cell(r, name); cell(r, states[name]);
        cell(r, rate(into[name], last && last.m.sluice_query_records_in_total && last.m.sluice_query_records_in_total[name], seconds), true);
        cell(r, into[name] || 0, true); cell(r, (m.sluice_query_rows_out_total || {})[name] || 0, true);
        cell(r, (m.sluice_query_bad_records_total || {})[name] || 0, true); cell(r, (m.sluice_query_late_records_total || {})[name] || 0, true);
        cell(r, lag((m.sluice_query_watermark_lag_milliseconds || {})[name]), true);
      }
      last = { at: now, m };
    }
    async function tick() { try { await refresh(); } catch (e) { note("error: " + e.message); } setTimeout(tick, 1000); }

    const points = [];
    let running = null;
    function draw() {
      const canvas = document.getElementById("chart"), g = canvas.getContext("2d");
      g.clearRect(0, 0, canvas.width, canvas.height);
      document.getElementById("points").textContent = points.length;
      const threshold = parseFloat(document.getElementById("threshold").value);
      if (points.length === 0) return;
      let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
      for (const p of points) { x0 = Math.min(x0, p.x); x1 = Math.max(x1, p.x); y0 = Math.min(y0, p.y); y1 = Math.max(y1, p.y); }
      if (isFinite(threshold)) { y0 = Math.min(y0, threshold); y1 = Math.max(y1, threshold); }
      if (x1 === x0) x1 = x0 + 1; if (y1 === y0) y1 = y0 + 1;
      const px = x => 50 + (x - x0) / (x1 - x0) * (canvas.width - 60), py = y => canvas.height - 20 - (y - y0) / (y1 - y0) * (canvas.height - 30);
      g.fillStyle = "#666"; g.fillText(y1.toPrecision(4), 2, 14); g.fillText(y0.toPrecision(4), 2, canvas.height - 20);
      g.strokeStyle = "#1565c0"; g.beginPath();
      points.forEach((p, i) => i ? g.lineTo(px(p.x), py(p.y)) : g.moveTo(px(p.x), py(p.y)));
      g.stroke();
      if (isFinite(threshold)) { g.strokeStyle = "#c62828"; g.setLineDash([6, 4]); g.beginPath(); g.moveTo(50, py(threshold)); g.lineTo(canvas.width - 10, py(threshold)); g.stroke(); g.setLineDash([]); }
    }
    async function chart() {
      if (running) running.abort();
      points.length = 0; draw();
      const sql = document.getElementById("sql").value, xs = document.getElementById("x").value, ys = document.getElementById("y").value;
      const state = document.getElementById("chartState");
      if (!sql) return;
      running = new AbortController();
      const response = await fetch("/v1/sql", { method: "POST", headers: { ...auth, "Content-Type": "application/json" },
        body: JSON.stringify({ sql, rows: "objects" }), signal: running.signal });
      const reader = response.body.getReader(), decoder = new TextDecoder();
      let pending = "";
      state.textContent = "running";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        pending += decoder.decode(value, { stream: true });
        let nl;
        while ((nl = pending.indexOf("\\n")) >= 0) {
          const line = pending.slice(0, nl); pending = pending.slice(nl + 1);
          if (!line.trim()) continue;
          const o = JSON.parse(line);
          if (o.errors) { note("error: " + o.errors.map(e => e.message).join("; ")); continue; }
          if (o.end) { state.textContent = "ended: " + o.end + (o.message ? " (" + o.message + ")" : ""); continue; }
          if (!o.row) continue;
          const xv = o.row[xs], yv = Number(o.row[ys]);
          const x = typeof xv === "string" ? Date.parse(xv) : Number(xv);
          if (isFinite(x) && isFinite(yv)) { points.push({ x, y: yv }); draw(); }
        }
      }
    }
    document.getElementById("chartForm").addEventListener("submit", e => { e.preventDefault(); chart().catch(err => { if (err.name !== "AbortError") note("error: " + err.message); }); });
    const params = new URLSearchParams(location.search);
    for (const k of ["sql", "x", "y", "threshold"]) if (params.get(k)) document.getElementById(k).value = params.get(k);
    tick();
    if (params.get("sql")) chart().catch(err => note("error: " + err.message));
    </script>
    </body></html>
    """
}

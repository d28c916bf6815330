// RingMQ dashboard: plain DOM, no framework, no CDN. Every number comes
// from the dashboard's JSON API, which runs mqadmin's commands.
"use strict";

const $ = (sel) => document.querySelector(sel);

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}

function row(cells, numeric) {
  const tr = document.createElement("tr");
  cells.forEach((c, i) => tr.appendChild(el("td", c, numeric && numeric.includes(i) ? "num" : "")));
  return tr;
}

function headRow(cells) {
  const tr = document.createElement("tr");
  cells.forEach((c) => tr.appendChild(el("th", c)));
  return tr;
}

function fill(tableSel, rows) {
  const body = $(tableSel + " tbody");
  body.replaceChildren(...rows);
}

async function api(path, body) {
  const init = body === undefined ? {} : {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
  };
  const r = await fetch(path, init);
  const v = await r.json();
  if (!r.ok) throw new Error(v.error || ("HTTP " + r.status));
  return v;
}

function setStatus(text, bad) {
  const s = $("#status");
  s.textContent = text;
  s.className = bad ? "err" : "";
}

// --- cluster and the live throughput chart ---------------------------
const samples = [];
const HISTORY_MAX = 150;

// Latency: the brokers' cumulative send-latency buckets, differenced
// between two polls; a percentile is the bound of the bucket it falls in.
const latencySamples = [];
let lastLatency = null;

function percentile(bounds, counts, q) {
  const total = counts[counts.length - 1];
  if (total === 0) return null;
  const i = counts.findIndex((c) => c >= q * total);
  return i < bounds.length ? bounds[i] : bounds[bounds.length - 1] * 2;
}

async function loadLatency() {
  const v = await api("/api/latency");
  const now = v.sendCumulative;
  if (lastLatency && now.length === lastLatency.length) {
    const delta = now.map((c, i) => c - lastLatency[i]);
    const p50 = percentile(v.boundsMs, delta, 0.5);
    const p99 = percentile(v.boundsMs, delta, 0.99);
    if (p50 !== null) {
      latencySamples.push({ in: p50, out: p99 });
      if (latencySamples.length > HISTORY_MAX) latencySamples.shift();
      $("#latency-now").textContent = "now: p50 ≤ " + p50 + " ms, p99 ≤ " + p99 + " ms (" + delta[delta.length - 1] + " sends)";
    }
  }
  lastLatency = now;
  drawLines("#latency-chart", latencySamples, " ms");
}

function drawChart() {
  drawLines("#tps-chart", samples, " msg/s");
}

function drawLines(canvas, points, unit) {
  const c = $(canvas);
  const g = c.getContext("2d");
  g.clearRect(0, 0, c.width, c.height);
  const max = Math.max(1, ...points.map((h) => Math.max(h.in, h.out)));
  g.fillStyle = "#6b7280";
  g.font = "12px sans-serif";
  g.fillText(max.toFixed(1) + unit, 4, 12);
  for (const [key, color] of [["in", "#2b6cb0"], ["out", "#d97706"]]) {
    g.strokeStyle = color;
    g.lineWidth = 2;
    g.beginPath();
    points.forEach((h, i) => {
      const x = (i / Math.max(1, points.length - 1)) * c.width;
      const y = c.height - (h[key] / max) * (c.height - 16);
      if (i === 0) g.moveTo(x, y); else g.lineTo(x, y);
    });
    g.stroke();
  }
}

async function loadCluster() {
  const v = await api("/api/cluster");
  fill("#cluster-table", v.brokers.map((b) => row([
    b.cluster, b.brokerName, b.brokerId, b.addr, b.version, b.inTps.toFixed(2), b.outTps.toFixed(2),
    (b.commitLogDiskRatio * 100).toFixed(1) + " %", b.active, b.shards.length || "",
  ], [2, 5, 6, 7, 9])));
  // A RingMQ broker lists its shards; any other broker is its own row.
  const shards = v.brokers.flatMap((b) => (b.shards.length ? b.shards : [b]));
  fill("#shards-table", shards.map((s) => row([s.brokerName, s.addr, s.inTps.toFixed(2), s.outTps.toFixed(2)], [2, 3])));
  const sum = (k) => v.brokers.reduce((a, b) => a + b[k], 0);
  samples.push({ in: sum("inTps"), out: sum("outTps") });
  if (samples.length > HISTORY_MAX) samples.shift();
  drawChart();
  await loadLatency();
}

// --- topics ----------------------------------------------------------
async function loadTopics() {
  const v = await api("/api/topics");
  const names = v.topicList.filter((t) => !t.startsWith("%") );
  const rows = [];
  for (const t of names) {
    const tr = row([t, "", ""], [1, 2]);
    tr.dataset.topic = t;
    tr.className = "clickable";
    tr.onclick = () => showTopic(t);
    rows.push(tr);
  }
  fill("#topics-table", rows);
  // Counts per topic, filled in as they arrive.
  for (const tr of rows) {
    api("/api/topic?topic=" + encodeURIComponent(tr.dataset.topic)).then((d) => {
      const qs = d.status.queues;
      tr.children[1].textContent = qs.reduce((a, q) => a + (q.maxOffset - q.minOffset), 0);
      tr.children[2].textContent = qs.length;
    }).catch(() => { tr.children[1].textContent = "-"; });
  }
}

async function showTopic(t) {
  const d = await api("/api/topic?topic=" + encodeURIComponent(t));
  const box = $("#topic-detail");
  box.replaceChildren(el("h2", "Queues of " + t));
  const table = el("table");
  table.id = "topic-queues";
  table.appendChild(headRow(["Broker", "Queue", "Min offset", "Max offset"]));
  d.status.queues.forEach((q) => table.appendChild(row([q.brokerName, q.queueId, q.minOffset, q.maxOffset], [1, 2, 3])));
  box.appendChild(table);
}

$("#topic-create-form").onsubmit = async (e) => {
  e.preventDefault();
  const out = $("#create-result");
  const topic = $("#new-topic-name").value.trim();
  try {
    const r = await api("/api/topic", {
      topic, queues: Number($("#new-topic-queues").value), cluster: $("#new-topic-cluster").value.trim(),
    });
    out.textContent = "created " + r.topic + " on " + r.created.length + " broker(s)";
    out.className = "ok";
    setTimeout(loadTopics, 1500);
  } catch (err) {
    out.textContent = err.message;
    out.className = "err";
  }
};

// --- consumer groups ---------------------------------------------------
async function loadGroups() {
  const v = await api("/api/groups");
  fill("#groups-table", v.map((g) => {
    const tr = row([g.group, g.count, g.version, g.type, g.model, g.tps.toFixed(1), g.diffTotal], [1, 5, 6]);
    tr.dataset.group = g.group;
    tr.className = "clickable";
    tr.onclick = () => showGroup(g.group);
    return tr;
  }));
}

async function showGroup(group) {
  const d = await api("/api/group?group=" + encodeURIComponent(group));
  const box = $("#group-detail");
  box.replaceChildren(el("h2", "Lag of " + group + " per queue (total " + d.diffTotal + ")"));
  const table = el("table");
  table.id = "group-queues";
  table.appendChild(headRow(["Topic", "Broker", "Queue", "Broker offset", "Consumer offset", "Lag"]));
  d.queues.forEach((q) => table.appendChild(row([q.topic, q.brokerName, q.queueId, q.brokerOffset, q.consumerOffset, q.diff], [2, 3, 4, 5])));
  box.appendChild(table);
  const topics = [...new Set(d.queues.map((q) => q.topic))].filter((t) => !t.startsWith("%"));
  const form = el("form");
  form.id = "reset-form";
  const topicSel = el("select");
  topics.forEach((t) => topicSel.appendChild(el("option", t)));
  const when = el("input");
  when.type = "datetime-local";
  const button = el("button", "Reset offsets");
  button.type = "submit";
  const result = el("span");
  form.append(el("label", "Topic"), topicSel, el("label", "to time"), when, button, result);
  form.onsubmit = async (e) => {
    e.preventDefault();
    const at = when.value ? new Date(when.value).getTime() : Date.now();
    if (!confirm("Reset " + group + " on " + topicSel.value + " to " + new Date(at).toISOString() + "? Consumers re-read from there.")) return;
    try {
      const r = await api("/api/reset", { group, topic: topicSel.value, timestamp: at });
      result.textContent = "reset " + r.offsets.length + " queue(s)";
      result.className = "ok";
    } catch (err) {
      result.textContent = err.message;
      result.className = "err";
    }
  };
  box.appendChild(el("h2", "Reset offsets"));
  box.appendChild(form);
}

// --- messages -----------------------------------------------------------
$("#message-form").onsubmit = async (e) => {
  e.preventDefault();
  const q = new URLSearchParams({ topic: $("#msg-topic").value.trim() });
  for (const [k, id] of [["id", "#msg-id"], ["key", "#msg-key"], ["broker", "#msg-broker"], ["queue", "#msg-queue"], ["offset", "#msg-offset"]]) {
    const v = $(id).value.trim();
    if (v) q.set(k, v);
  }
  const box = $("#message-result");
  try {
    const found = await api("/api/message?" + q.toString());
    box.replaceChildren(...found.map((m) => {
      const pre = el("pre");
      pre.textContent = [
        "Message id: " + m.msgId, "Offset id: " + m.offsetMsgId, "Queue: " + m.brokerName + " #" + m.queueId + " @" + m.queueOffset,
        "Stored: " + new Date(m.storeTimestamp).toISOString(), "Properties: " + JSON.stringify(m.properties),
        "Body: " + String(m.body).slice(0, 4096),
      ].join("\n");
      return pre;
    }));
    if (found.length === 0) box.replaceChildren(el("p", "Message not found"));
  } catch (err) {
    box.replaceChildren(el("p", err.message, "err"));
  }
};

// --- replication --------------------------------------------------------
async function loadReplication() {
  const v = await api("/api/replication");
  fill("#replication-table", v.map((r) => row([
    r.brokerName, r.brokerId, r.addr, r.role, r.commitLogMaxOffset,
    Object.entries(r.ha).map(([k, x]) => k.replace(/^ringmq/, "") + "=" + x).join(" "),
  ], [1, 4])));
}

// --- tabs and refresh ---------------------------------------------------
const loaders = { cluster: loadCluster, topics: loadTopics, groups: loadGroups, replication: loadReplication };
let current = "cluster";

let busy = false;

async function refresh(tab) {
  busy = true;
  try {
    if (loaders[tab]) await loaders[tab]();
    setStatus("updated " + new Date().toLocaleTimeString());
  } catch (err) {
    setStatus(err.message, true);
  } finally {
    busy = false;
  }
}

document.querySelectorAll("nav button").forEach((b) => {
  b.onclick = () => {
    document.querySelectorAll("nav button, .tab").forEach((x) => x.classList.remove("active"));
    b.classList.add("active");
    current = b.dataset.tab;
    $("#tab-" + current).classList.add("active");
    refresh(current);
  };
});

refresh("cluster");
// The periodic refresh skips a beat while one is running: a slow broker
// must not pile requests up.
setInterval(() => { if (current === "cluster" && !busy) refresh("cluster"); }, 2000);

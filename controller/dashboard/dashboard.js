// The cluster, live: polls the controller's REST API every second and draws what it says. Every
// control calls the same API (so everything here is scriptable), and shows the API's error when
// it refuses. Plain JavaScript and SVG: nothing is fetched from anywhere but the controller.
"use strict";

const POLL_MS = 1000;
const HISTORY = 300;                 // samples kept per real server: five minutes
const SVG = "http://www.w3.org/2000/svg";
const history = {};                  // real server -> [connections per second]
let cluster = null;                  // the description (GET /lb/cluster)
let last = null;                     // the previous poll, for rates
let lostSince = null;

// The run's API token arrives once, in the address's fragment (#token=...), which a browser never
// sends to a server; the page keeps it for this tab and sends it in a header, never as a cookie
// (a browser attaches cookies to a forged request too).
const TOKEN_KEY = "lvsdn-api-token";
const token = (() => {
  const given = /(?:^#|&)token=([A-Za-z0-9_-]+)/.exec(location.hash);
  if (given) {
    sessionStorage.setItem(TOKEN_KEY, given[1]);
    window.history.replaceState(null, "", location.pathname + location.search);   // off the address bar
  }
  return sessionStorage.getItem(TOKEN_KEY);
})();

async function api(method, path, body) {
  const headers = {};
  if (method !== "GET") {
    if (!token) throw new Error("this page has no API token: open the address run.py printed (.../dashboard#token=...)");
    Object.assign(headers, {"Authorization": "Bearer " + token, "X-Lvsdn-Door": "dashboard"});
  }
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, {method, headers, body: body === undefined ? undefined : JSON.stringify(body)});
  const answer = await response.json();
  if (!response.ok) throw new Error(answer.error || (method + " " + path + ": HTTP " + response.status));
  return answer;
}

function el(tag, attributes = {}, ...children) {
  const node = tag === "svg" || SVG_TAGS.has(tag) ? document.createElementNS(SVG, tag) : document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value);
  }
  for (const child of children) node.append(child);
  return node;
}
const SVG_TAGS = new Set(["g", "rect", "circle", "line", "text", "polyline", "title"]);

function say(text, kind = "error") {
  const box = document.getElementById("message");
  box.textContent = text;
  box.className = kind;
  box.hidden = !text;
}

// --- controls: each one REST call, its refusal shown ------------------------------------------
async function control(method, path, body) {
  try {
    await api(method, path, body);
    say("");
    await poll();
  } catch (error) {
    say(error.message);
  }
}

document.getElementById("block-form").addEventListener("submit", event => {
  event.preventDefault();
  control("POST", "/lb/blocks", {ip: document.getElementById("block-ip").value.trim(),
                                  seconds: Number(document.getElementById("block-seconds").value)});
});

// The trace (GET /lb/trace): what a connection's first packet meets, switch by switch, in words.
document.getElementById("trace-form").addEventListener("submit", async event => {
  event.preventDefault();
  const query = new URLSearchParams();
  for (const [name, id] of [["from", "trace-from"], ["to", "trace-to"], ["protocol", "trace-protocol"],
                            ["port", "trace-port"], ["sport", "trace-sport"]]) {
    const value = document.getElementById(id).value.trim();
    if (value) query.set(name, value);
  }
  const shown = document.getElementById("trace");
  try {
    shown.textContent = (await api("GET", "/lb/trace?" + query)).lines.join("\n");
    say("");
  } catch (error) {
    shown.textContent = "";
    say(error.message);
  }
});

// --- the topology -----------------------------------------------------------------------------
function layout(description) {
  const column = (names, x, top, bottom) => {
    const gap = names.length > 1 ? (bottom - top) / (names.length - 1) : Infinity;
    const r = Math.min(20, gap / 2.2);                   // many clients: smaller circles, never overlapping
    return Object.fromEntries(names.map((name, i) =>
      [name, {x, y: names.length === 1 ? (top + bottom) / 2 : top + i * gap, r}]));
  };
  const role = r => description.hosts.filter(h => h.role === r).map(h => h.name);
  const proxies = description.switches.filter(s => s.role === "proxy").map(s => s.name);
  const directors = role("director");
  const edges = Object.fromEntries(description.switches.filter(s => s.role !== "proxy").map(s => [s.role, s.name]));
  const remote = description.hosts.filter(h => h.role === "web" && h.interfaces[0].switch === edges.remote)
    .map(h => h.name);
  return Object.assign(
    column(role("client"), 60, 40, 330), column([edges.public], 200, 185, 185),
    column(proxies.concat(directors), 370, 110, 260), column([edges.lan], 540, 185, 185),
    column(role("web").filter(w => !remote.includes(w)), 700, 60, 310), column([edges.db], 840, 185, 185),
    column(role("db"), 950, 90, 280), column(role("router"), 370, 390, 390),
    edges.remote ? column([edges.remote], 540, 390, 390) : {}, column(remote, 700, 390, 390),
    column(role("management"), 540, 300, 300));
}

function links(description) {
  const found = description.hosts.flatMap(h => h.interfaces.map(i => [h.name, i.switch, i.switch + ":" + i.port]));
  return found.concat(description.trunks.map(t => [t.switch_a, t.switch_b, t.switch_b + ":" + t.port_b]));
}

function nodeState(name, role, data) {
  const {status, backends, nodes, blocks} = data;
  const node = nodes.nodes.find(n => n.name === name);
  if (node && node.failed) return "failed";
  if (role === "switch") {
    const proxy = status.proxies.find(p => p.name === name);
    if (proxy) return proxy.role === "active" ? "active" : proxy.role === "standby" ? "standby" : "failed";
    const sw = status.switches.find(s => s.name === name);
    return sw && sw.connected ? "switch" : "failed";
  }
  if (role === "web") {
    const server = backends.backends.find(b => b.name === name);
    if (!server) return "up";
    if (server.state === "down") return "failed";
    if (server.state === "degraded") return "degraded";
    return server.weight === 0 || !server.in_service ? "draining" : "up";
  }
  const host = cluster.hosts.find(h => h.name === name);
  if (host && blocks.blocks.some(b => host.interfaces.some(i => i.ip === b.ip))) return "blocked";
  if (node && node.links.some(l => !l.up)) return "failed";
  return "up";
}

function drawTopology(data) {
  const svg = document.getElementById("topology");
  const at = layout(cluster);
  const ports = Object.fromEntries(data.nodes.nodes.flatMap(n => n.links.map(l => [l.switch + ":" + l.port, l.up])));
  svg.replaceChildren();
  for (const [a, b, port] of links(cluster)) {
    if (!at[a] || !at[b]) continue;
    svg.append(el("line", {x1: at[a].x, y1: at[a].y, x2: at[b].x, y2: at[b].y,
                           class: ports[port] === false ? "link down" : "link"}));
  }
  const switches = new Set(cluster.switches.map(s => s.name));
  for (const [name, p] of Object.entries(at)) {
    const host = cluster.hosts.find(h => h.name === name);
    const role = switches.has(name) ? "switch" : host.role;
    const state = nodeState(name, role, data);
    const shape = switches.has(name) ? el("rect", {x: p.x - 34, y: p.y - 14, width: 68, height: 28, rx: 5})
                                     : el("circle", {cx: p.x, cy: p.y, r: p.r});
    const group = el("g", {class: "node " + state, "data-node": name, "data-state": state}, shape,
                     el("title", {}, name + ": " + state));
    if (p.r >= 12 || switches.has(name)) group.append(el("text", {x: p.x, y: p.y + 4}, name));   // else: its title
    if (state === "active") group.append(el("text", {x: p.x, y: p.y - 22, class: "vip"}, "VIP " + cluster.vip));
    svg.append(group);
  }
}

// --- the tables -------------------------------------------------------------------------------
function facts(list, pairs) {
  list.replaceChildren(...pairs.flatMap(([term, value]) => [el("dt", {}, term), el("dd", {}, String(value))]));
}

function drawService({status}) {
  const failover = status.last_failover;
  facts(document.getElementById("service-facts"), [
    ["VIP", status.vip + " (" + status.vip_state + ")"], ["forwarding method", status.mode.toUpperCase()],
    ["proxy mode", status.proxy_mode], ["carried by", status.active_proxies.join(", ") || "nobody"],
    ["last failover", failover ? failover.at + ": " + failover.from.join(", ") + " \u2192 " +
                                 failover.to.join(", ") : "none"],
    ["its cause", failover ? failover.cause : "\u2014"],
    ["segmentation", status.segmentation ? "on" : "off"]]);
  document.getElementById("summary").textContent = status.mode.toUpperCase() + ", VIP " + status.vip + " on " +
    (status.active_proxies.join(", ") || "nobody");
}

function sparkline(values, what) {
  const top = Math.max(1, ...values);
  const step = 120 / Math.max(1, values.length - 1);        // the samples so far, across the width
  const points = values.map((v, i) => (i * step).toFixed(1) + "," + (23 - v * 22 / top).toFixed(1));
  return el("svg", {class: "spark", viewBox: "0 0 120 24"}, el("polyline", {points: points.join(" ")}),
            el("title", {}, what + " per second, the last " + values.length + " s of at most " + HISTORY +
                            " (peak " + top.toFixed(1) + ")"));
}

// Rows are kept from one poll to the next, by key: a control in use (a weight being typed, a
// button being pressed) is never replaced under the user; only what the rows show changes.
function keepRows(tbody, items, key, build, update) {
  const kept = new Map([...tbody.children].map(tr => [tr.dataset.key, tr]));
  const rows = items.map(item => {
    const tr = kept.get(key(item)) || build(item);
    tr.dataset.key = key(item);
    update(tr, item);
    return tr;
  });
  if (rows.length !== tbody.children.length || rows.some((tr, i) => tbody.children[i] !== tr)) {
    tbody.replaceChildren(...rows);
  }
}

function buildServer(server) {
  const weight = el("input", {type: "number", "aria-label": "weight of " + server.name,
                              oninput: () => { weight.dataset.edited = "yes"; }});
  const set = async () => {
    await control("PUT", "/lb/backends/" + server.name, {weight: Number(weight.value)});
    weight.dataset.edited = "";
  };
  const tr = el("tr", {"data-server": server.name},
    el("td", {}, server.name + " (" + server.rip + ")"), el("td", {class: "health"}),
    el("td", {}, weight, el("button", {onclick: set}, "set")),
    el("td"), el("td"), el("td"), el("td"), el("td"), el("td", {}, el("button")));
  tr.lastChild.firstChild.addEventListener("click", () => control("PUT", "/lb/backends/" + server.name,
                                                                   {weight: tr.dataset.weight === "0" ? 1 : 0}));
  return tr;
}

function drawServers({backends}, seconds) {
  keepRows(document.querySelector("#servers tbody"), backends.backends, server => server.name, buildServer,
    (tr, server) => {
      const before = last && last.backends.backends.find(b => b.name === server.name);
      const counter = server.requests !== null && before && before.requests !== null ? "requests" : "connections";
      const rate = before && seconds ? (server[counter] - before[counter]) / seconds : 0;
      const bytes = before && seconds ? (server.bytes - before.bytes) / seconds : 0;
      const seen = history[server.name] = (history[server.name] || []).concat([Math.max(0, rate)]).slice(-HISTORY);
      const [, health, weight, share, active, rateCell, traffic, chart, action] = tr.children;
      const input = weight.firstChild;
      if (document.activeElement !== input && input.dataset.edited !== "yes") input.value = server.weight;
      tr.dataset.weight = server.weight;
      health.textContent = server.state;
      share.textContent = (100 * server.slots / backends.table_size).toFixed(1) + "%";
      active.textContent = server.active_connections;
      rateCell.textContent = rate.toFixed(1);
      traffic.textContent = (bytes * 8 / 1e6).toFixed(2) + " Mbit/s";
      chart.replaceChildren(sparkline(seen, counter));
      const drained = server.weight === 0;
      action.firstChild.className = drained ? "restore" : "drain";
      action.firstChild.textContent = drained ? "restore" : "drain";
    });
}

function drawServices({services}) {
  const build = () => el("tr", {}, el("td"), el("td"), el("td"), el("td"));
  keepRows(document.querySelector("#services tbody"), services.services, service => service.service, build,
    (tr, service) => {
      const [name, scheduler, state, servers] = tr.children;
      tr.dataset.service = service.service;
      name.textContent = service.service;
      scheduler.textContent = service.scheduler +
        (service.persistence === null ? "" : ", persistent " + service.persistence + " s");
      state.textContent = service.state;
      servers.textContent = service.real_servers.map(r => r.name + ":" + r.port + " (" + r.method.toUpperCase() +
        ", " + r.weight + ", " + r.state + ")").join(", ") || "none";
    });
}

function drawNodes({nodes}) {
  const build = node => {
    const tr = el("tr", {"data-node": node.name}, el("td", {}, node.name), el("td", {}, node.role), el("td"),
                  el("td", {}, el("button")));
    tr.lastChild.firstChild.addEventListener("click", () => tr.dataset.failed === "yes"
      ? control("POST", "/lb/nodes/" + node.name + "/recover")
      : control("POST", "/lb/nodes/" + node.name + "/fail", {kind: "link"}));
    return tr;
  };
  keepRows(document.querySelector("#nodes tbody"), nodes.nodes, node => node.name, build, (tr, node) => {
    tr.dataset.failed = node.failed ? "yes" : "";
    tr.children[2].textContent = node.links.filter(l => l.up).length + " of " + node.links.length + " up";
    const button = tr.children[3].firstChild;
    button.className = button.textContent = node.failed ? "recover" : "fail";
  });
}

function drawSecurity({blocks, alerts, status}, seconds) {
  const build = block => el("tr", {"data-block": block.ip}, el("td", {}, block.ip), el("td"), el("td", {}, block.reason),
    el("td", {}, el("button", {onclick: () => control("DELETE", "/lb/blocks/" + block.ip)}, "unblock")));
  keepRows(document.querySelector("#blocks tbody"), blocks.blocks, block => block.ip, build, (tr, block) => {
    tr.children[1].textContent = block.seconds_left + " s";
  });
  document.getElementById("alerts").replaceChildren(...(alerts.alerts.length ? alerts.alerts.map(a =>
    el("li", {}, a["@timestamp"] + " " + a["rule.name"] + " from " + a["source.ip"]))
    : [el("li", {}, alerts.reviewer ? "none" : "the log reviewer's alerts are not known to the controller")]));
  const copies = last && seconds ? (status.log_copies - last.status.log_copies) / seconds : 0;
  facts(document.getElementById("logging"), [["copies per second", copies.toFixed(1)],
    ["dropped by the meters", status.log_copies_dropped], ["lost on the way", status.copies_lost],
    ["refused by segmentation", status.refused],
    ["forged packets dropped", status.spoofed], ["other packet-ins", status.packet_in]]);
}

// --- polling ----------------------------------------------------------------------------------
async function poll() {
  const names = ["status", "backends", "services", "nodes", "blocks", "alerts"];
  const paths = ["/lb/status", "/lb/backends", "/lb/services", "/lb/nodes", "/lb/blocks", "/lb/alerts"];
  let data;
  try {
    if (!cluster) cluster = await api("GET", "/lb/cluster");
    const answers = await Promise.all(paths.map(path => api("GET", path)));
    data = Object.fromEntries(names.map((name, i) => [name, answers[i]]));
  } catch (error) {
    lost(error);
    return;
  }
  data.at = Date.now();
  const seconds = last ? (data.at - last.at) / 1000 : 0;
  found();
  drawTopology(data);
  drawService(data);
  drawServices(data);
  drawServers(data, seconds);
  drawNodes(data);
  drawSecurity(data, seconds);
  last = data;
}

function lost(error) {
  if (lostSince === null) lostSince = new Date();
  cluster = null;                    // a restarted controller may describe another cluster
  const badge = document.getElementById("connection");
  badge.textContent = "controller unreachable";
  badge.className = "lost";
  say("The controller does not answer (" + error.message + ") since " + lostSince.toLocaleTimeString() +
      "; retrying every second. What is shown is from before.", "lost");
}

function found() {
  const badge = document.getElementById("connection");
  if (lostSince !== null) say("");
  lostSince = null;
  badge.textContent = "live";
  badge.className = "live";
}

poll();
setInterval(poll, POLL_MS);

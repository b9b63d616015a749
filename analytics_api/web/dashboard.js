// The dashboard page: every number comes from the analytics API (same origin, bearer
// token). Each panel shows loading, then its chart, an empty state (no data in the range),
// or the error the API returned. <body data-state> becomes "ready" when every panel settled.
// The range lives in the URL's query (?range=7d, or ?range=custom&start=…&end=… in UTC),
// so a link or a reload shows the same range; the token stays in sessionStorage only.
"use strict";

const TOKEN_KEY = "analytics-api-token";
const REFRESH_MS = 60_000;
const HOUR_MS = 3_600_000;
const PRESETS = { "24h": 24 * HOUR_MS, "7d": 7 * 24 * HOUR_MS, "30d": 30 * 24 * HOUR_MS, "90d": 90 * 24 * HOUR_MS };
const PRESET_LABELS = { "24h": "last 24 hours", "7d": "last 7 days", "30d": "last 30 days", "90d": "last 90 days" };
const integer = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });
// Times in the viewer's zone, and the zone named next to the picker.
const ZONE = Intl.DateTimeFormat().resolvedOptions().timeZone;
const hourLabel = new Intl.DateTimeFormat("en-CA", {
  month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", hourCycle: "h23",
});
const momentLabel = new Intl.DateTimeFormat("en-CA", {
  year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", hourCycle: "h23", timeZoneName: "short",
});
const charts = {};

class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

function takeTokenFromFragment() {
  const match = /(?:^|&)token=([^&]+)/.exec(location.hash.slice(1));
  if (match) {
    sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(match[1]));
    history.replaceState(null, "", location.pathname + location.search);
  }
  return sessionStorage.getItem(TOKEN_KEY);
}

async function api(path, params = {}) {
  const url = new URL(path, location.origin);
  for (const [name, value] of Object.entries(params)) url.searchParams.set(name, value);
  let response;
  try {
    response = await fetch(url, {
      headers: { Authorization: `Bearer ${sessionStorage.getItem(TOKEN_KEY)}` },
    });
  } catch (error) {
    throw new ApiError(0, `the API is unreachable (${error.message})`);
  }
  if (response.status === 401) {
    sessionStorage.removeItem(TOKEN_KEY);
    showLogin("The token was refused. Enter a valid API token.");
    throw new ApiError(401, "not authorized");
  }
  if (!response.ok) {
    let detail = response.statusText;
    try {
      detail = (await response.json()).detail ?? detail;
    } catch (_) { /* not JSON */ }
    throw new ApiError(response.status, `${response.status}: ${typeof detail === "string" ? detail : JSON.stringify(detail)}`);
  }
  return response.json();
}

// The range the URL asks for: a preset (relative to now, so a refresh moves with the
// clock) or a custom [start, end) in UTC. Anything unreadable falls back to 7 days.
function rangeFromUrl() {
  const query = new URLSearchParams(location.search);
  const name = query.get("range") ?? "7d";
  if (name === "custom") {
    const start = new Date(query.get("start") ?? "");
    const end = new Date(query.get("end") ?? "");
    if (!Number.isNaN(start.getTime()) && !Number.isNaN(end.getTime()) && start < end) {
      return { name, start, end };
    }
  }
  const preset = PRESETS[name] ? name : "7d";
  const end = new Date();
  return { name: preset, start: new Date(end.getTime() - PRESETS[preset]), end };
}

function rangeToUrl(name, start, end) {
  const query = new URLSearchParams(location.search);
  query.set("range", name);
  if (name === "custom") {
    query.set("start", start.toISOString());
    query.set("end", end.toISOString());
  } else {
    query.delete("start");
    query.delete("end");
  }
  // The fragment (a token not yet read) is never carried along.
  history.pushState(null, "", `${location.pathname}?${query}`);
}

// <input type=datetime-local> holds the viewer's wall time without a zone.
function localInput(date) {
  const shifted = new Date(date.getTime() - date.getTimezoneOffset() * 60_000);
  return shifted.toISOString().slice(0, 16);
}

function showRange(range) {
  document.getElementById("range").value = range.name;
  document.getElementById("custom-range").hidden = range.name !== "custom";
  document.getElementById("range-start").value = localInput(range.start);
  document.getElementById("range-end").value = localInput(range.end);
  const label = range.name === "custom"
    ? `${momentLabel.format(range.start)} – ${momentLabel.format(range.end)}`
    : PRESET_LABELS[range.name];
  for (const element of document.querySelectorAll(".range-label")) element.textContent = label;
  document.body.dataset.range = range.name;
  document.body.dataset.start = range.start.toISOString();
  document.body.dataset.end = range.end.toISOString();
}

function panel(name) {
  return document.querySelector(`[data-panel="${name}"]`);
}

function setState(name, state, message = "") {
  const element = panel(name);
  element.dataset.state = state;
  element.querySelector(":scope > .state")?.remove();
  if (state === "empty" || state === "error") {
    const note = document.createElement("p");
    note.className = `state ${state}`;
    note.textContent = message;
    element.append(note);
  }
}

function chart(name, option) {
  const element = panel(name).querySelector(".chart");
  charts[name] ??= echarts.init(element);
  // No animation: a refresh every minute should not replay it, and screenshots are exact.
  charts[name].setOption({ animation: false, ...option }, true);
  charts[name].resize();
}

const EMPTY = "No data in this range: the rollups have no events for it (see the Dagster UI for loads).";
const percent = (value) => `${(value * 100).toFixed(2)}%`;

// One panel: fetch, then draw or show the empty/error state. Never throws.
async function load(name, path, params, draw) {
  setState(name, "loading");
  try {
    const answer = await api(path, params);
    if (answer.status === "empty" || answer.data === null) {
      setState(name, "empty", panel(name).dataset.empty ?? EMPTY);
      return answer;
    }
    setState(name, "ready");
    draw(answer.data, answer);
    return answer;
  } catch (error) {
    setState(name, "error", `Could not load: ${error.message}`);
    return null;
  }
}

function showOverview(data, answer) {
  for (const element of document.querySelectorAll("[data-metric]")) {
    const value = data[element.dataset.metric];
    element.dataset.value = value;
    element.textContent = element.dataset.format === "percent"
      ? percent(value)
      : integer.format(value);
  }
  document.getElementById("as-of").textContent = `as of ${momentLabel.format(new Date(answer.as_of))}`;
  const select = document.getElementById("scenario");
  if (select.options.length === 1 && data.scenario_ids) {
    for (const id of data.scenario_ids) select.add(new Option(id, id));
  }
}

function lines(points, x, series) {
  return {
    tooltip: { trigger: "axis" },
    legend: { top: 0 },
    grid: { left: 60, right: 60, top: 40, bottom: 30 },
    xAxis: { type: "category", data: points.map((p) => p[x]) },
    yAxis: [{ type: "value" }, { type: "value", axisLabel: { formatter: (v) => `${(v * 100).toFixed(1)}%` } }],
    series: series.map(([label, key, axis = 0]) => ({
      name: label, type: "line", showSymbol: points.length < 40, yAxisIndex: axis, data: points.map((p) => p[key]),
    })),
  };
}

// The open (current) hour is still filling: it is shaded and labelled "partial so far"
// instead of reading as a cliff towards zero.
function showHourly(data) {
  const now = Date.now();
  const points = data.points.map((p) => {
    const start = new Date(p.hour_start);
    return { ...p, hour: hourLabel.format(start).replace(",", ""), open: start.getTime() + HOUR_MS > now };
  });
  const option = lines(points, "hour", [["impressions", "impressions"], ["clicks", "clicks"], ["orders", "orders"], ["CTR", "ctr", 1]]);
  const openIndex = points.findIndex((p) => p.open);
  const open = points[openIndex];
  if (open) {
    // Shade the segment into the open hour, and ring its points: a value still growing.
    option.series[0].markArea = {
      silent: true,
      itemStyle: { color: "rgba(107, 119, 133, 0.15)" },
      label: { show: true, position: "insideTop", formatter: "open hour: partial" },
      data: [[{ xAxis: points[Math.max(0, openIndex - 1)].hour }, { xAxis: open.hour }]],
    };
    for (const series of option.series) {
      series.markPoint = {
        symbol: "emptyCircle", symbolSize: 10, label: { show: false },
        data: [{ coord: [open.hour, series.data[openIndex]] }],
      };
    }
  }
  panel("trend_hourly").querySelector(".partial-note").textContent = open
    ? `(hours in ${ZONE}; the open hour ${open.hour} is partial)`
    : `(hours in ${ZONE})`;
  panel("trend_hourly").dataset.openHour = open ? open.hour_start : "";
  chart("trend_hourly", option);
}

function showDaily(data) {
  chart("trend_daily", lines(data.points, "day", [["clicks", "clicks"], ["active users", "active_users"], ["CTR", "ctr", 1]]));
}

function bars(labels, values, name, horizontal = false, format = integer.format) {
  const category = { type: "category", data: labels, inverse: horizontal };
  return {
    tooltip: {},
    grid: { left: horizontal ? 110 : 50, right: horizontal ? 60 : 20, top: 20, bottom: 30 },
    xAxis: horizontal ? { type: "value" } : category,
    yAxis: horizontal ? category : { type: "value" },
    series: [{
      name, type: "bar", data: values,
      label: { show: true, position: horizontal ? "right" : "top", formatter: (p) => format(p.value) },
    }],
  };
}

function showFunnel(data) {
  chart("funnel", bars(data.users.map((r) => r.action_type), data.users.map((r) => r.users), "users"));
}

function showItems(data) {
  chart("items", bars(data.items.map((i) => i.item_id), data.items.map((i) => i.clicks), "clicks", true));
  const categories = Object.entries(data.clicks_by_category);
  setState("categories", "ready");
  chart("categories", {
    tooltip: {},
    series: [{ name: "clicks", type: "pie", radius: ["35%", "70%"], data: categories.map(([name, value]) => ({ name, value })) }],
  });
}

function pValue(test) {
  if (test.p_value === null) return test.note;
  return test.p_value < 0.0001 ? "< 0.0001" : test.p_value.toFixed(4);
}

function showExperiments(data) {
  if (data.length === 0) {
    setState("experiments", "empty", "No experiment is configured for this tenant.");
    return;
  }
  const groups = data.flatMap((e) => e.groups.map((g) => ({ ...g, label: `${e.experiment_id} / ${g.experiment_group}` })));
  chart("experiments", bars(groups.map((g) => g.label), groups.map((g) => g.user_ctr), "user CTR", false, percent));
  const table = panel("experiments").querySelector("table");
  table.replaceChildren();
  const head = table.insertRow();
  for (const title of ["experiment / group", "exposed users", "clicking users", "user CTR", "lift", "p-value"]) {
    head.append(Object.assign(document.createElement("th"), { textContent: title }));
  }
  for (const g of groups) {
    const test = g.vs_control;
    const row = table.insertRow();
    row.dataset.group = g.label;
    const cells = [g.label, integer.format(g.exposed_users), integer.format(g.clicking_users),
      percent(g.user_ctr),
      test && test.lift !== null ? `${(test.lift * 100).toFixed(1)}%` : "control",
      test ? pValue(test) : ""];
    for (const text of cells) row.insertCell().textContent = text;
    if (test?.significant) row.className = "significant";
  }
}

function showLakehouse(data) {
  if (data.daily.length === 0) {
    setState("lakehouse", "empty", "The lakehouse has no events for this tenant in this range.");
    return;
  }
  chart("lakehouse", lines(data.daily, "dt", [["users", "users"], ["converted users", "converted_users"], ["conversion rate", "conversion_rate", 1]]));
}

function showRealtime(data, answer) {
  const w = data.window;
  panel("realtime").querySelector(".window").textContent = w.window_end_ms
    ? `minute ending ${answer.as_of}: ${integer.format(w.impressions)} impressions, ${integer.format(w.clicks)} clicks, ${integer.format(w.active_users)} users`
    : "no window yet";
  chart("realtime", bars(data.hot_items.map((i) => i.item_id), data.hot_items.map((i) => i.score), "score", true));
}

async function refresh() {
  document.body.dataset.state = "loading";
  setState("categories", "loading");
  const range = rangeFromUrl();
  showRange(range);
  const bounds = { start: range.start.toISOString(), end: range.end.toISOString() };
  const scenario = document.getElementById("scenario").value;
  const scoped = { scenario_id: scenario, ...bounds };
  const realtimeScenario = scenario === "all" ? "home_feed" : scenario;
  await Promise.all([
    load("overview", "/api/v1/dashboard", scoped, showOverview),
    load("trend_hourly", "/api/v1/metrics/trend", { ...scoped, granularity: "hour" }, showHourly),
    load("trend_daily", "/api/v1/metrics/trend", { ...scoped, granularity: "day" }, showDaily),
    load("funnel", "/api/v1/users/behavior", scoped, showFunnel),
    load("items", "/api/v1/items/distribution", { ...scoped, limit: 10 }, showItems).then(() => {
      const items = panel("items");  // the categories come with the items: mirror a failure
      if (items.dataset.state !== "ready") setState("categories", items.dataset.state, items.querySelector(":scope > .state")?.textContent ?? "");
    }),
    load("experiments", "/api/v1/experiments", bounds, showExperiments),
    load("lakehouse", "/api/v1/lakehouse", bounds, showLakehouse),
    load("realtime", "/api/v1/realtime", { scenario_id: realtimeScenario }, showRealtime),
  ]);
  if (document.body.dataset.state !== "login") document.body.dataset.state = "ready";
}

function showLogin(message) {
  const form = document.getElementById("login");
  form.hidden = false;
  form.querySelector("p").textContent = message ?? form.querySelector("p").textContent;
  document.getElementById("panels").hidden = true;
  document.body.dataset.state = "login";
}

function start() {
  if (!takeTokenFromFragment()) {
    showLogin();
  } else {
    document.getElementById("login").hidden = true;
    document.getElementById("panels").hidden = false;
    refresh();
  }
}

document.getElementById("login").addEventListener("submit", (event) => {
  event.preventDefault();
  sessionStorage.setItem(TOKEN_KEY, document.getElementById("token").value);
  start();
});
document.getElementById("scenario").addEventListener("change", refresh);
document.getElementById("range").addEventListener("change", (event) => {
  const name = event.target.value;
  if (name === "custom") {  // keep the current bounds until the viewer applies new ones
    document.getElementById("custom-range").hidden = false;
    return;
  }
  rangeToUrl(name);
  refresh();
});
document.getElementById("range-picker").addEventListener("submit", (event) => {
  event.preventDefault();
  const start = new Date(document.getElementById("range-start").value);
  const end = new Date(document.getElementById("range-end").value);
  if (Number.isNaN(start.getTime()) || Number.isNaN(end.getTime()) || !(start < end)) {
    setState("overview", "error", "The range needs a start before its end.");
    return;
  }
  rangeToUrl("custom", start, end);
  refresh();
});
window.addEventListener("popstate", refresh);
document.getElementById("zone").textContent = `times in ${ZONE}`;
document.getElementById("refresh").addEventListener("click", refresh);
window.addEventListener("resize", () => Object.values(charts).forEach((c) => c.resize()));
setInterval(() => { if (document.body.dataset.state === "ready") refresh(); }, REFRESH_MS);
start();

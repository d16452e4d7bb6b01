"use strict";
// The status page: polls /v1/status and shows it. Every value is set as text (never
// as HTML). The token, when one is needed, stays in this tab's sessionStorage and
// goes out as an Authorization header only.

const POLL_MS = 1500;
const TOKEN_KEY = "woollama-token";
const $ = (id) => document.getElementById(id);

function headers(extra) {
  const h = Object.assign({}, extra || {});
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) h["Authorization"] = "Bearer " + token;
  return h;
}

function when(seconds) {
  if (!seconds) return "";
  return new Date(seconds * 1000).toLocaleTimeString();
}

function duration(seconds) {
  const s = Math.round(seconds);
  if (s < 60) return s + " s";
  if (s < 3600) return Math.floor(s / 60) + " min " + (s % 60) + " s";
  return Math.floor(s / 3600) + " h " + Math.floor((s % 3600) / 60) + " min";
}

function cell(text, cls) {
  const td = document.createElement("td");
  td.textContent = text === null || text === undefined ? "" : String(text);
  if (cls) td.className = cls;
  return td;
}

function fill(tableId, rows, render) {
  const body = $(tableId).querySelector("tbody");
  const fresh = document.createElement("tbody");
  for (const row of rows) {
    const tr = document.createElement("tr");
    for (const td of render(row)) tr.appendChild(td);
    if (row.name) tr.dataset.name = row.name;
    fresh.appendChild(tr);
  }
  if (rows.length === 0) {
    const tr = document.createElement("tr");
    tr.appendChild(cell("none", "muted"));
    fresh.appendChild(tr);
  }
  body.replaceWith(fresh);
}

function request(r) {
  return r.method + " " + r.path;
}

function tools(r) {
  return (r.tools || []).map((t) => t.tool + (t.ok ? " ok " : " error ") + t.ms + " ms").join(", ");
}

function show(s) {
  $("token-box").hidden = true;
  $("main").hidden = false;
  const ready = $("ready");
  ready.textContent = s.ready ? "ready" : "starting";
  ready.className = "badge " + (s.ready ? "ready" : "starting");
  $("summary").textContent =
    (s.base_url || "") + " · up " + duration(s.uptime_s) + " · woollama " + s.version;
  $("live").textContent = "updated " + new Date().toLocaleTimeString();

  const problems = s.config_problems || [];
  $("problems-box").hidden = problems.length === 0;
  const list = document.createElement("ul");
  list.id = "problems";
  for (const p of problems) {
    const li = document.createElement("li");
    li.textContent = p;
    li.className = "error";
    list.appendChild(li);
  }
  $("problems").replaceWith(list);

  fill("servers", s.servers, (x) => [
    cell(x.name), cell(x.transport), cell(x.status, x.status), cell(x.tool_count),
    cell(when(x.since)), cell(x.last_error, x.last_error ? "err" : ""),
  ]);
  fill("providers", s.providers, (x) => [
    cell(x.name), cell(x.state, x.state),
    cell(x.reason || x.last_error, x.reason || x.last_error ? "err" : ""),
  ]);
  fill("recipes", s.recipes, (x) => [
    cell(x.model), cell(x.inferencer), cell(x.usable ? "yes" : "no", x.usable ? "ok" : "not-usable"),
    cell(x.reason, x.reason ? "err" : ""),
  ]);
  fill("failures", s.failures, (r) => [
    cell(when(r.time)), cell(request(r)), cell(r.model), cell(r.status, "status-error"),
    cell(r.origin), cell((r.error || "") + (r.detail ? ": " + r.detail : ""), "err"),
  ]);
  fill("recent", s.recent, (r) => [
    cell(when(r.time)), cell(request(r)), cell(r.model),
    cell(r.status, r.status >= 400 ? "status-error" : ""), cell(r.origin), cell(r.total_ms),
    cell(r.overhead_ms), cell(tools(r)),
  ]);
}

function askForToken(message) {
  $("main").hidden = true;
  $("token-box").hidden = false;
  $("token-error").textContent = message || "";
  $("ready").textContent = "token needed";
  $("ready").className = "badge";
}

let models = false;

async function loadModels() {
  const answer = await fetch("/v1/models", { headers: headers() });
  if (!answer.ok) return;
  const list = $("models");
  for (const m of (await answer.json()).data || []) {
    const option = document.createElement("option");
    option.value = m.id;
    list.appendChild(option);
  }
  models = true;
}

async function poll() {
  try {
    const answer = await fetch("/v1/status", { headers: headers(), cache: "no-store" });
    if (answer.status === 401) {
      askForToken(sessionStorage.getItem(TOKEN_KEY) ? "that token was refused" : "");
    } else if (answer.ok) {
      show(await answer.json());
      if (!models) loadModels();
    } else {
      $("live").textContent = "status answered HTTP " + answer.status;
    }
  } catch (err) {
    $("live").textContent = "woollama is not answering";
    $("ready").textContent = "down";
    $("ready").className = "badge failed";
  }
  setTimeout(poll, POLL_MS);
}

async function tryModel(event) {
  event.preventDefault();
  const out = $("try-output");
  out.textContent = "…";
  out.className = "";
  const body = {
    model: $("try-model").value.trim(),
    messages: [{ role: "user", content: $("try-prompt").value }],
  };
  try {
    const answer = await fetch("/v1/chat/completions", {
      method: "POST",
      headers: headers({ "Content-Type": "application/json" }),
      body: JSON.stringify(body),
    });
    const data = await answer.json();
    if (!answer.ok) {
      out.className = "error";
      out.textContent = "HTTP " + answer.status + ": " + ((data.error || {}).message || "");
      return;
    }
    const message = (data.choices || [{}])[0].message || {};
    out.textContent = message.content || JSON.stringify(message.tool_calls || message);
  } catch (err) {
    out.className = "error";
    out.textContent = String(err);
  }
}

document.addEventListener("DOMContentLoaded", () => {
  $("token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, $("token").value);
    $("token").value = "";
    models = false;
  });
  $("try-form").addEventListener("submit", tryModel);
  poll();
});

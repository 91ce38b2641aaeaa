// The Micro-MCP admin page: reads the admin API of the listener that served
// it and calls tools through POST /api/mcp. No framework, no build step.
"use strict";

const TOKEN_KEY = "micromcp-admin-token";
const REFRESH_MS = 2000;
let tools = [];

function $(selector) {
  return document.querySelector(selector);
}

function element(tag, properties = {}, children = []) {
  const node = document.createElement(tag);
  const { dataset = {}, ...rest } = properties;
  Object.assign(node, rest);
  Object.assign(node.dataset, dataset);
  for (const child of children) {
    node.append(child);
  }
  return node;
}

function say(message, isError = false) {
  const status = $("#status");
  status.textContent = message;
  status.classList.toggle("error", isError);
}

function authHeaders() {
  const token = sessionStorage.getItem(TOKEN_KEY);
  return token ? { Authorization: "Bearer " + token } : {};
}

async function api(path, options = {}) {
  const response = await fetch(path, {
    ...options,
    headers: { ...authHeaders(), ...(options.headers || {}) },
  });
  const text = await response.text();
  if (!response.ok) {
    let message = text.trim();
    try {
      message = JSON.parse(text).error || message;
    } catch (_) {
      // plain text refusal
    }
    throw new Error(response.status + ": " + message);
  }
  return text;
}

async function mcp(method, params = {}) {
  const text = await api("/api/mcp", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ method, params }),
  });
  const answer = JSON.parse(text);
  if (answer.error) {
    throw new Error(answer.error.message + " (" + answer.error.code + ")");
  }
  return answer.result;
}

async function refreshServices() {
  const listed = JSON.parse(await api("/api/services")).services;
  const rows = listed.map((service) => {
    const state = element("td", {
      className: service.available ? "up" : "down",
      textContent: service.available ? "available" : "down",
      title: service.down_reason || "",
    });
    return element("tr", { dataset: { service: service.name } }, [
      element("td", { textContent: service.name }),
      state,
      element("td", { textContent: service.breaker }),
      element("td", { textContent: String(service.calls_running) }),
      element("td", { textContent: String(service.catalog.tools) }),
      element("td", { textContent: service.endpoints.join(", ") }),
      element("td", { textContent: service.registered ? "registered" : "config" }),
    ]);
  });
  $("#services tbody").replaceChildren(...rows);
  const up = listed.filter((service) => service.available).length;
  $("#count-services").textContent = up + " / " + listed.length;
}

async function refreshAudit() {
  const records = JSON.parse(await api("/api/audit?limit=20")).records.reverse();
  const rows = records.map((record) =>
    element("tr", {}, [
      element("td", { textContent: record.time.replace("T", " ").slice(0, 23) }),
      element("td", { textContent: record.principal || "" }),
      element("td", { textContent: record.transport }),
      element("td", { textContent: record.method || "" }),
      element("td", { textContent: record.target || "" }),
      element("td", {
        className: record.outcome === "ok" ? "up" : "down",
        textContent: record.outcome + (record.error_category ? " (" + record.error_category + ")" : ""),
      }),
      element("td", { textContent: (record.latency_us / 1000).toFixed(1) + " ms" }),
    ]),
  );
  $("#audit tbody").replaceChildren(...rows);
}

async function refreshCounters() {
  const text = await api("/metrics");
  let requests = 0;
  let errors = 0;
  let inFlight = 0;
  for (const line of text.split("\n")) {
    if (line.startsWith("micromcp_requests_total{")) {
      const value = Number(line.slice(line.lastIndexOf(" ") + 1));
      requests += value;
      if (!line.includes('outcome="ok"')) {
        errors += value;
      }
    } else if (line.startsWith("micromcp_requests_in_flight ")) {
      inFlight = Number(line.slice(line.lastIndexOf(" ") + 1));
    }
  }
  $("#count-requests").textContent = String(requests);
  $("#count-errors").textContent = String(errors);
  $("#count-in-flight").textContent = String(inFlight);
}

async function loadCatalog() {
  const found = [];
  let cursor;
  do {
    const page = await mcp("tools/list", cursor ? { cursor } : {});
    found.push(...page.tools);
    cursor = page.nextCursor;
  } while (cursor);
  tools = found.sort((a, b) => a.name.localeCompare(b.name));
  showCatalog();
  const select = $("#call-tool");
  const chosen = select.value;
  select.replaceChildren(...tools.map((tool) => element("option", { value: tool.name, textContent: tool.name })));
  if (tools.some((tool) => tool.name === chosen)) {
    select.value = chosen;
  }
  showFields();
}

function showCatalog() {
  const query = $("#catalog-search").value.trim().toLowerCase();
  const shown = tools.filter(
    (tool) => !query || tool.name.toLowerCase().includes(query) || (tool.description || "").toLowerCase().includes(query),
  );
  $("#catalog").replaceChildren(
    ...shown.map((tool) =>
      element("li", { dataset: { tool: tool.name } }, [
        element("code", { textContent: tool.name }),
        " — " + (tool.description || ""),
      ]),
    ),
  );
}

function chosenTool() {
  return tools.find((tool) => tool.name === $("#call-tool").value);
}

function showFields() {
  const tool = chosenTool();
  $("#call-description").textContent = tool ? tool.description || "" : "";
  const schema = (tool && tool.inputSchema) || {};
  const required = new Set(schema.required || []);
  const fields = Object.entries(schema.properties || {}).map(([name, property]) => {
    const id = "field-" + name;
    const label = element("label", {
      htmlFor: id,
      textContent: name + (required.has(name) ? " *" : "") + (property.description ? " — " + property.description : ""),
    });
    let input;
    if (property.type === "boolean") {
      input = element("input", { id, type: "checkbox" });
    } else if (property.type === "string" || property.type === "number" || property.type === "integer") {
      input = element("input", { id, type: property.type === "string" ? "text" : "number", required: required.has(name) });
    } else {
      input = element("textarea", { id, rows: 3, placeholder: "JSON" });
    }
    input.dataset.name = name;
    input.dataset.kind = property.type || "json";
    return element("div", {}, [label, input]);
  });
  $("#call-fields").replaceChildren(...fields);
}

function argumentsFromForm() {
  const args = {};
  for (const input of document.querySelectorAll("#call-fields [data-name]")) {
    const { name, kind } = input.dataset;
    if (kind === "boolean") {
      args[name] = input.checked;
    } else if (input.value === "") {
      continue;
    } else if (kind === "number" || kind === "integer") {
      args[name] = Number(input.value);
    } else if (kind === "string") {
      args[name] = input.value;
    } else {
      args[name] = JSON.parse(input.value);
    }
  }
  return args;
}

async function callTool(event) {
  event.preventDefault();
  const output = $("#call-result");
  output.classList.remove("error");
  output.textContent = "calling…";
  try {
    const result = await mcp("tools/call", { name: $("#call-tool").value, arguments: argumentsFromForm() });
    const texts = (result.content || []).filter((item) => item.type === "text").map((item) => item.text);
    output.classList.toggle("error", Boolean(result.isError));
    output.textContent = (texts.length ? texts.join("\n") + "\n\n" : "") + JSON.stringify(result, null, 2);
  } catch (error) {
    output.classList.add("error");
    output.textContent = String(error.message || error);
  }
  refreshAudit().catch(() => {});
}

async function searchRegistry(event) {
  event.preventDefault();
  const outcome = $("#registry-outcome");
  outcome.textContent = "searching…";
  try {
    const query = encodeURIComponent($("#registry-search").value.trim());
    const found = JSON.parse(await api("/api/registry/servers?search=" + query));
    outcome.textContent = found.servers.length + " found in " + found.registry;
    $("#registry-results").replaceChildren(
      ...found.servers.map((server) => {
        const add = element("button", { type: "button", textContent: "Add as " + server.local_name });
        add.dataset.server = server.name;
        add.addEventListener("click", () => addFromRegistry(server));
        return element("li", { dataset: { server: server.name } }, [
          element("strong", { textContent: server.name }),
          " " + server.version + " ",
          add,
          element("small", { textContent: server.description }),
          element("small", { textContent: server.ways.join(" · ") }),
        ]);
      }),
    );
  } catch (error) {
    outcome.textContent = String(error.message || error);
  }
}

function planText(plan) {
  const inputs = (listed) =>
    listed.length
      ? listed.map((input) => (input.from === "entry" ? input.name + "=" + JSON.stringify(input.value) + " (from the entry)" : input.name + " (yours)")).join(", ")
      : "none";
  const lines = [plan.server + " " + plan.version + " as " + plan.service];
  if (plan.kind === "package") {
    lines.push("runs: " + plan.command_line, "environment: " + inputs(plan.env));
  } else {
    lines.push("connects to: " + plan.url + " (" + plan.transport + ")", "headers: " + inputs(plan.headers));
  }
  // Characters that reorder or hide text, and control characters, shown
  // escaped: the plan reads as it runs.
  return lines
    .join("\n")
    .replace(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]/g,
      (character) => "\\u" + character.charCodeAt(0).toString(16).padStart(4, "0"));
}

// Adding shows what will run first; only a click on "Run this and add it"
// adds it, with the digest of exactly what was shown.
async function addFromRegistry(server) {
  const outcome = $("#registry-outcome");
  const shown = $("#registry-plan");
  const confirm = $("#registry-confirm");
  confirm.hidden = true;
  shown.hidden = true;
  outcome.textContent = "asking what adding " + server.name + " runs…";
  const asked = { name: server.name };
  try {
    const answer = JSON.parse(
      await api("/api/registry/plan", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(asked),
      }),
    );
    shown.textContent = planText(answer.plan);
    shown.hidden = false;
    confirm.hidden = false;
    confirm.dataset.digest = answer.digest;
    confirm.onclick = () => confirmAdd(asked, answer.digest);
    outcome.textContent = "check what it runs, then add it";
  } catch (error) {
    outcome.textContent = String(error.message || error);
  }
}

async function confirmAdd(asked, digest) {
  const outcome = $("#registry-outcome");
  $("#registry-confirm").hidden = true;
  outcome.textContent = "adding " + asked.name + "…";
  try {
    const answer = JSON.parse(
      await api("/api/registry/add", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ ...asked, digest }),
      }),
    );
    const service = answer.service || {};
    outcome.textContent =
      "registered " + service.name + (service.available ? " (available)" : " (starting)");
    $("#registry-plan").hidden = true;
    await refreshServices();
    await loadCatalog();
  } catch (error) {
    outcome.textContent = String(error.message || error);
  }
}

// Held definitions are listed when the page loads and after each approval,
// not on the timer: what an approval names is the definition on screen.
async function loadHeld() {
  const held = JSON.parse(await api("/api/tools/held")).held;
  $("#held").replaceChildren(
    ...held.map((tool) => {
      const approve = element("button", { type: "button", textContent: "Approve this definition" });
      approve.addEventListener("click", () => approveHeld(tool.name, tool.offered_sha256));
      return element("li", { dataset: { tool: tool.name, sha256: tool.offered_sha256 } }, [
        element("code", { textContent: tool.name }),
        " (service " + tool.service + ") ",
        approve,
        element("small", { textContent: "offered sha256 " + tool.offered_sha256 + ", approved " + tool.pinned_sha256 }),
        element("pre", { textContent: JSON.stringify(tool.offered || {}, null, 2) }),
      ]);
    }),
  );
}

async function approveHeld(name, sha256) {
  const outcome = $("#held-outcome");
  outcome.textContent = "approving " + name + "…";
  try {
    await api("/api/tools/" + encodeURIComponent(name) + "/approve", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ sha256 }),
    });
    outcome.textContent = "approved " + name + " (" + sha256.slice(0, 12) + "…)";
    loadCatalog().catch(() => {});
  } catch (error) {
    outcome.textContent = String(error.message || error) + " — the list below is current again";
  }
  await loadHeld().catch(() => {});
}

// Why the catalog could not be read, until it is: the periodic refresh
// shows it again instead of clearing it when the other reads succeed.
let catalogProblem = "";

function reloadCatalog() {
  return loadCatalog().then(
    () => {
      catalogProblem = "";
    },
    (error) => {
      catalogProblem = "catalog: " + error.message + " — type the admin token above";
      say(catalogProblem, true);
    },
  );
}

async function refresh() {
  const results = await Promise.allSettled([refreshServices(), refreshAudit(), refreshCounters()]);
  const failed = results.find((result) => result.status === "rejected");
  if (failed) {
    say(failed.reason.message + " — type the admin token above", true);
  } else if (catalogProblem) {
    say(catalogProblem, true);
  } else if ($("#status").classList.contains("error")) {
    say("");
  }
}

async function start() {
  $("#token").value = sessionStorage.getItem(TOKEN_KEY) || "";
  $("#token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, $("#token").value.trim());
    say("");
    reloadCatalog().then(refresh);
    loadHeld().catch(() => {});
  });
  $("#catalog-search").addEventListener("input", showCatalog);
  $("#call-tool").addEventListener("change", showFields);
  $("#call-form").addEventListener("submit", callTool);
  $("#registry-form").addEventListener("submit", searchRegistry);
  await reloadCatalog();
  await refresh();
  loadHeld().catch(() => {});
  setInterval(refresh, REFRESH_MS);
}

start();

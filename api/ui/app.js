/* mesospaas web UI. Plain JavaScript, no dependencies, no build step.
 *
 * It talks only to this API: the Marathon v2 routes, the Metronome v1 job routes, and /ui/api/cluster (ours).
 * It stays live through /v2/events: every event marks the parts of the page it affects as stale, and one
 * short timer coalesces a burst of events into one re-fetch of those parts. There is no polling loop.
 * Rows are kept per id and updated in place, so a value typed into a scale box survives a refresh.
 *
 * Signing in (when the server has --auth-file or --http-credentials): /ui/api/session says whether and how;
 * the form posts a token (or the Basic user and password) to POST /v2/session, which sets an HttpOnly,
 * SameSite=Strict session cookie that every fetch and the EventSource then carry. A 401 on any request
 * shows the form again; "Sign out" is DELETE /v2/session.
 */
"use strict";

const API = new URL("..", window.location.href).pathname.replace(/\/$/, "");
const EVENT_TYPES = {
  status_update_event: ["apps", "queue", "cluster"],
  instance_changed_event: ["apps", "queue"],
  instance_health_changed_event: ["apps"],
  health_status_changed_event: ["apps"],
  failed_health_check_event: ["apps"],
  unhealthy_instance_kill_event: ["apps"],
  api_post_event: ["apps", "deployments"],
  app_terminated_event: ["apps", "queue"],
  deployment_info: ["deployments", "apps"],
  deployment_success: ["deployments", "apps", "queue"],
  deployment_failed: ["deployments", "apps", "queue"],
  deployment_step_success: ["deployments", "apps"],
  deployment_step_failure: ["deployments", "apps"],
  group_change_success: ["apps", "deployments"],
  group_change_failed: ["apps", "deployments"],
  scheduler_registered_event: ["info", "cluster"],
  scheduler_reregistered_event: ["info", "cluster"],
  scheduler_disconnected_event: ["info"],
  event_stream_attached: ["info", "apps", "deployments", "queue", "jobs", "cluster"],
  job_run_initial: ["jobs"],
  job_run_starting: ["jobs"],
  job_run_active: ["jobs"],
  job_run_success: ["jobs"],
  job_run_failed: ["jobs"],
};
const COALESCE_MS = 150;

const state = { apps: new Map(), jobsAvailable: true, rendered: { apps: 0, at: 0 }, signedOut: false,
  schemes: ["token"] };
const stale = new Set();
let refreshTimer = null;
let refreshing = false;

// -- helpers --------------------------------------------------------------------------------------------------
function $(selector) { return document.querySelector(selector); }

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child instanceof Node ? child : String(child));
  return node;
}

function appPath(id) { return id.split("/").filter(Boolean).map(encodeURIComponent).join("/"); }

class SignedOut extends Error {}

// X-Requested-With: the server then answers a 401 without a Basic challenge, so the browser shows no login
// dialog of its own (the page has its form). The session cookie goes along (same origin).
async function call(method, path, body) {
  const options = { method, credentials: "same-origin",
    headers: { Accept: "application/json", "X-Requested-With": "XMLHttpRequest" } };
  if (body !== undefined) {
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  const response = await fetch(API + path, options);
  const text = await response.text();
  let payload = null;
  try { payload = text ? JSON.parse(text) : null; } catch (e) { payload = text; }
  if (response.status === 401 && path !== "/v2/session") {
    showSignIn();
    throw new SignedOut(`${path}: ${message(payload)}`);
  }
  return { status: response.status, ok: response.ok, body: payload };
}

async function read(path) {
  const answer = await call("GET", path);
  if (!answer.ok) throw new Error(`${path}: ${answer.status} ${message(answer.body)}`);
  return answer.body;
}

function message(body) {
  if (body && typeof body === "object" && body.message) return body.message;
  return typeof body === "string" ? body : JSON.stringify(body);
}

function notify(text, kind, actions) {
  const box = $("#notice");
  box.replaceChildren(text, ...(actions || []));
  box.className = "notice" + (kind === "error" ? " error" : "");
  box.hidden = false;
}

function clearNotice() { $("#notice").hidden = true; }

async function act(what, method, path, body, onConflict) {
  const answer = await call(method, path, body);
  if (answer.ok) {
    notify(`${what}: done` + (answer.body && answer.body.deploymentId ? ` (deployment ${answer.body.deploymentId})` : ""));
    return answer;
  }
  if (answer.status === 409 && onConflict) {
    notify(`${what}: ${message(answer.body)} `, "error",
      [el("button", { onclick: () => { clearNotice(); onConflict(); } }, "Force it")]);
  } else {
    notify(`${what} failed: ${answer.status} ${message(answer.body)}`, "error");
  }
  return answer;
}

// -- fetching and refreshing ----------------------------------------------------------------------------------
const LOADERS = {
  info: loadInfo, apps: loadApps, deployments: loadDeployments, queue: loadQueue, jobs: loadJobs,
  cluster: loadCluster,
};

function markStale(parts) {
  for (const part of parts) stale.add(part);
  schedule();
}

// One re-fetch at a time: events arriving meanwhile mark parts stale, fetched once the current one is done,
// so a burst of events costs one fetch per part and never a backlog.
function schedule() {
  if (refreshTimer === null && !refreshing) refreshTimer = setTimeout(refresh, COALESCE_MS);
}

async function refresh() {
  refreshTimer = null;
  refreshing = true;
  const parts = [...stale];
  stale.clear();
  try {
    await Promise.all(parts.map(async (part) => {
      try { await LOADERS[part](); } catch (error) {
        if (!(error instanceof SignedOut)) notify(String(error.message || error), "error");
      }
    }));
  } finally {
    refreshing = false;
    if (stale.size > 0) schedule();
  }
}

async function loadInfo() {
  const info = await read("/v2/info");
  const leader = info.leader || "none";
  $("#leader").textContent = `leader: ${leader}` + (info.frameworkId ? ` · framework ${info.frameworkId}` : "");
}

// -- apps -----------------------------------------------------------------------------------------------------
async function loadApps() {
  const body = await read("/v2/apps?embed=apps.tasks&embed=apps.counts&embed=apps.deployments");
  renderApps(body.apps);
}

function renderApps(apps) {
  const table = $("table.apps");
  const seen = new Set();
  let previous = table.tHead;
  apps.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  for (const app of apps) {
    seen.add(app.id);
    let entry = state.apps.get(app.id);
    if (!entry) {
      entry = makeAppRows(app.id);
      state.apps.set(app.id, entry);
    }
    updateAppRows(entry, app);
    if (previous.nextSibling !== entry.body) previous.after(entry.body);
    previous = entry.body;
  }
  for (const [id, entry] of state.apps) {
    if (!seen.has(id)) { entry.body.remove(); state.apps.delete(id); }
  }
  $("#count-apps").textContent = apps.length;
  $("#apps-empty").hidden = apps.length > 0;
  applyFilter();
  state.rendered = { apps: apps.length, at: performance.now() };
  window.mesospaasRendered = state.rendered;
}

function makeAppRows(id) {
  const cells = {};
  const cell = (name, cls) => (cells[name] = el("td", { class: `${name} ${cls || ""}`.trim() }));
  const scale = el("input", { type: "number", min: "0", "aria-label": `instances of ${id}`,
    dataset: { scale: id } });
  scale.addEventListener("input", () => { scale.dataset.dirty = "1"; });
  scale.addEventListener("keydown", (event) => { if (event.key === "Enter") doScale(id, scale); });
  const versions = el("select", { "aria-label": `versions of ${id}`, dataset: { versions: id } },
    el("option", { value: "" }, "versions…"));
  versions.addEventListener("focus", () => loadVersions(id, versions));
  versions.addEventListener("pointerdown", () => loadVersions(id, versions));
  const main = el("tr", { class: "app" },
    el("td", {}, el("span", { class: "app-id", title: "show tasks", onclick: () => toggleTasks(id) }, id)),
    cell("instances", "num"), cell("running", "num"), cell("healthy", "num"), cell("unhealthy", "num"),
    cell("staged", "num"), cell("version", "mono"),
    el("td", {}, scale, " ", el("button", { dataset: { action: "scale", app: id },
      onclick: () => doScale(id, scale) }, "Scale")),
    el("td", {},
      el("button", { dataset: { action: "restart", app: id }, onclick: () => doRestart(id) }, "Restart"), " ",
      versions, " ",
      el("button", { dataset: { action: "rollback", app: id }, onclick: () => doRollback(id, versions) }, "Roll back")));
  const tasksCell = el("td", { colspan: "9" });
  const tasksRow = el("tr", { class: "tasks", hidden: "" }, tasksCell);
  const body = el("tbody", { dataset: { app: id } }, main, tasksRow);
  return { id, body, cells, scale, versions, tasksRow, tasksCell, open: false, app: null };
}

function updateAppRows(entry, app) {
  entry.app = app;
  const c = entry.cells;
  setText(c.instances, app.instances);
  setText(c.running, app.tasksRunning ?? 0);
  setText(c.healthy, app.tasksHealthy ?? 0);
  setText(c.unhealthy, app.tasksUnhealthy ?? 0);
  c.unhealthy.classList.toggle("unhealthy", (app.tasksUnhealthy ?? 0) > 0);
  c.healthy.classList.toggle("healthy", (app.tasksHealthy ?? 0) > 0);
  setText(c.staged, app.tasksStaged ?? 0);
  setText(c.version, app.version || "");
  if (document.activeElement !== entry.scale && !entry.scale.dataset.dirty) entry.scale.value = app.instances;
  if (entry.open) renderTasks(entry);
}

function setText(node, value) {
  const text = String(value);
  if (node.textContent !== text) node.textContent = text;
}

function toggleTasks(id) {
  const entry = state.apps.get(id);
  entry.open = !entry.open;
  entry.tasksRow.hidden = !entry.open;
  if (entry.open) renderTasks(entry);
}

function renderTasks(entry) {
  const tasks = (entry.app && entry.app.tasks) || [];
  const rows = tasks.map((task) => {
    const results = task.healthCheckResults || [];
    const health = results.length === 0 ? "—" : results.every((r) => r.alive) ? "healthy" : "unhealthy";
    return el("tr", { dataset: { task: task.id } },
      el("td", { class: "mono" }, task.id), el("td", {}, task.state || ""), el("td", {}, task.host || ""),
      el("td", { class: health }, health), el("td", { class: "mono" }, task.version || ""),
      el("td", {}, el("button", { class: "danger", dataset: { action: "kill", task: task.id },
        onclick: () => doKill(entry.id, task.id) }, "Kill")));
  });
  const table = el("table", {}, el("tr", {}, ...["Task", "State", "Host", "Health", "Version", ""].map(
    (h) => el("th", {}, h))), ...rows);
  entry.tasksCell.replaceChildren(tasks.length ? table : el("p", { class: "empty" }, "No tasks."));
}

function applyFilter() {
  const wanted = $("#filter").value.trim();
  for (const entry of state.apps.values()) entry.body.hidden = wanted !== "" && !entry.id.includes(wanted);
}

async function loadVersions(id, select) {
  if (select.dataset.loaded) return;
  select.dataset.loaded = "1";
  const body = await read(`/v2/apps/${appPath(id)}/versions`);
  const current = state.apps.get(id)?.app?.version;
  select.replaceChildren(el("option", { value: "" }, "versions…"),
    ...body.versions.map((v) => el("option", { value: v }, v === current ? `${v} (current)` : v)));
}

async function doScale(id, input, force) {
  const instances = Number.parseInt(input.value, 10);
  if (!Number.isInteger(instances) || instances < 0) { notify(`Scale ${id}: not a number of instances`, "error"); return; }
  const answer = await act(`Scale ${id} to ${instances}`, "PUT", `/v2/apps/${appPath(id)}${force ? "?force=true" : ""}`,
    { instances }, () => doScale(id, input, true));
  if (answer.ok) delete input.dataset.dirty;
  markStale(["apps", "deployments"]);
}

async function doRestart(id, force) {
  await act(`Restart ${id}`, "POST", `/v2/apps/${appPath(id)}/restart${force ? "?force=true" : ""}`, undefined,
    () => doRestart(id, true));
  markStale(["apps", "deployments"]);
}

async function doRollback(id, select, force) {
  if (!select.value) { notify(`Roll back ${id}: choose a version first`, "error"); return; }
  await act(`Roll back ${id} to ${select.value}`, "PUT", `/v2/apps/${appPath(id)}${force ? "?force=true" : ""}`,
    { version: select.value }, () => doRollback(id, select, true));
  delete select.dataset.loaded;
  markStale(["apps", "deployments"]);
}

async function doKill(id, taskId) {
  await act(`Kill ${taskId}`, "DELETE", `/v2/apps/${appPath(id)}/tasks/${encodeURIComponent(taskId)}`);
  markStale(["apps", "queue"]);
}

// -- deployments ----------------------------------------------------------------------------------------------
async function loadDeployments() {
  const list = await read("/v2/deployments");
  const details = await Promise.all(list.map(async (d) => {
    const answer = await call("GET", `/v2/deployments/${encodeURIComponent(d.id)}`);
    return answer.ok ? answer.body : d;
  }));
  const box = $("#deployment-list");
  box.replaceChildren(...details.map(renderDeployment));
  $("#count-deployments").textContent = details.length;
  $("#deployments-empty").hidden = details.length > 0;
}

function renderDeployment(d) {
  const current = d.currentStep || 0;
  const steps = (d.steps || []).map((step, index) => el("span", {
    class: "step" + (index + 1 < current ? " done" : index + 1 === current ? " current" : ""),
  }, `${index + 1}. ` + step.actions.map((a) => `${a.action} ${a.app}`).join(", ")));
  const facts = [`apps ${(d.affectedApps || []).join(", ")}`, `step ${current}/${d.totalSteps || 0}`];
  if (d.state) facts.push(`state ${d.state}`);
  if (d.reason) facts.push(`reason: ${d.reason}`);
  const canaries = (d.canaries || []).map((c) => el("div", { class: "mono" }, `canary ${JSON.stringify(c)}`));
  const buttons = [
    el("button", { dataset: { action: "continue", deployment: d.id }, onclick: () => doContinue(d.id) }, "Continue"),
    el("button", { class: "danger", dataset: { action: "cancel", deployment: d.id },
      onclick: () => doCancel(d.id) }, "Cancel and roll back"),
  ];
  return el("div", { class: "deployment", dataset: { deployment: d.id } },
    el("div", {}, el("strong", { class: "mono" }, d.id), " · ", facts.join(" · ")),
    el("div", {}, ...steps), ...canaries, el("div", {}, ...buttons));
}

async function doContinue(id) {
  await act(`Continue ${id}`, "POST", `/v2/deployments/${encodeURIComponent(id)}/continue`);
  markStale(["deployments", "apps"]);
}

async function doCancel(id) {
  await act(`Cancel ${id}`, "DELETE", `/v2/deployments/${encodeURIComponent(id)}`);
  markStale(["deployments", "apps"]);
}

// -- launch queue ---------------------------------------------------------------------------------------------
async function loadQueue() {
  const body = await read("/v2/queue");
  const rows = body.queue.map((item) => {
    const summary = item.processedOffersSummary || {};
    const reasons = (summary.rejectSummaryLastOffers || []).filter((line) => line.declined > 0)
      .map((line) => el("span", { class: "reason" }, `${line.reason}: ${line.declined}/${line.processed}`));
    const delay = item.delay && !item.delay.overdue ? `${item.delay.timeLeftSeconds} s (backoff)` : "none";
    return el("tr", { dataset: { queued: item.app.id } }, el("td", { class: "mono" }, item.app.id),
      el("td", { class: "num" }, item.count), el("td", {}, delay),
      el("td", { class: "num" }, summary.processedOffersCount ?? 0),
      el("td", {}, ...(reasons.length ? reasons : ["waiting for offers"])));
  });
  $("#queue-rows").replaceChildren(...rows);
  $("#count-queue").textContent = rows.length;
  $("#queue-empty").hidden = rows.length > 0;
}

// -- jobs -----------------------------------------------------------------------------------------------------
async function loadJobs() {
  if (!state.jobsAvailable) return;
  const answer = await call("GET", "/v1/jobs?embed=activeRuns&embed=historySummary");
  if (answer.status === 404) { state.jobsAvailable = false; $("#jobs").hidden = true; return; }
  if (!answer.ok) throw new Error(`/v1/jobs: ${answer.status} ${message(answer.body)}`);
  const rows = answer.body.map((job) => {
    const runs = (job.activeRuns || []).map((run) => el("div", { dataset: { run: run.id } },
      el("span", { class: "mono" }, run.id), ` ${run.status} `,
      el("button", { class: "danger", dataset: { action: "stop-run", job: job.id, run: run.id },
        onclick: () => doStopRun(job.id, run.id) }, "Stop")));
    const summary = job.historySummary || {};
    return el("tr", { dataset: { job: job.id } }, el("td", { class: "mono" }, job.id),
      el("td", {}, (job.schedules || []).map((s) => `${s.cron}${s.enabled ? "" : " (off)"}`).join(", ") || "—"),
      el("td", {}, ...(runs.length ? runs : ["—"])),
      el("td", { class: "num" }, `${summary.successCount ?? 0} / ${summary.failureCount ?? 0}`),
      el("td", {}, el("button", { dataset: { action: "run", job: job.id }, onclick: () => doRun(job.id) }, "Run now")));
  });
  $("#job-rows").replaceChildren(...rows);
  $("#count-jobs").textContent = rows.length;
  $("#jobs-empty").hidden = rows.length > 0;
}

async function doRun(jobId) {
  await act(`Run ${jobId}`, "POST", `/v1/jobs/${encodeURIComponent(jobId)}/runs`);
  markStale(["jobs"]);
}

async function doStopRun(jobId, runId) {
  await act(`Stop run ${runId}`, "POST",
    `/v1/jobs/${encodeURIComponent(jobId)}/runs/${encodeURIComponent(runId)}/actions/stop`);
  markStale(["jobs"]);
}

// -- cluster --------------------------------------------------------------------------------------------------
async function loadCluster() {
  const body = await read("/ui/api/cluster");
  $("#master").textContent = body.error ? body.error : `Mesos master ${body.master}`;
  const fmt = (n) => (Math.round(n * 100) / 100).toString();
  const rows = body.agents.map((a) => el("tr", { dataset: { agent: a.id } },
    el("td", { class: "mono" }, a.hostname), el("td", {}, a.active ? "yes" : "no"),
    el("td", { class: "num" }, `${fmt(a.free.cpus)} / ${fmt(a.resources.cpus)}`),
    el("td", { class: "num" }, `${fmt(a.free.mem)} / ${fmt(a.resources.mem)}`),
    el("td", { class: "num" }, `${fmt(a.free.disk)} / ${fmt(a.resources.disk)}`),
    el("td", { class: "mono" }, Object.entries(a.attributes).map(([k, v]) => `${k}:${v}`).join(" "))));
  $("#agent-rows").replaceChildren(...rows);
  $("#count-agents").textContent = rows.length;
}

// -- the event stream -----------------------------------------------------------------------------------------
// The browser reconnects a dropped stream by itself; a refused one (a 401: the session ended) it closes, and
// then the session probe decides: sign in again, or reconnect.
function connect() {
  const query = Object.keys(EVENT_TYPES).map((t) => `event_type=${t}`).join("&");
  const source = new EventSource(`${API}/v2/events?${query}`, { withCredentials: true });
  source.addEventListener("open", () => {
    $("#live").textContent = "live";
    $("#live").className = "live on";
  });
  source.addEventListener("error", () => {
    $("#live").textContent = "reconnecting…";
    $("#live").className = "live off";
    if (source.readyState === EventSource.CLOSED && window.mesospaasEvents === source) {
      window.mesospaasEvents = null;
      setTimeout(start, 1000);
    }
  });
  for (const [type, parts] of Object.entries(EVENT_TYPES)) {
    source.addEventListener(type, () => markStale(parts));
  }
  return source;
}

// -- signing in -----------------------------------------------------------------------------------------------
function showSignIn(schemes) {
  state.signedOut = true;
  if (window.mesospaasEvents) { window.mesospaasEvents.close(); window.mesospaasEvents = null; }
  $("#live").textContent = "signed out";
  $("#live").className = "live off";
  if (schemes) state.schemes = schemes;
  $("#sign-in-basic").hidden = !state.schemes.includes("basic");
  for (const part of ["main", "#nav", "#notice", "#who"]) $(part).hidden = true;
  $("#sign-in").hidden = false;
  $("#sign-in-token").focus();
}

function showSignedIn(principal) {
  state.signedOut = false;
  $("#sign-in").hidden = true;
  $("#sign-in-error").hidden = true;
  $("main").hidden = false;
  $("#nav").hidden = false;
  $("#who").hidden = !principal;
  $("#who-name").textContent = principal ? `signed in as ${principal}` : "";
  markStale(Object.keys(LOADERS));
  if (!window.mesospaasEvents) window.mesospaasEvents = connect();
}

async function start() {
  const answer = await call("GET", "/ui/api/session");
  const session = answer.body || {};
  if (session.schemes && session.schemes.length) state.schemes = session.schemes;
  if (session.auth && !session.principal) showSignIn(session.schemes || ["token"]);
  else showSignedIn(session.principal || null);
}

async function signIn(event) {
  event.preventDefault();
  const token = $("#sign-in-token").value.trim();
  const user = $("#sign-in-user").value;
  const credentials = token ? { token } : { username: user, password: $("#sign-in-password").value };
  const answer = await call("POST", "/v2/session", credentials);
  if (!answer.ok) {
    $("#sign-in-error").textContent = `Not signed in: ${message(answer.body)}`;
    $("#sign-in-error").hidden = false;
    return;
  }
  $("#sign-in-token").value = "";
  $("#sign-in-password").value = "";
  showSignedIn(answer.body.principal);
}

async function signOut() {
  await call("DELETE", "/v2/session");
  showSignIn();
}

$("#filter").addEventListener("input", applyFilter);
$("#sign-in-form").addEventListener("submit", signIn);
$("#sign-out").addEventListener("click", signOut);
start();

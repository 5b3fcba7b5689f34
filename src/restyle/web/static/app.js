// restyle web app: plain JavaScript over the JSON/SSE API (the same API documented at /docs).
"use strict";

const $ = (sel) => document.querySelector(sel);
const state = {
  schema: null,      // GET /api/config-schema
  baseline: {},      // the values the form shows before the user changes anything (defaults + preset)
  files: { content: null, style: null },
  job: null,         // the job shown in the run panel
  source: null,      // its EventSource
  token: null,       // share token when viewing a shared job
  compare: [],       // ids ticked for comparison
  jobs: [],          // this browser's jobs (gallery)
};

// ------------------------------------------------------------------ helpers
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (v !== null && v !== undefined && v !== false) node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children) node.append(c);
  return node;
}

function say(text, isError = false) {
  const m = $("#message");
  m.textContent = text;
  m.className = isError ? "error" : "";
}

function seconds(s) {
  if (s === null || s === undefined || !isFinite(s)) return "";
  s = Math.round(s);
  return s < 60 ? `${s} s` : `${Math.floor(s / 60)} min ${s % 60} s`;
}

async function api(url, options = {}) {
  const r = await fetch(url, { credentials: "same-origin", ...options });
  let body = null;
  const type = r.headers.get("content-type") || "";
  if (type.includes("json")) body = await r.json();
  if (!r.ok) {
    const detail = body && body.detail ? (typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail)) : r.statusText;
    const error = new Error(detail);
    error.status = r.status;
    throw error;
  }
  return body;
}

// ------------------------------------------------------------------ images
function setFile(kind, file) {
  state.files[kind] = file;
  const img = $(`#${kind}-preview`);
  img.src = URL.createObjectURL(file);
  img.hidden = false;
  img.title = file.name;
}

function setupPicker(kind) {
  const input = $(`#${kind}-input`);
  input.addEventListener("change", () => input.files[0] && setFile(kind, input.files[0]));
  const drop = $(`#${kind}-picker .drop`);
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    const f = e.dataTransfer.files[0];
    if (f) setFile(kind, f);
  });
}

async function fileFrom(url, name) {
  const r = await fetch(url, { credentials: "same-origin" });
  if (!r.ok) throw new Error(`could not load ${name}`);
  const blob = await r.blob();
  return new File([blob], name, { type: blob.type });
}

async function loadExamples() {
  const examples = await api("/api/examples");
  for (const box of document.querySelectorAll(".examples")) {
    const kind = box.dataset.kind;
    if (!examples.length) continue;
    box.append("Examples: ");
    for (const ex of examples) {
      box.append(el("button", {
        type: "button", class: "example", "data-name": ex.name,
        onclick: async () => setFile(kind, await fileFrom(ex.url, ex.name)),
      }, ex.name.replace(/\.[a-z]+$/i, "").replace(/_/g, " ")));
    }
  }
}

// ------------------------------------------------------------------ the settings form (from RunConfig)
function inputFor(f) {
  let input;
  if (f.choices) {
    input = el("select", { id: `f-${f.name}`, name: f.name });
    if (f.optional) input.append(el("option", { value: "" }, f.name === "preset" ? "(none)" : "(default)"));
    for (const c of f.choices) input.append(el("option", { value: String(c) }, String(c)));
  } else if (f.type === "integer" || f.type === "number") {
    const min = f.ge ?? f.gt, max = f.le ?? f.lt;
    input = el("input", {
      id: `f-${f.name}`, name: f.name, type: "number", step: f.type === "integer" ? "1" : "any",
      min: min ?? null, max: max ?? null, placeholder: f.optional ? "default" : null,
    });
  } else {
    input = el("input", { id: `f-${f.name}`, name: f.name, type: "text", placeholder: f.optional ? "default" : null });
  }
  input.dataset.type = f.type;
  return input;
}

function buildForm() {
  for (const f of state.schema.fields) {
    const input = inputFor(f);
    const label = el("label", { for: input.id, title: f.help }, f.label);
    if (f.unit) label.append(" ", el("span", { class: "unit" }, `(${f.unit})`));
    const wrap = el("div", { class: "field", "data-name": f.name }, label, input, el("span", { class: "help" }, f.help));
    input.addEventListener("input", () => wrap.classList.toggle("changed", valueOf(f.name) !== String(state.baseline[f.name] ?? "")));
    $(f.group === "basic" ? "#basic-fields" : "#advanced-fields").append(wrap);
  }
  $("#f-preset").addEventListener("change", () => applyPreset($("#f-preset").value));
  applyPreset("");
}

function valueOf(name) {
  return $(`#f-${name}`).value;
}

function applyPreset(name, keep = {}) {
  const preset = state.schema.presets.find((p) => p.name === name);
  state.baseline = {};
  for (const f of state.schema.fields) state.baseline[f.name] = f.default;
  if (preset) Object.assign(state.baseline, preset.values);
  state.baseline.preset = name;
  for (const f of state.schema.fields) {
    const value = f.name in keep ? keep[f.name] : state.baseline[f.name];
    $(`#f-${f.name}`).value = value === null || value === undefined ? "" : String(value);
    $(`.field[data-name="${f.name}"]`).classList.toggle("changed", f.name in keep && String(keep[f.name]) !== String(state.baseline[f.name] ?? ""));
  }
}

function overrides() {
  // Only what the user changed from the defaults-or-preset shown, so a preset's own rules still apply.
  const out = {};
  const preset = valueOf("preset");
  if (preset) out.preset = preset;
  for (const f of state.schema.fields) {
    if (f.name === "preset") continue;
    const v = valueOf(f.name);
    if (v === String(state.baseline[f.name] ?? "")) continue;
    if (v === "") out[f.name] = null;
    else if (f.type === "integer" || f.type === "number") out[f.name] = Number(v);
    else out[f.name] = v;
  }
  return out;
}

function fillForm(given) {
  const keep = {};
  for (const [k, v] of Object.entries(given || {})) if (k !== "preset") keep[k] = typeof v === "object" && v !== null ? layersText(v) : v;
  $("#f-preset").value = given && given.preset ? given.preset : "";
  applyPreset($("#f-preset").value, keep);
  const advanced = state.schema.fields.some((f) => f.group === "advanced" && f.name in keep);
  if (advanced) $("#advanced").open = true;
}

function layersText(layers) {
  return Object.entries(layers).map(([n, w]) => (w === 1 ? n : `${n}:${w}`)).join(",");
}

// ------------------------------------------------------------------ the sweep controls (sweepable fields from RunConfig)
function buildSweepControls() {
  const sweepable = state.schema.fields.filter((f) => f.sweepable);
  for (const i of [0, 1]) {
    const select = $(`#sweep-field-${i}`);
    select.append(el("option", { value: "" }, i === 0 ? "(choose a setting)" : "(none)"));
    for (const f of sweepable) select.append(el("option", { value: f.name }, f.label));
    select.addEventListener("change", () => sweepHint(i));
    $(`#sweep-values-${i}`).addEventListener("input", sweepCount);
  }
  $("#sweep-start").addEventListener("click", startSweep);
}

function sweepHint(i) {
  const name = $(`#sweep-field-${i}`).value;
  const f = state.schema.fields.find((x) => x.name === name);
  const values = $(`#sweep-values-${i}`);
  $(`#sweep-help-${i}`).textContent = f ? f.help : "";
  if (!f) values.placeholder = "values";
  else if (f.choices) values.placeholder = `e.g. ${f.choices.join(", ")}`;
  else if (f.type === "layers") values.placeholder = `e.g. ${valueOf(name) || "relu4_2"}; relu3_2`;
  else values.placeholder = `e.g. ${valueOf(name) || f.default || 1}, …`;
  sweepCount();
}

function splitValues(text) {
  const sep = text.includes(";") ? ";" : text.includes("|") ? "|" : ",";
  return text.split(sep).map((v) => v.trim()).filter((v) => v);
}

function sweepAxes() {
  const axes = [];
  for (const i of [0, 1]) {
    const field = $(`#sweep-field-${i}`).value, values = $(`#sweep-values-${i}`).value.trim();
    if (field) axes.push({ field, values });
  }
  return axes;
}

function sweepCount() {
  const counts = sweepAxes().map((a) => splitValues(a.values).length);
  const n = counts.reduce((a, b) => a * b, 1);
  const limit = state.schema.limits.max_sweep_cells;
  $("#sweep-count").textContent = counts.length ? `${n} cell${n === 1 ? "" : "s"} (this server runs at most ${limit})` : "";
}

function fillSweep(axes) {
  for (const i of [0, 1]) {
    const axis = (axes || [])[i];
    $(`#sweep-field-${i}`).value = axis ? axis.field : "";
    $(`#sweep-values-${i}`).value = axis ? axis.labels.join(axis.labels.some((l) => l.includes(",")) ? "; " : ", ") : "";
    sweepHint(i);
  }
  if (axes && axes.length) $("#sweep-box").open = true;
}

function startSweep() {
  const axes = sweepAxes();
  if (!axes.length) {
    say("Choose a setting to sweep (and type its values).", true);
    return;
  }
  submit(axes);
}

// ------------------------------------------------------------------ starting and watching a job
async function start(event) {
  event.preventDefault();
  submit(null);
}

async function submit(axes) {
  if (!state.files.content || !state.files.style) {
    say("Pick a photo and a painting first.", true);
    return;
  }
  const data = new FormData();
  data.append("content", state.files.content, state.files.content.name || "content");
  data.append("style", state.files.style, state.files.style.name || "style");
  data.append("config", JSON.stringify(overrides()));
  if (axes) data.append("sweep", JSON.stringify(axes));
  $("#start").disabled = $("#sweep-start").disabled = true;
  say("Uploading…");
  try {
    const { id, notes } = await api("/api/jobs", { method: "POST", body: data });
    say((notes || []).join(" "));
    state.token = null;
    history.replaceState(null, "", "/");
    watch(id);
    refreshGallery();
  } catch (e) {
    const prefix = { 413: "Too large: ", 415: "Not an image: ", 429: "Busy: ", 422: "Setting refused: " }[e.status] || "";
    say(prefix + e.message, true);
  } finally {
    $("#start").disabled = $("#sweep-start").disabled = false;
  }
}

function jobUrl(id, path = "") {
  const q = state.token ? `?token=${encodeURIComponent(state.token)}` : "";
  return `/api/jobs/${id}${path}${q}`;
}

async function watch(id) {
  if (state.source) state.source.close();
  $("#run").hidden = false;
  $("#preview").dataset.updates = "0";
  $("#preview").dataset.previews = "0";
  $("#preview").removeAttribute("src");
  $("#result").hidden = true;
  $("#sweep-view").hidden = true;
  $("#sweep-grid").replaceChildren();
  try {
    render(await api(jobUrl(id)));
  } catch (e) {
    say(`Job ${id}: ${e.message}`, true);
    return;
  }
  $("#run").scrollIntoView({ behavior: "smooth", block: "start" });
  const source = new EventSource(jobUrl(id, "/events"));
  state.source = source;
  source.addEventListener("progress", (e) => render(JSON.parse(e.data)));
  source.addEventListener("end", (e) => {
    source.close();
    if (e.data && e.data !== "{}") render(JSON.parse(e.data));
    refreshGallery();
  });
}

function render(job) {
  state.job = job;
  const p = job.progress;
  const badge = $("#state");
  badge.textContent = job.state;
  badge.className = `badge ${job.state}`;
  const sweep = job.sweep;
  let text = "";
  if (job.state === "queued") text = job.queue_position ? `${job.queue_position} job(s) ahead` : "next in line";
  else if (sweep && sweep.current === null) {
    text = `${sweep.cells_done}/${sweep.cells_total} cells done`;
    if (p.elapsed && job.state === "done") text += ` · ${seconds(p.elapsed)} in all`;
  } else if (p.total_steps) {
    text = `step ${p.step}/${p.total_steps} · scale ${p.scale + 1}/${p.scales} (${p.size[0]}×${p.size[1]})`;
    if (sweep) text = `cell ${sweep.current + 1}/${sweep.cells_total} (${sweep.cells_done} done) · ${text}`;
    if (p.eta !== null && job.state === "running") text += ` · about ${seconds(p.eta)} left`;
    else if (p.elapsed) text += ` · ${seconds(p.elapsed)}`;
  }
  if (p.resumed_from) text += ` · resumed from step ${p.resumed_from}`;
  $("#status-text").textContent = text;
  const within = p.total_steps ? p.step / p.total_steps : 0;
  // a sweep's bar counts its cells (and the running cell's share); its losses table is the running cell's
  $("#progress").value = sweep ? (job.state === "done" ? 1 : (sweep.cells_done + (sweep.current !== null ? within : 0)) / sweep.cells_total) : within;
  const body = $("#losses tbody");
  const losses = sweep && sweep.current === null ? {} : job.losses || {};
  body.replaceChildren(...Object.entries(losses).map(([k, v]) => el("tr", {}, el("td", {}, k), el("td", {}, v.toPrecision(4)))));
  const err = $("#job-error");
  err.hidden = !(job.state === "failed" || job.state === "interrupted") || !job.error;
  err.textContent = job.error;
  const active = job.state === "queued" || job.state === "running";
  $("#cancel").hidden = !active || !job.owner;
  $("#resume").hidden = !job.resumable || !job.owner;
  const img = $("#preview");
  const final = sweep ? job.urls.sheet : job.urls.result;
  const src = final || job.urls.preview;
  if (src && img.getAttribute("src") !== src) {
    img.src = src;
    img.dataset.updates = String(Number(img.dataset.updates) + 1);
    if (!final) img.dataset.previews = String(Number(img.dataset.previews || 0) + 1);  // live frames
  }
  let caption = final ? "result" : job.urls.preview ? "live preview" : "waiting for the first step…";
  if (sweep && final) caption = "contact sheet";
  else if (sweep && sweep.current !== null && job.urls.preview) caption = `live preview of cell ${sweep.current + 1}: ${cellLabel(sweep.cells[sweep.current])}`;
  $("#preview-caption").textContent = caption;
  $("#sweep-view").hidden = !sweep;
  if (sweep) renderSweep(job);
  if (job.state === "done") {
    $("#result").hidden = false;
    $("#download").href = final;
    $("#download").textContent = sweep ? "Download contact sheet (PNG)" : "Download PNG";
    $("#download").setAttribute("download", sweep ? `restyle-${job.id}-sheet.png` : `restyle-${job.id}.png`);
    $("#download-settings").href = job.urls.settings;
    $("#sweep-downloads").hidden = !sweep;
    if (sweep) {
      $("#sweep-json").href = job.urls.results_json;
      $("#sweep-csv").href = job.urls.results_csv;
    }
    $("#share-link").value = job.urls.share ? location.origin + job.urls.share : location.href;
  }
}

// ------------------------------------------------------------------ a sweep's grid of cells
function cellLabel(cell) {
  return Object.entries(cell.labels).map(([k, v]) => `${k} = ${v}`).join(", ");
}

function lossText(cell) {
  const parts = ["content", "style", "tv"].filter((k) => k in cell.losses).map((k) => `${k} ${cell.losses[k].toPrecision(3)}`);
  return [...parts, seconds(cell.time_s)].join(" · ");
}

function renderSweep(job) {
  const sweep = job.sweep, p = job.progress;
  let status = `${sweep.cells_done}/${sweep.cells_total} done`;
  if (sweep.current !== null) status += ` · cell ${sweep.current + 1} at step ${p.step}/${p.total_steps || "?"}`;
  if (p.eta !== null && job.state === "running") status += ` · about ${seconds(p.eta)} left`;
  $("#sweep-status").textContent = `(${status})`;
  const [cols, rows] = sweep.axes;
  const grid = $("#sweep-grid");
  grid.style.gridTemplateColumns = `${rows ? "minmax(5rem, max-content) " : ""}repeat(${sweep.cols}, minmax(0, 240px))`;
  const nodes = [];
  if (rows) nodes.push(el("div", { class: "corner" }));
  for (const label of cols.labels) nodes.push(el("div", { class: "head" }, `${cols.field} = ${label}`));
  for (let r = 0; r < sweep.rows; r++) {
    if (rows) nodes.push(el("div", { class: "rowhead" }, `${rows.field} = ${rows.labels[r]}`));
    for (const cell of sweep.cells.filter((c) => c.row === r)) {
      let inner = cell.state === "pending" ? "waiting" : "starting…";
      let caption = cell.state === "pending" ? "waiting" : `running: step ${p.step}/${p.total_steps || "?"}`;
      if (cell.state === "done") {
        inner = el("img", { src: cell.image, alt: cellLabel(cell), loading: "lazy" });
        caption = lossText(cell);
      } else if (cell.state === "running" && job.urls.preview) {
        inner = el("img", { src: job.urls.preview, alt: `live preview of ${cellLabel(cell)}` });
      }
      const attrs = { class: `cell ${cell.state}`, "data-index": cell.index, "data-state": cell.state, title: cellLabel(cell) };
      if (cell.state === "done") attrs.onclick = () => openCell(cell);
      nodes.push(el("figure", attrs, el("div", { class: "frame" }, inner), el("figcaption", {}, caption)));
    }
  }
  grid.replaceChildren(...nodes);
}

function openCell(cell) {
  $("#cell-large").src = cell.image;
  $("#cell-caption").textContent = `${cellLabel(cell)} · ${lossText(cell)}${cell.size ? ` · ${cell.size[0]}×${cell.size[1]}` : ""}`;
  $("#cell-download").href = cell.image;
  $("#cell-download").setAttribute("download", `restyle-${cell.name}.png`);
  $("#cell-dialog").showModal();
}

async function cancel() {
  if (!state.job) return;
  try {
    await api(`/api/jobs/${state.job.id}`, { method: "DELETE" });
  } catch (e) {
    say(e.message, true);
  }
}

async function resume() {
  if (!state.job) return;
  try {
    await api(`/api/jobs/${state.job.id}/resume`, { method: "POST" });
    watch(state.job.id);
  } catch (e) {
    say(e.message, true);
  }
}

// ------------------------------------------------------------------ gallery and comparison
async function refreshGallery() {
  state.jobs = await api("/api/jobs");
  const box = $("#gallery");
  if (!state.jobs.length) {
    box.replaceChildren(el("p", { class: "small" }, "Nothing yet."));
    return;
  }
  box.replaceChildren(...state.jobs.map((job) => {
    const thumb = job.urls.result || job.urls.sheet || job.urls.preview || job.urls.content;
    const tick = el("input", { type: "checkbox", class: "compare-tick", disabled: !job.urls.result, checked: state.compare.includes(job.id) });
    tick.addEventListener("change", () => toggleCompare(job.id, tick.checked));
    return el("div", { class: "item", "data-id": job.id },
      el("img", { src: thumb, alt: "", loading: "lazy", onclick: () => { state.token = null; watch(job.id); } }),
      el("div", { class: "names", title: `${job.content_name} × ${job.style_name}` }, `${job.content_name} × ${job.style_name}`),
      el("div", { class: "row" }, el("span", { class: `badge ${job.state}` }, job.state),
        el("span", { class: "small" }, job.sweep ? `sweep ${job.sweep.axes.map((a) => a.field).join(" × ")} · ${summary(job.overrides)}` : summary(job.overrides))),
      el("div", { class: "row" },
        el("button", { type: "button", onclick: () => { state.token = null; watch(job.id); } }, "Open"),
        el("button", { type: "button", class: "again", onclick: () => runAgain(job) }, "Run again with these settings"),
        el("label", {}, tick, " compare")));
  }));
}

function summary(given) {
  const entries = Object.entries(given || {});
  return entries.length ? entries.slice(0, 4).map(([k, v]) => `${k}=${typeof v === "object" && v ? layersText(v) : v}`).join(", ") : "defaults";
}

async function runAgain(job) {
  fillForm(job.overrides);
  fillSweep(job.sweep ? job.sweep.axes : null);
  try {
    setFile("content", await fileFrom(job.urls.content, job.content_name));
    setFile("style", await fileFrom(job.urls.style, job.style_name));
    say(`Settings and images of ${job.content_name} × ${job.style_name} loaded: change what you like, then Start.`);
  } catch (e) {
    say(e.message, true);
  }
  $("#inputs").scrollIntoView({ behavior: "smooth" });
}

function toggleCompare(id, on) {
  state.compare = state.compare.filter((x) => x !== id);
  if (on) state.compare.push(id);
  while (state.compare.length > 2) state.compare.shift();
  for (const t of document.querySelectorAll(".item")) t.querySelector(".compare-tick").checked = state.compare.includes(t.dataset.id);
  showCompare();
}

function showCompare() {
  const [a, b] = state.compare.map((id) => state.jobs.find((j) => j.id === id));
  $("#compare").hidden = !(a && b);
  if (!(a && b)) return;
  $("#compare-a").src = a.urls.result;
  $("#compare-b").src = b.urls.result;
  $("#compare-caption").textContent = `left: ${summary(a.overrides)} · right: ${summary(b.overrides)}`;
  slide();
}

function slide() {
  const v = Number($("#compare-slider").value);
  $("#compare-a").style.clipPath = `inset(0 ${100 - v}% 0 0)`;
  $("#compare-line").style.left = `${v}%`;
}

// ------------------------------------------------------------------ start-up
async function init() {
  setupPicker("content");
  setupPicker("style");
  $("#config-form").addEventListener("submit", start);
  $("#reset").addEventListener("click", () => { $("#f-preset").value = ""; applyPreset(""); });
  $("#cancel").addEventListener("click", cancel);
  $("#resume").addEventListener("click", resume);
  $("#compare-slider").addEventListener("input", slide);
  state.schema = await api("/api/config-schema");
  buildForm();
  buildSweepControls();
  $("#cell-close").addEventListener("click", () => $("#cell-dialog").close());
  await Promise.all([loadExamples(), refreshGallery()]);
  const params = new URLSearchParams(location.search);
  if (params.get("job")) {
    state.token = params.get("token");
    watch(params.get("job"));
  }
  document.body.dataset.ready = "1";
}

init().catch((e) => say(`The page could not start: ${e.message}`, true));

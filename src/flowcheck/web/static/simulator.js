// The flowcheck simulator page: one module, no framework, no build step.
// The server owns the simulation (one Session per tab); this file only renders
// the session's view and sends what the designer clicks.

const STORE = "flowcheck.session";

const state = {
  machines: new Map(),   // name -> machine description from /api/machines
  view: null,            // the session view returned by every session call
  replay: null,          // {entry, index} while a counterexample is being replayed
};

const $ = (id) => document.getElementById(id);

function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else el.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

async function api(method, path, body) {
  const init = { method, headers: {} };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  const data = await response.json().catch(() => ({ error: `${response.status} ${response.statusText}` }));
  if (!response.ok) throw new Error(data.error || `${response.status} ${response.statusText}`);
  return data;
}

// Top-level fields as k=v (strings bare), anything nested as JSON.
function compact(value) {
  if (value && typeof value === "object" && !Array.isArray(value)) {
    return Object.entries(value)
      .map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`).join(", ");
  }
  return typeof value === "string" ? value : JSON.stringify(value);
}

function showNotice(text, kind = "info") {
  const el = $("notice");
  el.hidden = !text;
  el.textContent = text || "";
  el.className = `notice ${kind}`;
}

function fatal(error) {
  const el = $("fatal");
  el.hidden = false;
  el.textContent = String(error.message || error);
}

// -- sessions ----------------------------------------------------------------------------------

async function openMachine(name) {
  const view = await api("POST", "/api/session", { machine: name });
  sessionStorage.setItem(STORE, JSON.stringify({ id: view.session, machine: name }));
  $("machine").value = name;
  const info = state.machines.get(name);
  $("description").textContent = info ? firstLine(info.description) : "";
  await loadDiagram(name);
  render(view);
}

async function restore() {
  const saved = JSON.parse(sessionStorage.getItem(STORE) || "null");
  if (saved && state.machines.has(saved.machine)) {
    try {
      const view = await api("GET", `/api/session/${encodeURIComponent(saved.id)}`);
      $("machine").value = view.machine;
      $("description").textContent = firstLine(state.machines.get(view.machine).description);
      await loadDiagram(view.machine);
      render(view);
      return;
    } catch {
      // the server restarted: start over on the same machine
    }
    await openMachine(saved.machine);
    return;
  }
  await openMachine([...state.machines.keys()][0]);
}

function firstLine(text) {
  return (text || "").split("\n\n")[0].replace(/\s+/g, " ").trim();
}

let queue = Promise.resolve();

// Session calls run one after another, in click order, so none is lost or reordered.
function act(method, suffix, body) {
  const run = queue.then(async () => {
    if (!state.view) return null;
    const sid = encodeURIComponent(state.view.session);
    const view = await api(method, `/api/session/${sid}/${suffix}`, body);
    render(view);
    return view;
  });
  queue = run.catch(() => {});
  return run;
}

async function send(event, payload) {
  return act("POST", "send", { event, payload });
}

// -- diagram -----------------------------------------------------------------------------------

async function loadDiagram(name) {
  const box = $("diagram");
  box.replaceChildren(h("p", { class: "hint" }, "drawing…"));
  const response = await fetch(`/api/machines/${encodeURIComponent(name)}/diagram.svg`);
  if (!response.ok) {
    const data = await response.json().catch(() => ({}));
    box.replaceChildren(h("p", { class: "error" }, data.error || "the diagram is unavailable"));
    return;
  }
  const text = await response.text();
  // The SVG is inlined (not an <img>) so that CSS can highlight its states.
  box.innerHTML = text.slice(text.indexOf("<svg"));
  const svg = box.querySelector("svg");
  if (svg) {
    svg.dataset.width = svg.getAttribute("width") || "";
    svg.removeAttribute("width");
    svg.removeAttribute("height");
    svg.setAttribute("role", "img");
    svg.setAttribute("aria-label", `diagram of ${name}`);
    if (box.classList.contains("actual")) svg.style.width = svg.dataset.width;
  }
  highlight();
}

function highlight() {
  const active = new Set(state.view ? state.view.step.configuration : []);
  for (const el of $("diagram").querySelectorAll("[data-state]")) {
    el.classList.toggle("active", active.has(el.dataset.state));
  }
}

// -- rendering ---------------------------------------------------------------------------------

function render(view) {
  state.view = view;
  const info = state.machines.get(view.machine);
  const tags = new Map(info.states.map((s) => [s.id, s.tags]));
  const step = view.step;

  highlight();
  $("configuration").replaceChildren(...step.configuration.map((id) => {
    const t = tags.get(id) || [];
    const cls = t.includes("failure") ? "chip failure" : t.includes("success") ? "chip success" : "chip";
    return h("li", { class: cls, dataset: { state: id } }, id);
  }));
  $("done").hidden = !step.done;
  showNotice(view.notice);
  $("undo").disabled = !view.can_undo;

  renderEvents(view);
  $("context").replaceChildren(...Object.entries(step.context).map(([key, value]) =>
    h("tr", {}, h("th", {}, key), h("td", {}, h("code", {}, JSON.stringify(value))))));

  const log = $("telemetry");
  log.replaceChildren(...view.telemetry.map((t) =>
    h("li", { class: t.step === view.history.length ? "new" : "" },
      h("span", { class: "step-no" }, `#${t.step}`), " ",
      h("strong", {}, t.event), " ",
      h("span", { class: "props" }, compact(t.properties)))));
  log.scrollTop = log.scrollHeight;

  $("history").replaceChildren(
    h("li", { class: "muted" }, "initial"),
    ...view.history.map((s) => h("li", {}, h("strong", {}, shortEvent(s.event)), " ",
      h("span", { class: "props" }, compact(s.payload)))));
  renderReplay();
}

function shortEvent(name) {
  for (const [prefix, word] of [["xstate.done.actor.", "done"], ["xstate.error.actor.", "error"]]) {
    if (name.startsWith(prefix)) return `${name.slice(prefix.length)} ${word}`;
  }
  return name;
}

function renderEvents(view) {
  const box = $("events");
  if (view.step.done) {
    box.replaceChildren(h("p", { class: "hint" }, "The flow reached a final state. Undo or reset to go on."));
    return;
  }
  const user = view.actions.filter((a) => a.kind === "user" || a.kind === "event");
  const outcomes = view.actions.filter((a) => a.kind === "done" || a.kind === "error");
  const delays = view.actions.filter((a) => a.kind === "delay");
  const parts = [];
  for (const action of user) {
    parts.push(action.fields && action.fields.length ? payloadForm(action) : eventButton(action));
  }
  const invokes = [...new Set(outcomes.map((a) => a.invoke))];
  for (const invoke of invokes) {
    const src = (state.machines.get(view.machine).invokes.find((i) => i.id === invoke) || {}).src;
    parts.push(h("div", { class: "outcomes" },
      h("h3", {}, `${invoke} `, src ? h("code", {}, src) : null),
      ...outcomes.filter((a) => a.invoke === invoke).map(outcomeButton)));
  }
  if (delays.length) parts.push(h("div", { class: "outcomes" }, h("h3", {}, "timers"), ...delays.map(outcomeButton)));
  if (!parts.length) parts.push(h("p", { class: "hint" }, "No event is enabled here."));
  box.replaceChildren(...parts);
}

function eventButton(action) {
  return h("button", {
    type: "button", class: "event", title: action.description || undefined,
    dataset: { event: action.event },
    onclick: () => send(action.event, {}).catch(fatal),
  }, action.label);
}

function outcomeButton(action) {
  const detail = action.kind === "done" ? compact(action.payload.output)
    : action.kind === "error" ? action.payload.error.code : "";
  return h("button", {
    type: "button", class: `outcome ${action.kind}`,
    dataset: { event: action.event, outcome: detail },
    onclick: () => send(action.event, action.payload).catch(fatal),
  }, h("span", { class: "kind" }, action.kind === "delay" ? action.label : action.kind),
  detail ? h("span", { class: "detail" }, detail) : null);
}

function payloadForm(action) {
  const error = h("p", { class: "error", role: "alert", hidden: true });
  const inputs = action.fields.map(fieldInput);
  const form = h("form", { class: "payload", dataset: { event: action.event } },
    h("div", { class: "fields" }, ...inputs.map((f) => f.row)),
    h("button", { type: "submit", class: "event", title: action.description || undefined }, action.label),
    error);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    error.hidden = true;
    const payload = {};
    try {
      for (const f of inputs) {
        const value = f.read();
        if (value !== undefined) payload[f.name] = value;
      }
      await send(action.event, payload);
    } catch (err) {
      error.textContent = err.message;
      error.hidden = false;
    }
  });
  return form;
}

let uid = 0;

function fieldInput(field) {
  const id = `f${++uid}`;
  const label = h("label", { for: id }, field.name, " ", h("small", {}, field.type + (field.nullable ? " | null" : "")));
  let input;
  let read;
  const initial = field.examples.find((v) => v !== "" && v !== null) ?? field.default ?? field.examples[0];
  if (field.enum.length) {
    input = h("select", { id, name: field.name },
      ...field.enum.map((v, i) => h("option", { value: String(i) }, JSON.stringify(v))));
    if (initial !== undefined && field.enum.includes(initial)) input.value = String(field.enum.indexOf(initial));
    read = () => field.enum[Number(input.value)];
  } else if (field.type === "boolean") {
    input = h("input", { id, name: field.name, type: "checkbox" });
    input.checked = Boolean(initial);
    read = () => input.checked;
  } else if (field.type === "integer") {
    input = h("input", { id, name: field.name, type: "number", step: "1", value: initial ?? "" });
    read = () => {
      if (input.value.trim() === "") throw new Error(`${field.name}: enter a whole number`);
      return Number(input.value);
    };
  } else if (field.type === "object") {
    input = h("textarea", { id, name: field.name, rows: "2", spellcheck: "false" });
    input.value = JSON.stringify(initial ?? {});
    read = () => {
      try { return JSON.parse(input.value); } catch { throw new Error(`${field.name}: not valid JSON`); }
    };
  } else {
    const list = `${id}-examples`;
    const examples = field.examples.map((v) => (Array.isArray(v) ? v.join(", ") : v));
    input = h("input", { id, name: field.name, type: "text", list, autocomplete: "off",
      placeholder: examples.filter(Boolean).join(" | ") });
    input.value = Array.isArray(initial) ? initial.join(", ") : (initial ?? "");
    label.append(h("datalist", { id: list }, ...examples.map((v) => h("option", { value: v }))));
    read = field.type === "string[]"
      ? () => input.value.split(",").map((v) => v.trim()).filter(Boolean)
      : () => input.value;
  }
  let nullBox = null;
  if (field.nullable) {
    nullBox = h("input", { type: "checkbox", "aria-label": `${field.name} is null` });
    nullBox.addEventListener("change", () => { input.disabled = nullBox.checked; });
  }
  const row = h("div", { class: "field" }, label, input,
    nullBox ? h("label", { class: "null" }, nullBox, "null") : null);
  return { name: field.name, row, read: () => (nullBox && nullBox.checked ? null : read()) };
}

// -- counterexample replay ---------------------------------------------------------------------

async function loadReport() {
  const err = $("report-error");
  err.hidden = true;
  const list = $("counterexamples");
  list.replaceChildren();
  try {
    const text = $("report").value.trim();
    if (!text) throw new Error("paste a report or pick a file first");
    const { counterexamples } = await api("POST", "/api/counterexamples", { report: text });
    if (!counterexamples.length) {
      list.append(h("li", { class: "hint" }, "No counterexample in this report: every property held."));
      return;
    }
    for (const entry of counterexamples) {
      list.append(h("li", {},
        h("button", {
          type: "button", class: "cx", disabled: Boolean(entry.error),
          dataset: { machine: entry.machine, property: entry.property },
          onclick: () => startReplay(entry).catch(fatal),
        }, h("strong", {}, `${entry.machine} · ${entry.property}`), h("span", {}, entry.message)),
        entry.error ? h("p", { class: "error" }, entry.error) : null));
    }
  } catch (e) {
    err.textContent = e.message;
    err.hidden = false;
  }
}

async function startReplay(entry) {
  if (!state.view || state.view.machine !== entry.machine) await openMachine(entry.machine);
  else await act("POST", "reset");
  state.replay = { entry, index: 0, pending: false };
  renderReplay();
}

async function replayNext() {
  const r = state.replay;
  if (!r || r.pending || r.index >= r.entry.steps.length) return;
  const step = r.entry.steps[r.index];
  r.pending = true;
  try {
    await send(step.event, step.payload);
    r.index += 1;
  } finally {
    r.pending = false;
    renderReplay();
  }
}

async function replayAll() {
  while (state.replay && state.replay.index < state.replay.entry.steps.length) {
    await replayNext();
    await new Promise((resolve) => setTimeout(resolve, 300));
  }
}

function renderReplay() {
  const box = $("replay");
  const r = state.replay;
  box.hidden = !r;
  if (!r) return;
  const total = r.entry.steps.length;
  $("replay-status").textContent = r.index >= total
    ? `${r.entry.property}: replayed all ${total} steps. ${r.entry.message}`
    : `${r.entry.property}: step ${r.index} of ${total}`;
  $("replay-steps").replaceChildren(...r.entry.steps.map((s, i) => h("li", {
    class: i < r.index ? "done" : i === r.index ? "next" : "",
  }, h("strong", {}, shortEvent(s.event)), " ", h("span", { class: "props" }, compact(s.payload)))));
  $("replay-next").disabled = r.index >= total;
  $("replay-all").disabled = r.index >= total;
}

// -- wiring ------------------------------------------------------------------------------------

async function main() {
  const { machines } = await api("GET", "/api/machines");
  for (const m of machines) state.machines.set(m.name, m);
  $("machine").replaceChildren(...machines.map((m) => h("option", { value: m.name }, m.name)));
  $("machine").addEventListener("change", (e) => {
    state.replay = null;
    openMachine(e.target.value).catch(fatal);
  });
  $("undo").addEventListener("click", () => act("POST", "undo").catch(fatal));
  $("reset").addEventListener("click", () => act("POST", "reset").catch(fatal));
  $("load-report").addEventListener("click", () => loadReport());
  $("report-file").addEventListener("change", async (e) => {
    const file = e.target.files[0];
    if (!file) return;
    $("report").value = await file.text();
    await loadReport();
  });
  $("replay-next").addEventListener("click", () => replayNext().catch(fatal));
  $("replay-all").addEventListener("click", () => replayAll().catch(fatal));
  $("zoom").addEventListener("click", (e) => {
    const actual = $("diagram").classList.toggle("actual");
    const svg = $("diagram").querySelector("svg");
    if (svg) svg.style.width = actual ? svg.dataset.width : "";
    e.target.setAttribute("aria-pressed", String(actual));
    e.target.textContent = actual ? "Fit width" : "Actual size";
  });
  $("replay-stop").addEventListener("click", () => { state.replay = null; renderReplay(); });
  await restore();
  document.body.dataset.ready = "true";
}

main().catch(fatal);

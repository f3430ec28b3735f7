// The flowcheck simulator page: one module, no framework, no build step.
// The server owns the simulation (one Session per tab, child flows included); this file
// renders the session's view, draws the diagrams with pan and zoom, and sends what the
// designer clicks. Text from machines is always set with textContent, never as HTML.

const STORE = "flowcheck.session";
const READABLE = 1.0;   // px per diagram unit at which 12-unit state names are ~14 px high
const MAX_FOLLOW = 1.2; // never zoom in further than this when following

const state = {
  machines: new Map(),   // name -> machine description from /api/machines
  view: null,            // the session view returned by every session call
  replay: null,          // {kind, title, steps, index, results} while steps are played
  pinned: null,          // the state or transition shown in the details panel
  svgs: new Map(),       // machine name -> diagram SVG text (or {error})
  children: new Map(),   // actor path -> {card, viewer}
  revived: null,         // {session, step, text} after a closed session was reopened
  traces: null,          // /api/traces when the server was given a trace file
};

const $ = (id) => document.getElementById(id);

function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "dataset") {
      for (const [k, v] of Object.entries(value)) if (v !== undefined && v !== null) el.dataset[k] = v;
    }
    else if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else el.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

// Every POST carries a JSON body: the server refuses any other (another site's page could
// send a form or plain text, never JSON without the server's consent).
async function api(method, path, body) {
  const init = { method, headers: {} };
  if (method === "POST") {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body === undefined ? {} : body);
  }
  const response = await fetch(path, init);
  const data = await response.json().catch(() => ({ error: `${response.status} ${response.statusText}` }));
  if (!response.ok) {
    const error = new Error(data.error || `${response.status} ${response.statusText}`);
    error.status = response.status;
    error.data = data;
    throw error;
  }
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

function shortEvent(name) {
  for (const [prefix, word] of [["xstate.done.actor.", "done"], ["xstate.error.actor.", "error"]]) {
    if (name.startsWith(prefix)) return `${name.slice(prefix.length)} ${word}`;
  }
  if (name.startsWith("xstate.after.")) return `after ${name.slice(13).replace(/\.[^.]*$/, "")}`;
  return name;
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

// Docstrings quote names ``like this``: shown plain.
function plain(text) {
  return (text || "").replace(/``/g, "");
}

function firstParagraph(text) {
  return plain(text).split("\n\n")[0].replace(/\s+/g, " ").trim();
}

// -- the diagram viewer: pan, zoom, fit, focus, follow -----------------------------------------

const reducedMotion = window.matchMedia("(prefers-reduced-motion: reduce)");

// Graphviz SVG is parsed, never inserted as HTML; anything that could run is dropped.
function parseSvg(text) {
  const doc = new DOMParser().parseFromString(text, "image/svg+xml");
  const svg = doc.documentElement;
  if (!svg || svg.nodeName !== "svg") throw new Error("the diagram is not an SVG");
  for (const bad of svg.querySelectorAll("script, foreignObject")) bad.remove();
  for (const el of [svg, ...svg.querySelectorAll("*")]) {
    for (const attr of [...el.attributes]) {
      const value = attr.value.trim().toLowerCase();
      if (attr.name.startsWith("on") || value.startsWith("javascript:")) el.removeAttribute(attr.name);
    }
  }
  return document.importNode(svg, true);
}

class Viewer {
  constructor(box, machine) {
    this.box = box;
    this.machine = machine;
    this.svg = null;
    this.base = null;      // the whole drawing, in diagram units
    this.view = null;      // {x, y, w, h}: what the box shows now
    this.boxes = new Map(); // element -> its box in diagram units
    this.follow = true;
    this.frame = 0;
    box.classList.add("viewer");
    this.wire();
  }

  show(svgText) {
    const svg = parseSvg(svgText);
    svg.removeAttribute("width");
    svg.removeAttribute("height");
    svg.setAttribute("role", "img");
    svg.setAttribute("aria-label", `diagram of ${this.machine}`);
    svg.setAttribute("preserveAspectRatio", "xMidYMid meet");
    this.box.replaceChildren(svg);
    this.svg = svg;
    const [x, y, w, h] = (svg.getAttribute("viewBox") || "0 0 100 100").split(/[ ,]+/).map(Number);
    this.base = { x, y, w, h };
    this.boxes = new Map();
    this.view = null;
    this.fit(false);
  }

  size() {
    const r = this.box.getBoundingClientRect();
    return { w: Math.max(r.width, 50), h: Math.max(r.height, 50) };
  }

  // Pixels per diagram unit.
  scale() {
    return this.view ? this.size().w / this.view.w : 1;
  }

  apply() {
    const v = this.view;
    this.svg.setAttribute("viewBox", `${v.x} ${v.y} ${v.w} ${v.h}`);
    this.box.dataset.scale = this.scale().toFixed(3);
  }

  // Show the diagram box `b` (diagram units) centred at `scale` px per unit.
  moveTo(cx, cy, scale, animate = true) {
    const { w, h } = this.size();
    const target = { x: cx - w / scale / 2, y: cy - h / scale / 2, w: w / scale, h: h / scale };
    // Where the drawing is larger than the view, show no empty space beyond its edges.
    const b = this.base;
    if (b && target.w < b.w) target.x = Math.min(Math.max(target.x, b.x), b.x + b.w - target.w);
    if (b && target.h < b.h) target.y = Math.min(Math.max(target.y, b.y), b.y + b.h - target.h);
    cancelAnimationFrame(this.frame);
    if (!animate || !this.view || reducedMotion.matches) {
      this.view = target;
      this.apply();
      this.box.dataset.moving = "false";
      return;
    }
    const from = { ...this.view };
    const start = performance.now();
    this.box.dataset.moving = "true";
    const step = (now) => {
      const t = Math.min(1, (now - start) / 250);
      const e = t < 0.5 ? 2 * t * t : 1 - (-2 * t + 2) ** 2 / 2;
      this.view = Object.fromEntries(Object.keys(target).map((k) => [k, from[k] + (target[k] - from[k]) * e]));
      this.apply();
      if (t < 1) this.frame = requestAnimationFrame(step);
      else this.box.dataset.moving = "false";
    };
    this.frame = requestAnimationFrame(step);
  }

  fitBox(b, maxScale = Infinity, animate = true, pad = 24) {
    const { w, h } = this.size();
    const scale = Math.min((w - 2 * pad) / b.w, (h - 2 * pad) / b.h, maxScale);
    this.moveTo(b.x + b.w / 2, b.y + b.h / 2, scale, animate);
    return scale;
  }

  fit(animate = true) {
    if (this.base) this.fitBox(this.base, Infinity, animate, 8);
  }

  zoomBy(factor, px, py) {
    if (!this.view) return;
    const { w, h } = this.size();
    const fx = px === undefined ? 0.5 : px / w;
    const fy = py === undefined ? 0.5 : py / h;
    const ux = this.view.x + fx * this.view.w;
    const uy = this.view.y + fy * this.view.h;
    const nw = this.view.w / factor;
    const nh = this.view.h / factor;
    this.view = { x: ux - fx * nw, y: uy - fy * nh, w: nw, h: nh };
    this.apply();
  }

  actual() {
    const v = this.view || this.base;
    this.moveTo(v.x + v.w / 2, v.y + v.h / 2, 1);
  }

  // An element's box in diagram units (cached: the drawing does not move inside the svg).
  boxOf(el) {
    if (this.boxes.has(el)) return this.boxes.get(el);
    const shape = el.querySelector(":scope > polygon, :scope > path, :scope > ellipse") || el;
    const bb = shape.getBBox();
    const m = this.svg.getScreenCTM().inverse().multiply(shape.getScreenCTM());
    const pts = [[bb.x, bb.y], [bb.x + bb.width, bb.y + bb.height]].map(([x, y]) => {
      const p = new DOMPoint(x, y).matrixTransform(m);
      return [p.x, p.y];
    });
    const box = { x: Math.min(pts[0][0], pts[1][0]), y: Math.min(pts[0][1], pts[1][1]),
      w: Math.abs(pts[1][0] - pts[0][0]), h: Math.abs(pts[1][1] - pts[0][1]) };
    this.boxes.set(el, box);
    return box;
  }

  stateEl(id) {
    return [...this.svg.querySelectorAll("[data-state]")].find((el) => el.dataset.state === id) || null;
  }

  focusState(id) {
    const el = this.svg && this.stateEl(id);
    if (el) this.fitBox(this.boxOf(el), MAX_FOLLOW);
  }

  // Highlight the configuration and the transitions out of it; follow it if asked.
  highlight(configuration, enabledEvents, blockedEvents, animate = true) {
    if (!this.svg) return;
    const active = new Set(configuration);
    for (const el of this.svg.querySelectorAll("[data-state]")) {
      el.classList.toggle("active", active.has(el.dataset.state));
    }
    const outgoing = [];
    for (const el of this.svg.querySelectorAll("[data-transition]")) {
      const fromActive = el.dataset.sources.split(" ").some((s) => active.has(s));
      const live = fromActive && enabledEvents.has(el.dataset.event);
      const held = fromActive && blockedEvents.has(el.dataset.event);
      el.classList.toggle("live", live && !held);
      el.classList.toggle("held", held);
      // The label's edges: from the active sources only (a shared label has many).
      const sources = new Set(el.dataset.sources.split(" "));
      for (const edge of this.svg.querySelectorAll(`g.edge.of-${el.dataset.transition}`)) {
        const ends = (edge.querySelector("title") || {}).textContent || "";
        const inactive = ends.split("->").map((end) => end.replace(/^__(.*)__$/, "$1"))
          .some((end) => sources.has(end) && !active.has(end));
        edge.classList.toggle("live", live && !held && !inactive);
      }
      if (fromActive) outgoing.push(el);
    }
    if (this.follow) this.followActive(active, outgoing, animate);
  }

  // Follow: the active states and the labels of their transitions, readable; if that is
  // too much, the innermost active compound; if still too much, the active states alone.
  followActive(active, outgoing, animate) {
    const leaves = [...this.svg.querySelectorAll("g.node[data-state]")].filter((el) => active.has(el.dataset.state));
    const compounds = [...this.svg.querySelectorAll("g.cluster[data-state]")].filter((el) => active.has(el.dataset.state));
    if (!leaves.length) return;
    const { w, h } = this.size();
    const fits = (b) => Math.min((w - 48) / b.w, (h - 48) / b.h) >= READABLE;
    const union = (els) => els.map((el) => this.boxOf(el)).reduce((a, b) => {
      const x = Math.min(a.x, b.x), y = Math.min(a.y, b.y);
      return { x, y, w: Math.max(a.x + a.w, b.x + b.w) - x, h: Math.max(a.y + a.h, b.y + b.h) - y };
    });
    const candidates = [union([...leaves, ...outgoing])];
    if (compounds.length) candidates.push(union([...leaves, compounds[compounds.length - 1]]));
    candidates.push(union(leaves));
    const chosen = candidates.find(fits);
    if (chosen) {
      this.fitBox(chosen, MAX_FOLLOW, animate);
    } else {
      const b = candidates[candidates.length - 1];
      this.moveTo(b.x + b.w / 2, b.y + b.h / 2, READABLE, animate);
    }
  }

  wire() {
    const box = this.box;
    box.addEventListener("wheel", (e) => {
      if (!this.view) return;
      e.preventDefault();
      const r = box.getBoundingClientRect();
      this.zoomBy(Math.exp(-e.deltaY * 0.0015), e.clientX - r.left, e.clientY - r.top);
    }, { passive: false });
    let drag = null;
    box.addEventListener("pointerdown", (e) => {
      if (!this.view || e.button !== 0) return;
      drag = { x: e.clientX, y: e.clientY, view: { ...this.view }, moved: false };
      box.setPointerCapture(e.pointerId);
    });
    box.addEventListener("pointermove", (e) => {
      if (!drag) return;
      const dx = e.clientX - drag.x;
      const dy = e.clientY - drag.y;
      if (Math.abs(dx) + Math.abs(dy) > 3) drag.moved = true;
      if (!drag.moved) return;
      const s = this.scale();
      this.view = { ...drag.view, x: drag.view.x - dx / s, y: drag.view.y - dy / s };
      this.apply();
      box.classList.add("panning");
    });
    const end = (e) => {
      if (drag && drag.moved) {
        box.dataset.dragged = "true";
        setTimeout(() => { delete box.dataset.dragged; }, 0);
      }
      drag = null;
      box.classList.remove("panning");
      if (box.hasPointerCapture(e.pointerId)) box.releasePointerCapture(e.pointerId);
    };
    box.addEventListener("pointerup", end);
    box.addEventListener("pointercancel", end);
    box.addEventListener("keydown", (e) => {
      const steps = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] };
      if (e.key === "+" || e.key === "=") this.zoomBy(1.25);
      else if (e.key === "-") this.zoomBy(0.8);
      else if (e.key === "0") this.fit();
      else if (steps[e.key] && this.view) {
        const [dx, dy] = steps[e.key];
        this.view = { ...this.view, x: this.view.x + dx * this.view.w / 10, y: this.view.y + dy * this.view.h / 10 };
        this.apply();
      } else return;
      e.preventDefault();
    });
    box.addEventListener("dblclick", (e) => {
      const cluster = e.target.closest && e.target.closest("g.cluster[data-state]");
      if (cluster) this.fitBox(this.boxOf(cluster));
    });
  }
}

async function diagramText(machine) {
  if (!state.svgs.has(machine)) {
    const response = await fetch(`/api/machines/${encodeURIComponent(machine)}/diagram.svg`);
    if (!response.ok) {
      const data = await response.json().catch(() => ({}));
      state.svgs.set(machine, { error: data.error || "the diagram is unavailable" });
    } else {
      state.svgs.set(machine, await response.text());
    }
  }
  return state.svgs.get(machine);
}

async function loadInto(viewer, machine) {
  const text = await diagramText(machine);
  if (typeof text !== "string") {
    viewer.svg = null;
    viewer.box.replaceChildren(h("p", { class: "error" }, text.error));
    return;
  }
  viewer.show(text);
  viewer.box.dataset.machine = machine;
}

let mainViewer = null;

async function loadDiagram(name) {
  // A fresh element per flow: the previous flow's viewer keeps no listener on it.
  const old = $("diagram");
  const box = old.cloneNode(false);
  delete box.dataset.machine;
  old.replaceWith(box);
  box.replaceChildren(h("p", { class: "hint" }, "drawing…"));
  mainViewer = new Viewer(box, name);
  $("follow").checked = true;  // a new flow opens on its active state
  mainViewer.follow = true;
  await loadInto(mainViewer, name);
  wireHover(mainViewer, name, null);
  const info = state.machines.get(name);
  const compounds = info.states.filter((s) => s.kind === "compound" || s.kind === "parallel");
  $("focus").replaceChildren(h("option", { value: "" }, "—"),
    ...compounds.map((s) => h("option", { value: s.id }, s.id)));
}

// -- hover and details: descriptions and guards in words -----------------------------------------

function describeState(machine, id) {
  const info = state.machines.get(machine);
  const s = info.states.find((x) => x.id === id);
  if (!s) return null;
  const out = info.transitions.filter((t) => t.source === id);
  return h("div", { class: "state-details" },
    h("h3", {}, id, " ", h("small", {}, [s.kind, ...s.tags].join(" · "))),
    s.description ? h("p", {}, s.description) : h("p", { class: "hint" }, "No description."),
    s.invokes.length ? h("p", {}, "Invokes ", ...s.invokes.map((i) => h("code", {}, `${i.id}: ${i.src}`))) : null,
    out.length ? h("ul", { class: "transitions" }, ...out.map((t) => h("li", {},
      h("strong", {}, shortEvent(t.event || "always")), " → ",
      (t.targets.length ? t.targets : ["(stays)"]).join(", "),
      t.condition ? h("div", { class: "condition" }, "when ", t.condition) : null))) : null);
}

function describeTransition(machine, el) {
  const info = state.machines.get(machine);
  const sources = el.dataset.sources.split(" ");
  const list = info.transitions.filter((t) => t.event === el.dataset.event && sources.includes(t.source)
    && (t.targets.length ? t.targets : [t.source]).join(" ") === el.dataset.targets);
  const first = list[0];
  if (!first) return null;
  return h("div", { class: "state-details" },
    h("h3", {}, shortEvent(first.event || "always")),
    h("p", {}, "From ", sources.join(", "), " to ", el.dataset.targets.split(" ").join(", "), "."),
    first.condition ? h("p", { class: "condition" }, "Only when ", first.condition, ".") : null,
    h("p", { class: "hint" }, first.label));
}

function wireHover(viewer, machine, actor) {
  const tip = $("tooltip");
  const box = viewer.box;
  const target = (e) => e.target.closest && e.target.closest("[data-state], [data-transition]");
  box.addEventListener("pointerover", (e) => {
    const el = target(e);
    if (!el) return;
    const content = el.dataset.state ? describeState(machine, el.dataset.state) : describeTransition(machine, el);
    if (!content) return;
    tip.replaceChildren(content.cloneNode(true));
    tip.hidden = false;
    if (!state.pinned) $("details").replaceChildren(content);
  });
  box.addEventListener("pointermove", (e) => {
    if (tip.hidden) return;
    tip.style.left = `${Math.min(e.clientX + 14, window.innerWidth - 340)}px`;
    tip.style.top = `${Math.min(e.clientY + 14, window.innerHeight - tip.offsetHeight - 8)}px`;
  });
  box.addEventListener("pointerout", (e) => {
    if (target(e)) tip.hidden = true;
  });
  box.addEventListener("click", (e) => {
    if (box.dataset.dragged) return;
    const el = target(e);
    if (!el) return;
    state.pinned = { machine, actor, key: el.dataset.state || el.dataset.transition };
    const content = el.dataset.state ? describeState(machine, el.dataset.state) : describeTransition(machine, el);
    if (content) $("details").replaceChildren(content, h("button", {
      type: "button", class: "link", onclick: () => { state.pinned = null; },
    }, "unpin"));
  });
}

// -- sessions and the shared link -----------------------------------------------------------------

function encodeSteps(steps) {
  const bytes = new TextEncoder().encode(JSON.stringify(steps));
  let text = "";
  for (const b of bytes) text += String.fromCharCode(b);
  return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function decodeSteps(text) {
  const b64 = text.replace(/-/g, "+").replace(/_/g, "/");
  const raw = atob(b64 + "=".repeat((4 - (b64.length % 4)) % 4));
  const bytes = Uint8Array.from(raw, (c) => c.charCodeAt(0));
  return JSON.parse(new TextDecoder().decode(bytes));
}

function sessionSteps(view) {
  return view.history.map((s) => (s.actor ? { event: s.event, payload: s.payload, actor: s.actor }
    : { event: s.event, payload: s.payload }));
}

function sessionLink(view) {
  const steps = sessionSteps(view);
  const params = new URLSearchParams({ flow: view.machine });
  if (steps.length) params.set("steps", encodeSteps(steps));
  return `${location.origin}${location.pathname}#${params}`;
}

function readLink() {
  if (!location.hash.startsWith("#")) return null;
  const params = new URLSearchParams(location.hash.slice(1));
  const flow = params.get("flow");
  if (!flow || !state.machines.has(flow)) return null;
  const steps = params.get("steps");
  return { flow, steps: steps ? decodeSteps(steps) : [] };
}

async function openMachine(name, steps) {
  const body = { machine: name };
  if (steps) body.steps = steps;
  const view = await api("POST", "/api/session", body);
  sessionStorage.setItem(STORE, JSON.stringify({ id: view.session, machine: name }));
  await showMachine(name);
  render(view);
}

async function showMachine(name) {
  $("machine").value = name;
  const info = state.machines.get(name);
  $("description").textContent = info ? firstParagraph(info.description) : "";
  $("about-text").textContent = info ? plain(info.description) : "";
  $("about").hidden = !info || !info.description.includes("\n\n");
  $("about-text").hidden = true;
  $("about").setAttribute("aria-expanded", "false");
  $("scenario-name").value = `${name} session`;
  $("scenario-file").value = `${name}_session`;
  state.pinned = null;
  $("details").replaceChildren(h("p", { class: "hint" },
    "Point at a state or a transition in the diagram; click to keep it here."));
  for (const child of state.children.values()) child.card.remove();
  state.children.clear();
  await loadDiagram(name);
  applyTraffic();
  renderTraces(name);
}

async function restore() {
  let link = null;
  try {
    link = readLink();
  } catch {
    showNotice("the link is damaged: starting over", "warn");
  }
  if (link) {
    await openMachine(link.flow, link.steps);
    return;
  }
  const saved = JSON.parse(sessionStorage.getItem(STORE) || "null");
  if (saved && state.machines.has(saved.machine)) {
    try {
      const view = await api("GET", `/api/session/${encodeURIComponent(saved.id)}`);
      await showMachine(view.machine);
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

// The server closes sessions left idle for hours or crowded out by many newer ones, and
// answers 410 for them: reopen this one from its steps, say so, and carry on with the call.
async function withSession(call) {
  try {
    return await call(encodeURIComponent(state.view.session));
  } catch (error) {
    if (error.status !== 410 || !state.view) throw error;
    const old = state.view;
    const steps = sessionSteps(old);
    const fresh = await api("POST", "/api/session", { machine: old.machine, steps });
    sessionStorage.setItem(STORE, JSON.stringify({ id: fresh.session, machine: old.machine }));
    const n = steps.length;
    state.revived = {
      session: fresh.session, step: n,
      text: `The simulator had closed this session ${error.data.closed || ""}; it was reopened from its ${n} step${n === 1 ? "" : "s"}.`,
    };
    render(fresh);
    return call(encodeURIComponent(fresh.session));
  }
}

let queue = Promise.resolve();

// Session calls run one after another, in click order, so none is lost or reordered.
function act(method, suffix, body) {
  const run = queue.then(async () => {
    if (!state.view) return null;
    const view = await withSession((sid) => api(method, `/api/session/${sid}/${suffix}`, body));
    render(view);
    return view;
  });
  queue = run.catch(() => {});
  return run;
}

async function send(event, payload, actor, expect) {
  const body = { event, payload };
  if (actor) body.actor = actor;
  if (expect) body.expect = expect;
  return act("POST", "send", body);
}

// -- rendering ---------------------------------------------------------------------------------

function render(view) {
  state.view = view;
  const info = state.machines.get(view.machine);
  const step = view.step;
  history.replaceState(null, "", sessionLink(view));

  // The panes take their sizes first, so that following the active state measures them.
  $("main-col").classList.toggle("has-children", view.actors.length > 0);
  if (mainViewer) mainViewer.highlight(step.configuration, ...eventSets(view.actions));
  renderChildren(view).catch(fatal);

  $("configuration").replaceChildren(...chips(info, step.configuration));
  $("actor-states").replaceChildren(...view.actors.map((a) => h("div", { class: "actor-line", dataset: { actor: a.actor } },
    h("span", { class: "actor-name" }, `${a.actor} (${a.machine})`),
    h("ul", { class: "chips" }, ...chips(state.machines.get(a.machine), a.step.configuration)))));
  $("done").hidden = !step.done;
  const revived = state.revived && state.revived.session === view.session
    && view.history.length <= state.revived.step + 1 ? state.revived.text : null;
  showNotice(view.notice || revived, view.notice || revived ? "warn" : "info");
  renderDeliveries(view);
  $("undo").disabled = !view.can_undo;

  renderEvents(view);
  renderWhatIf(view);
  $("context").replaceChildren(...contextRows(step.context));
  $("actor-contexts").replaceChildren(...view.actors.map((a) => h("div", { class: "actor-context" },
    h("h3", {}, `${a.actor} (${a.machine})`), h("table", { class: "kv" }, ...contextRows(a.step.context)))));

  const log = $("telemetry");
  log.replaceChildren(...view.telemetry.map((t) =>
    h("li", { class: t.step === view.history.length ? "new" : "" },
      h("span", { class: "step-no" }, `#${t.step}`), " ",
      t.actor ? h("span", { class: "actor-tag" }, t.actor) : null, t.actor ? " " : null,
      h("strong", {}, t.event), " ",
      h("span", { class: "props" }, compact(t.properties)))));
  log.scrollTop = log.scrollHeight;

  $("history").replaceChildren(
    h("li", { class: "muted" }, "initial"),
    ...view.history.map((s) => h("li", {},
      s.actor ? h("span", { class: "actor-tag" }, s.actor) : null, s.actor ? " " : null,
      h("strong", {}, shortEvent(s.event)), " ",
      h("span", { class: "props" }, compact(s.payload)))));
  renderReplay();
  document.body.dataset.step = String(view.history.length);
}

function chips(info, configuration) {
  const tags = new Map(info.states.map((s) => [s.id, s.tags]));
  return configuration.map((id) => {
    const t = tags.get(id) || [];
    const cls = t.includes("failure") ? "chip failure" : t.includes("success") ? "chip success" : "chip";
    return h("li", { class: cls, dataset: { state: id } }, id);
  });
}

function contextRows(context) {
  return Object.entries(context).map(([key, value]) =>
    h("tr", {}, h("th", {}, key), h("td", {}, h("code", {}, JSON.stringify(value)))));
}

function renderDeliveries(view) {
  const list = $("deliveries");
  list.hidden = !view.deliveries.length;
  list.replaceChildren(...view.deliveries.map((d) => {
    const word = d.event.startsWith("xstate.done.actor.") ? `finished: ${view.machine} received ${shortEvent(d.event)}`
      : d.event.startsWith("xstate.error.actor.") ? `stopped on an error: ${view.machine} received ${shortEvent(d.event)}`
        : `sent ${d.event} to ${view.machine}`;
    return h("li", {}, h("span", { class: "actor-tag" }, d.actor), " ", word, " ",
      Object.keys(d.payload).length ? h("span", { class: "props" }, compact(d.payload)) : null);
  }));
}

function eventSets(actions) {
  return [new Set(actions.filter((a) => a.enabled).map((a) => a.event)),
    new Set(actions.filter((a) => !a.enabled).map((a) => a.event))];
}

async function renderChildren(view) {
  const running = new Set(view.actors.map((a) => a.actor));
  for (const [path, child] of state.children) {
    if (!running.has(path)) {
      child.card.remove();
      state.children.delete(path);
    }
  }
  for (const a of view.actors) {
    let child = state.children.get(a.actor);
    if (!child || child.machine !== a.machine) {
      if (child) child.card.remove();
      const box = h("div", { class: "diagram" });
      const viewer = new Viewer(box, a.machine);
      const card = h("section", { class: "diagram-pane child", dataset: { actor: a.actor }, "aria-label": `Child flow ${a.actor}` },
        h("div", { class: "toolbar" },
          h("strong", {}, a.actor), " ",
          h("span", { class: "muted" }, `the ${a.machine} flow, run by ${a.state}`),
          h("button", { type: "button", onclick: () => { viewer.follow = false; viewer.fit(); } }, "Fit"),
          h("button", { type: "button", onclick: () => { viewer.follow = true; if (state.view) render(state.view); } }, "Follow")),
        box);
      $("children").append(card);
      child = { card, viewer, machine: a.machine, loaded: null };
      child.loaded = loadInto(viewer, a.machine).then(() => wireHover(viewer, a.machine, a.actor));
      state.children.set(a.actor, child);
    }
    await child.loaded;
    if (view !== state.view) return;
    child.viewer.highlight(a.step.configuration, ...eventSets(a.actions));
  }
}

function renderEvents(view) {
  const box = $("events");
  if (view.step.done) {
    box.replaceChildren(h("p", { class: "hint" }, "The flow reached a final state. Undo or reset to go on."));
    return;
  }
  const parts = [...actionParts(view.actions, null, view.machine)];
  for (const a of view.actors) {
    const inner = actionParts(a.actions, a.actor, a.machine);
    parts.push(h("div", { class: "actor-events", dataset: { actor: a.actor } },
      h("h3", {}, `${a.actor} `, h("code", {}, a.machine), " ", h("span", { class: "muted" }, "child flow")),
      ...(inner.length ? inner : [h("p", { class: "hint" }, a.step.done ? "finished" : "No event is enabled here.")])));
  }
  if (!parts.length) parts.push(h("p", { class: "hint" }, "No event is enabled here."));
  box.replaceChildren(...parts);
}

function actionParts(actions, actor, machine) {
  const user = actions.filter((a) => a.kind === "user" || a.kind === "event");
  const outcomes = actions.filter((a) => a.kind === "done" || a.kind === "error");
  const delays = actions.filter((a) => a.kind === "delay");
  const parts = [];
  for (const action of user) {
    parts.push(action.fields && action.fields.length ? payloadForm(action, actor) : eventButton(action, actor));
  }
  const info = state.machines.get(machine);
  for (const invoke of [...new Set(outcomes.map((a) => a.invoke))]) {
    const inv = info.invokes.find((i) => i.id === invoke) || {};
    const mine = outcomes.filter((a) => a.invoke === invoke);
    const shortcut = mine.some((a) => a.shortcut);
    parts.push(h("div", { class: "outcomes", dataset: { invoke } },
      h("h3", {}, `${invoke} `, inv.src ? h("code", {}, inv.src) : null,
        shortcut ? h("span", { class: "muted" }, " shortcuts: end the child flow now") : null),
      ...mine.map((a) => outcomeButton(a, actor))));
  }
  if (delays.length) parts.push(h("div", { class: "outcomes" }, h("h3", {}, "timers"), ...delays.map((a) => outcomeButton(a, actor))));
  return parts;
}

function status(action) {
  return h("p", { class: `status ${action.enabled ? "ok" : "blocked"}`, role: "status" },
    action.enabled ? "" : (action.reason || "changes nothing now"));
}

function eventButton(action, actor) {
  return h("div", { class: `event-row ${action.enabled ? "" : "is-blocked"}` },
    h("button", {
      type: "button", class: `event ${action.enabled ? "" : "blocked"}`, title: action.description || undefined,
      dataset: { event: action.event, actor: actor || undefined, enabled: String(action.enabled) },
      onclick: () => send(action.event, {}, actor).catch(fatal),
    }, action.label),
    action.enabled ? null : status(action));
}

function outcomeButton(action, actor) {
  const detail = action.kind === "done" ? compact(action.payload.output)
    : action.kind === "error" ? action.payload.error.code : "";
  return h("button", {
    type: "button", class: `outcome ${action.kind}${action.shortcut ? " shortcut" : ""}`,
    dataset: { event: action.event, outcome: detail, actor: actor || undefined },
    title: action.enabled ? undefined : action.reason,
    onclick: () => send(action.event, action.payload, actor).catch(fatal),
  }, h("span", { class: "kind" }, action.kind === "delay" ? action.label : action.kind),
  detail ? h("span", { class: "detail" }, detail) : null);
}

function payloadForm(action, actor) {
  const error = h("p", { class: "error", role: "alert", hidden: true });
  const inputs = action.fields.map(fieldInput);
  const note = status(action);
  const button = h("button", {
    type: "submit", class: `event ${action.enabled ? "" : "blocked"}`, title: action.description || undefined,
    dataset: { enabled: String(action.enabled) },
  }, action.label);
  const form = h("form", { class: "payload", dataset: { event: action.event, actor: actor || undefined } },
    h("div", { class: "fields" }, ...inputs.map((f) => f.row)), button, note, error);
  const read = () => {
    const payload = {};
    for (const f of inputs) {
      const value = f.read();
      if (value !== undefined) payload[f.name] = value;
    }
    return payload;
  };
  let timer = 0;
  const recheck = () => {
    if (!action.reads_payload) return;
    clearTimeout(timer);
    timer = setTimeout(async () => {
      let payload;
      try { payload = read(); } catch { return; }
      try {
        const body = { event: action.event, payload };
        if (actor) body.actor = actor;
        const result = await withSession((sid) => api("POST", `/api/session/${sid}/check`, body));
        note.className = `status ${result.enabled ? "ok" : "blocked"}`;
        note.textContent = result.enabled ? "" : result.reason;
        button.classList.toggle("blocked", !result.enabled);
        button.dataset.enabled = String(result.enabled);
      } catch (e) {
        note.className = "status blocked";
        note.textContent = e.message;
      }
    }, 200);
  };
  form.addEventListener("input", recheck);
  form.addEventListener("change", recheck);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    error.hidden = true;
    try {
      await send(action.event, read(), actor);
    } catch (err) {
      error.textContent = err.message;
      error.hidden = false;
    }
  });
  return form;
}

let uid = 0;

// The value a field starts with comes from the server (the one default the REPL and the
// docs use too).
function fieldInput(field) {
  const id = `f${++uid}`;
  const label = h("label", { for: id }, field.name, " ", h("small", {}, field.type + (field.nullable ? " | null" : "")));
  let input;
  let read;
  const initial = field.value;
  if (field.enum.length) {
    input = h("select", { id, name: field.name },
      ...field.enum.map((v, i) => h("option", { value: String(i) }, JSON.stringify(v))));
    const at = field.enum.findIndex((v) => JSON.stringify(v) === JSON.stringify(initial));
    if (at >= 0) input.value = String(at);
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
  } else if (field.type === "object" || field.type === "object[]") {
    input = h("textarea", { id, name: field.name, rows: "2", spellcheck: "false" });
    input.value = JSON.stringify(initial ?? (field.type === "object" ? {} : []));
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
    nullBox.checked = initial === null;
    input.disabled = nullBox.checked;
    nullBox.addEventListener("change", () => { input.disabled = nullBox.checked; });
  }
  const row = h("div", { class: "field" }, label, input,
    nullBox ? h("label", { class: "null" }, nullBox, "null") : null);
  return { name: field.name, row, read: () => (nullBox && nullBox.checked ? null : read()) };
}

// -- what can go wrong here ----------------------------------------------------------------------

function renderWhatIf(view) {
  const list = $("whatif");
  if (!view.whatif.length) {
    list.replaceChildren(h("li", { class: "hint" }, view.step.done ? "Nothing: the flow is over."
      : "Nothing from the outside: no service call is running and no timer is pending."));
    return;
  }
  list.replaceChildren(...view.whatif.map((o) => {
    const who = o.actor ? `${o.actor} › ` : "";
    const what = o.kind === "timer" ? `${who}after ${o.source}` : `${who}${o.source} fails`;
    const codes = o.codes.length > 4 ? `${o.codes.slice(0, 3).join(", ")} and ${o.codes.length - 3} more codes`
      : o.codes.join(", ");
    const where = o.stops ? "the flow stops with an error (nothing handles it)"
      : o.actor_lands ? `${o.actor}: ${o.actor_lands.join(" › ")}` : o.lands.join(" › ");
    return h("li", { class: `whatif-item ${o.failure ? "failure" : ""}`, dataset: { source: o.source, kind: o.kind } },
      h("div", {}, h("strong", {}, what), codes ? h("span", { class: "props", title: o.codes.join(", ") }, ` (${codes})`) : null),
      h("div", {}, "→ ", h("span", { class: o.failure ? "lands failure" : "lands" }, where)),
      o.recovery.length ? h("div", { class: "recovery" }, "way back: ",
        ...o.recovery.map((r, i) => h("span", {}, i ? "; " : "", h("strong", {}, r.event),
          Object.keys(r.payload).length ? ` ${compact(r.payload)}` : "", " → ", r.leads_to.join(" › "))))
        : (o.failure ? h("div", { class: "recovery none" }, "no way back from here") : null),
      h("button", {
        type: "button", class: "inject", dataset: { event: o.event, code: o.codes[0] || "" },
        onclick: () => send(o.event, o.payload, o.actor).catch(fatal),
      }, o.kind === "timer" ? "Fire the timer" : `Make it fail (${o.codes[0]})`));
  }));
}

// -- scenarios -----------------------------------------------------------------------------------

function scenarioStatus(text, kind = "ok") {
  const el = $("scenario-status");
  el.hidden = !text;
  el.className = `status ${kind}`;
  el.replaceChildren(...(Array.isArray(text) ? text : [text || ""]));
}

async function saveScenario() {
  if (!state.view) return;
  try {
    const body = { name: $("scenario-name").value.trim(), file: $("scenario-file").value.trim() };
    const saved = await withSession((sid) => api("POST", `/api/session/${sid}/scenario`, body));
    scenarioStatus([`Saved ${saved.path}. Run it: `,
      h("code", {}, `flowcheck simulate ${state.view.machine} --script ${saved.path}`)]);
    await listScenarios();
  } catch (e) {
    scenarioStatus(e.message, "blocked");
  }
}

async function downloadScenario() {
  if (!state.view) return;
  const name = $("scenario-name").value.trim() || "saved session";
  const file = `${$("scenario-file").value.trim() || state.view.machine}.yaml`;
  const params = new URLSearchParams({ name, file: `scenarios/${file}` });
  const response = await withSession(async (sid) => {
    const got = await fetch(`/api/session/${sid}/scenario.yaml?${params}`);
    if (got.status !== 410) return got;
    const data = await got.json();
    throw Object.assign(new Error(data.error), { status: 410, data });
  });
  if (!response.ok) {
    scenarioStatus((await response.json()).error, "blocked");
    return;
  }
  const url = URL.createObjectURL(new Blob([await response.text()], { type: "application/yaml" }));
  const a = h("a", { href: url, download: file });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

async function listScenarios() {
  const list = $("scenario-files");
  try {
    const { scenarios } = await api("GET", "/api/scenarios");
    if (!scenarios.length) {
      list.replaceChildren(h("li", { class: "hint" }, "No scenario files in scenarios/ yet."));
      return;
    }
    list.replaceChildren(...scenarios.map((f) => h("li", {},
      ...(f.scenarios || [{ name: f.file, steps: 0 }]).map((s, i) => h("button", {
        type: "button", class: "cx", disabled: Boolean(f.error), dataset: { file: f.file, index: String(i) },
        onclick: () => loadScenario(f.file, i).catch(fatal),
      }, h("strong", {}, `${f.file}${f.scenarios && f.scenarios.length > 1 ? ` #${i + 1}` : ""}`),
      h("span", {}, `${f.machine || "?"} · ${s.name} · ${s.steps} steps`))),
      f.error ? h("p", { class: "error" }, f.error) : null)));
  } catch (e) {
    list.replaceChildren(h("li", { class: "error" }, e.message));
  }
}

async function loadScenario(file, index) {
  const data = await api("GET", `/api/scenarios/${encodeURIComponent(file)}`);
  const scenario = data.scenarios[index];
  await openMachine(data.machine);
  state.replay = {
    kind: "scenario", title: `${file}: ${scenario.name}`, index: 0, results: [],
    steps: scenario.steps.map((s) => ({ event: s.event, payload: s.payload || {}, actor: s.actor || null, expect: s.expect || {} })),
  };
  $("replay").scrollIntoView({ block: "nearest" });
  renderReplay();
}

// -- counterexample and scenario replay ------------------------------------------------------------

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
  state.replay = { kind: "counterexample", title: entry.property, message: entry.message,
    steps: entry.steps, index: 0, results: [] };
  renderReplay();
}

async function replayNext() {
  const r = state.replay;
  if (!r || r.pending || r.index >= r.steps.length) return;
  const step = r.steps[r.index];
  r.pending = true;
  try {
    const view = await send(step.event, step.payload, step.actor, r.kind === "scenario" ? step.expect : undefined);
    r.results[r.index] = view && view.check ? view.check : [];
    r.index += 1;
  } finally {
    r.pending = false;
    renderReplay();
  }
}

async function replayAll() {
  while (state.replay && state.replay.index < state.replay.steps.length) {
    await replayNext();
    await new Promise((resolve) => setTimeout(resolve, 300));
  }
}

function renderReplay() {
  const box = $("replay");
  const r = state.replay;
  box.hidden = !r;
  if (!r) return;
  const total = r.steps.length;
  $("replay-title").textContent = r.kind === "scenario" ? "Scenario"
    : r.kind === "trace" ? "Real session" : "Counterexample";
  renderDeviation(r);
  const failed = r.results.filter((x) => x && x.length).length;
  const summary = r.kind === "scenario"
    ? (failed ? `, ${failed} step(s) differ from the file` : ", every expectation so far holds") : "";
  const run = r.kind === "trace" ? r.played.run : null;
  const ending = run ? ` It was ${run.outcome}${r.played.deviation ? ` at line ${r.played.deviation.line}` : ""}` +
    (r.played.truncated ? `; ${r.played.truncated} later steps are not shown.` : ".") : "";
  $("replay-status").textContent = r.index >= total
    ? `${r.title}: replayed all ${total} steps${summary}.${ending} ${r.message || ""}`.trim()
    : `${r.title}: step ${r.index} of ${total}${r.index ? summary : ""}`;
  $("replay-steps").replaceChildren(...r.steps.map((s, i) => {
    const result = r.results[i];
    return h("li", {
      class: i < r.index ? (result && result.length ? "done mismatch" : "done") : i === r.index ? "next" : "",
    }, s.actor ? h("span", { class: "actor-tag" }, s.actor) : null, s.actor ? " " : null,
    h("strong", {}, shortEvent(s.event)), " ", h("span", { class: "props" }, compact(s.payload)),
    result && result.length ? h("pre", { class: "diff" }, result.join("\n")) : null,
    r.kind !== "trace" ? null : s.inferred
      ? h("div", { class: "inferred" }, "inferred: this step tracks nothing")
      : h("ul", { class: "trace-lines" }, ...s.lines.map(traceLine)));
  }));
  $("replay-next").disabled = r.index >= total;
  $("replay-all").disabled = r.index >= total;
}

// -- a trace file: real traffic and real sessions ---------------------------------------------------

async function loadTraces() {
  const data = await api("GET", "/api/traces");
  if (!data.loaded) return;
  state.traces = data;
  $("traces-panel").hidden = false;
  $("traffic-toggle").hidden = false;
  $("traces-source").textContent = data.source;
}

function traceFlow(machine) {
  return (state.traces && state.traces.flows.find((f) => f.machine === machine)) || null;
}

// Labels and their edges get a class by how many runs took them (1-4, relative to the
// busiest), a count beside the label, and a faded look when no run took a transition the
// model can take and the telemetry would show.
function applyTraffic() {
  if (!mainViewer || !mainViewer.svg) return;
  const svg = mainViewer.svg;
  const flow = $("traffic").checked ? traceFlow(mainViewer.box.dataset.machine) : null;
  for (const old of svg.querySelectorAll(".traffic-badge")) old.remove();
  const weights = flow ? Object.values(flow.labels).map((w) => w.taken) : [];
  const busiest = Math.max(1, ...weights);
  for (const el of svg.querySelectorAll("[data-transition]")) {
    const w = flow ? flow.labels[el.dataset.transition] : null;
    const level = w && w.taken ? 1 + Math.round((3 * w.taken) / busiest) : 0;
    const untaken = Boolean(w && !w.taken && w.reachable && w.observable);
    const edges = [el, ...svg.querySelectorAll(`g.edge.of-${el.dataset.transition}`)];
    for (const part of edges) {
      for (let n = 1; n <= 4; n += 1) part.classList.toggle(`traffic-${n}`, level === n);
      part.classList.toggle("untaken", untaken);
    }
    if (w) el.dataset.taken = String(w.taken);
    else delete el.dataset.taken;
    if (!w) continue;
    const box = el.getBBox();
    const badge = document.createElementNS(svg.namespaceURI, "text");
    badge.setAttribute("class", "traffic-badge");
    badge.setAttribute("x", String(box.x + box.width + 2));
    badge.setAttribute("y", String(box.y + 8));
    badge.textContent = `${w.taken}×`;
    badge.setAttribute("aria-label", `${w.taken} real run${w.taken === 1 ? "" : "s"} took this`);
    el.append(badge);
  }
}

function renderTraces(machine) {
  if (!state.traces) return;
  const flow = traceFlow(machine);
  const list = $("trace-runs");
  if (!flow) {
    $("traces-summary").textContent = `No run of ${machine} in this trace.`;
    list.replaceChildren();
    return;
  }
  const c = flow.by_outcome;
  const total = c.complete + c["cut off"] + c.deviating;
  $("traces-summary").textContent =
    `${total} run${total === 1 ? "" : "s"}: ${c.complete} complete, ${c["cut off"]} cut off, ` +
    `${c.deviating} deviating` +
    (flow.more ? `; the first ${state.traces.listed_per_outcome} of each are listed.` : ".") +
    " Play one to step through it beside its real lines.";
  list.replaceChildren(...flow.listed.map((run) => h("li", {},
    h("button", {
      type: "button", class: `cx trace-run ${run.outcome === "deviating" ? "deviating" : ""}`,
      dataset: { run: String(run.id), session: run.session, outcome: run.outcome },
      title: "Play this session in the simulator",
      onclick: () => playRun(run).catch(fatal),
    }, h("strong", {}, `session ${run.session}`),
    h("span", {}, `${run.outcome} · ${run.lines} line${run.lines === 1 ? "" : "s"} · ` +
      `lines ${run.first_line}–${run.last_line}`)))));
}

async function playRun(run) {
  const played = await api("POST", "/api/traces/play", { run: run.id });
  const view = played.view;
  sessionStorage.setItem(STORE, JSON.stringify({ id: view.session, machine: view.machine }));
  await showMachine(view.machine);
  render(view);
  state.replay = { kind: "trace", title: `session ${run.session}`, steps: played.steps,
    index: 0, results: [], played };
  renderReplay();
}

function traceLine(line) {
  return h("li", {}, h("span", { class: "line-no" }, `line ${line.line}`), " ",
    shortEvent(line.event), " ", h("span", { class: "props" }, compact(line.properties)));
}

function renderDeviation(r) {
  const box = $("replay-deviation");
  const dev = r.kind === "trace" ? r.played.deviation : null;
  box.hidden = !dev;
  if (!dev) { box.replaceChildren(); return; }
  const allowed = dev.allowed.map((a) => h("li", {}, a.end ? "the flow may end here"
    : [shortEvent(a.event), " ", h("span", { class: "props" }, compact(a.properties))],
  a.after && a.after.length ? h("span", { class: "props" }, ` (after ${a.after.join(", ")})`) : null));
  box.replaceChildren(
    h("p", {}, h("strong", {}, `Line ${dev.line} deviates from the flow: `),
      shortEvent(dev.event), " ", h("span", { class: "props" }, compact(dev.properties))),
    h("p", {}, r.index >= r.steps.length ? "Here the model allowed:" : "After the last step, the model allowed:"),
    h("ul", {}, ...allowed));
}

// -- wiring ------------------------------------------------------------------------------------

async function copyLink() {
  if (!state.view) return;
  const link = sessionLink(state.view);
  const el = $("share-status");
  el.hidden = false;
  try {
    await navigator.clipboard.writeText(link);
    el.textContent = "Link copied: it replays this session's steps.";
  } catch {
    el.textContent = `Copy this link: ${link}`;
  }
}

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
  $("share").addEventListener("click", () => copyLink().catch(fatal));
  $("about").addEventListener("click", (e) => {
    const text = $("about-text");
    text.hidden = !text.hidden;
    e.target.setAttribute("aria-expanded", String(!text.hidden));
  });
  $("fit").addEventListener("click", () => {
    $("follow").checked = false;
    if (mainViewer) { mainViewer.follow = false; mainViewer.fit(); }
  });
  $("zoom-in").addEventListener("click", () => mainViewer && mainViewer.zoomBy(1.25));
  $("zoom-out").addEventListener("click", () => mainViewer && mainViewer.zoomBy(0.8));
  $("actual").addEventListener("click", () => mainViewer && mainViewer.actual());
  $("follow").addEventListener("change", (e) => {
    if (!mainViewer) return;
    mainViewer.follow = e.target.checked;
    if (e.target.checked && state.view) render(state.view);
  });
  $("focus").addEventListener("change", (e) => {
    if (!mainViewer || !e.target.value) return;
    $("follow").checked = false;
    mainViewer.follow = false;
    mainViewer.focusState(e.target.value);
  });
  $("save-scenario").addEventListener("click", () => saveScenario().catch(fatal));
  $("download-scenario").addEventListener("click", () => downloadScenario().catch(fatal));
  $("scenario-panel").addEventListener("toggle", (e) => { if (e.target.open) listScenarios(); });
  $("load-report").addEventListener("click", () => loadReport());
  $("report-file").addEventListener("change", async (e) => {
    const file = e.target.files[0];
    if (!file) return;
    $("report").value = await file.text();
    await loadReport();
  });
  $("replay-next").addEventListener("click", () => replayNext().catch(fatal));
  $("replay-all").addEventListener("click", () => replayAll().catch(fatal));
  $("replay-stop").addEventListener("click", () => { state.replay = null; renderReplay(); });
  $("traffic").addEventListener("change", () => applyTraffic());
  window.addEventListener("resize", () => { if (state.view) render(state.view); });
  window.addEventListener("hashchange", () => {
    if (!state.view || location.hash.slice(1) === sessionLink(state.view).split("#")[1]) return;
    restore().catch(fatal);
  });
  await loadTraces().catch(fatal);
  await restore();
  document.body.dataset.ready = "true";
}

main().catch(fatal);

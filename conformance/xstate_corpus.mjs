#!/usr/bin/env node
// Corpus runner: loads public XState v5 machine configs (plain JSON, as
// createMachine takes them) into real XState and takes seeded random walks
// through them with the pure API, so that flowcheck's import and exploration
// can be compared with what XState itself does.
//
// Usage:
//   node xstate_corpus.mjs [--seed N] [--walks W] [--steps S] [--guards evaluation|step]
//                          FILE.json...
//   node xstate_corpus.mjs --replay REQUEST.json      (or "-" to read it from stdin)
//
// Result (stdout, one JSON document):
//   {"seed": N, "walks": W, "steps": S,
//    "machines": [{
//      "name": <file stem>, "file": <path as given>,
//      "ok": true | false, "error"?: <why XState rejected the config>,
//      "implementations": {"guards": [...], "actions": [...], "actors": [...], "delays": [...]},
//      "states": [{"id", "key", "path", "explicitId", "type"}],   // every state node but the root
//      "events": [...],                                           // the alphabet the walks draw from
//      "walks": [[<step>, ...], ...]
//    }]}
//   step = {"event": null (the initial step) | {"type", ...payload},
//           "guards": [{"guard", "params"?, "result"}],  // every guard evaluation, in order
//           "value", "status", "active": [<state node ids, root included>],
//           "error"?: <message when XState threw; the walk ends there>}
//
// Every named guard, action, actor and delay the config references is given a
// stub in setup():
//   - a guard returns an outcome drawn from the walk's seeded generator; each
//     evaluation is recorded, so the walk can be replayed with the same outcomes.
//     After GUARD_BUDGET evaluations in one step every guard is false, so that an
//     eventless transition whose guard keeps holding cannot loop forever. With
//     "--guards evaluation" (the default) every evaluation draws anew; with
//     "--guards step" a guard (its name and params) keeps its first outcome for the rest
//     of the step, as a model that explores each guard one way per step does
//     (flowcheck's valuation has one outcome per guard per step, keyed by the name and
//     the params as canonical JSON). A
//     targetless eventless transition whose guard holds then loops, and XState
//     throws once it passes its iteration bound: the walk ends with that error;
//   - an action does nothing (the pure API returns actions, it does not run them);
//   - an actor is fromPromise that never settles: invoke outcomes are fed to the
//     machine as events, "xstate.done.actor.<id>" (with "output": null) and
//     "xstate.error.actor.<id>" (with an "error" object), with XState's own invoke
//     ids (an explicit id, else "<index>.<state node id>");
//   - a named delay is 1000 ms; timers are fed as their events
//     ("xstate.after.<delay>.<state node id>"), as XState names them.
// Nothing is implemented inline: a config that still holds a function is not JSON.
//
// "ok" is false when createMachine throws, when resolving any state node's
// transitions throws, or when the initial transition throws.
//
// Each step picks an event handled by an active state node (the keys of its
// transition map, wildcard descriptors made concrete), or the done/error event
// of a running invoke, or a delay's event; with probability STRAY it picks any
// event of the alphabet instead, handled or not. A walk stops once the status is
// no longer "active" (done, or error after an unhandled xstate.error.actor.*
// event), after S steps, or when XState throws.
//
// Deterministic: the walks of one machine depend only on the seed and the file
// name, not on the other files given.
//
// Replay mode (--replay): sends given event lists to the machines, with the same
// stubs, and reports XState's snapshot after each one; this is how flowcheck's
// counterexamples are checked against XState.
//   request = {"machines": [{"file": <path>,
//                            "traces": [{"input"?: <object>, "events": [{"type", ...}]}]}]}
//   result  = {"machines": [{"name", "file", "ok", "error"?,
//                            "traces": [[<step>, ...], ...]}]}
// with steps as above (the first is the initial step). A guard's outcome is read
// from the valuation the step was sent with, false when it has none for that name:
// the "$guards" object of the event sent (for the initial step, of the input),
// mapping guard names to outcomes. The valuation holds for the whole macrostep,
// eventless transitions and raised or done events taken in it included, whose own
// event objects do not carry it. Invoke outcomes and timers are events as above.
// Unlike a walk, a replayed trace goes on after the status is no longer "active"
// (XState then changes nothing); when XState throws, the trace ends with
// {"event", "guards", "error"}.

import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { fromPromise, initialTransition, setup, transition } from 'xstate';

const GUARD_BUDGET = 24;
const STRAY = 0.1;
const ERROR_WEIGHT = 0.1;
const DELAY_MS = 1000;
const MAX_ITERATIONS = 1000;

// ------------------------------------------------------------------ randomness

function mulberry32(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function hashString(s) {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 16777619);
  }
  return h >>> 0;
}

function pickWeighted(rng, items) {
  const total = items.reduce((sum, it) => sum + it.weight, 0);
  let r = rng() * total;
  for (const it of items) {
    r -= it.weight;
    if (r < 0) return it;
  }
  return items[items.length - 1];
}

// ------------------------------------------------------- names a config refers to

function asList(v) {
  if (v === undefined || v === null) return [];
  return Array.isArray(v) ? v : [v];
}

function referencedNames(config) {
  const guards = new Set();
  const actions = new Set();
  const actors = new Set();
  const delays = new Set();
  const nameOf = (x) => (typeof x === 'string' ? x : x && typeof x === 'object' ? x.type : undefined);
  const addActions = (list) => {
    for (const a of asList(list)) {
      const name = nameOf(a);
      if (typeof name === 'string') actions.add(name);
    }
  };
  const addTransitions = (t) => {
    for (const tr of asList(t)) {
      if (!tr || typeof tr !== 'object') continue;
      const g = nameOf(tr.guard);
      if (typeof g === 'string') guards.add(g);
      addActions(tr.actions);
    }
  };
  const walk = (node) => {
    if (!node || typeof node !== 'object') return;
    addActions(node.entry);
    addActions(node.exit);
    for (const t of Object.values(node.on ?? {})) addTransitions(t);
    addTransitions(node.always);
    addTransitions(node.onDone);
    for (const [delay, t] of Object.entries(node.after ?? {})) {
      if (Number.isNaN(Number(delay))) delays.add(delay);
      addTransitions(t);
    }
    for (const inv of asList(node.invoke)) {
      if (typeof inv?.src === 'string') actors.add(inv.src);
      addTransitions(inv?.onDone);
      addTransitions(inv?.onError);
    }
    for (const child of Object.values(node.states ?? {})) walk(child);
  };
  walk(config);
  const sorted = (s) => [...s].sort();
  return { guards: sorted(guards), actions: sorted(actions), actors: sorted(actors), delays: sorted(delays) };
}

// --------------------------------------------------------------- the machine

// The guard oracle of the current step: a generator (or, to replay, the step's
// valuation of guard names) and the evaluations so far.
// A guard with params is its own guard: flowcheck keys its outcome by the name and the
// params as canonical JSON (keys sorted, no spaces), `isGreaterThan({"min":3})`.
function canonical(value) {
  if (Array.isArray(value)) return '[' + value.map(canonical).join(',') + ']';
  if (value && typeof value === 'object') {
    return '{' + Object.keys(value).sort()
      .map((k) => JSON.stringify(k) + ':' + canonical(value[k])).join(',') + '}';
  }
  return JSON.stringify(value);
}

function guardKey(name, params) {
  return params === undefined ? name : `${name}(${canonical(params)})`;
}

function makeOracle(mode = 'evaluation') {
  const oracle = { rng: () => 0, log: [], held: {} };
  oracle.decide = (name, params) => {
    let result;
    const key = guardKey(name, params);
    const earlier = mode === 'step'
      ? oracle.log.find((e) => guardKey(e.guard, e.params) === key) : undefined;
    if (mode === 'replay') result = oracle.held[key] === true;
    else if (earlier) result = earlier.result;
    else result = oracle.log.length < GUARD_BUDGET && oracle.rng() < 0.5;
    const entry = { guard: name, result };
    if (params !== undefined) entry.params = params;
    oracle.log.push(entry);
    return result;
  };
  return oracle;
}

function buildMachine(config, names, oracle, options) {
  const guards = Object.fromEntries(
    names.guards.map((n) => [n, (_args, params) => oracle.decide(n, params)])
  );
  const actions = Object.fromEntries(names.actions.map((n) => [n, () => {}]));
  const actors = Object.fromEntries(
    names.actors.map((n) => [n, fromPromise(() => new Promise(() => {}))])
  );
  const delays = Object.fromEntries(names.delays.map((n) => [n, DELAY_MS]));
  const cfg = options ? { ...config, options: { ...config.options, ...options } } : config;
  return setup({ guards, actions, actors, delays }).createMachine(cfg);
}

function stateNodes(machine) {
  const out = [];
  const visit = (node) => {
    for (const child of Object.values(node.states ?? {})) {
      out.push({
        id: child.id,
        key: child.key,
        path: child.path.join('.'),
        explicitId: typeof child.config.id === 'string' ? child.config.id : null,
        type: child.type
      });
      visit(child);
    }
  };
  visit(machine.root);
  return out;
}

function allNodes(machine) {
  const out = [machine.root];
  for (let i = 0; i < out.length; i++) out.push(...Object.values(out[i].states ?? {}));
  return out;
}

// Touch every lazily resolved transition so that a bad target shows here.
function resolveAll(machine) {
  for (const node of allNodes(machine)) {
    void node.on;
    void node.after;
    void node.always;
    void node.transitions;
  }
}

// A concrete event for a descriptor: "a.*" matches "a.any", "*" matches anything.
function concrete(descriptor) {
  if (descriptor === '*') return 'ANY_EVENT';
  if (descriptor.endsWith('.*')) return `${descriptor.slice(0, -2)}.any`;
  return descriptor;
}

function isInternal(type) {
  return type.startsWith('xstate.done.state.');
}

function invokeIds(node) {
  return (node.invoke ?? []).map((inv) => inv.id);
}

function eventObject(type) {
  if (type.startsWith('xstate.done.actor.')) return { type, output: null };
  if (type.startsWith('xstate.error.actor.')) {
    return { type, error: { message: 'error fed by the corpus runner' } };
  }
  return { type };
}

function weightOf(type) {
  return type.startsWith('xstate.error.actor.') ? ERROR_WEIGHT : 1;
}

function alphabet(machine) {
  const events = new Set();
  for (const node of allNodes(machine)) {
    for (const key of Object.keys(node.on ?? {})) {
      if (!isInternal(key)) events.add(concrete(key));
    }
    for (const id of invokeIds(node)) {
      events.add(`xstate.done.actor.${id}`);
      events.add(`xstate.error.actor.${id}`);
    }
  }
  return [...events].sort();
}

function candidates(snapshot) {
  const events = new Set();
  for (const node of snapshot._nodes) {
    for (const key of Object.keys(node.on ?? {})) {
      if (!isInternal(key)) events.add(concrete(key));
    }
    for (const id of invokeIds(node)) {
      if (snapshot.children[id]) {
        events.add(`xstate.done.actor.${id}`);
        events.add(`xstate.error.actor.${id}`);
      }
    }
  }
  return [...events].sort();
}

function record(event, guards, snapshot) {
  return {
    event,
    guards,
    value: snapshot.value,
    status: snapshot.status,
    active: snapshot._nodes.map((n) => n.id)
  };
}

function runWalk(machine, oracle, rng, events, steps) {
  const walk = [];
  oracle.rng = rng;
  oracle.log = [];
  let snapshot;
  try {
    [snapshot] = initialTransition(machine);
  } catch (err) {
    walk.push({ event: null, guards: oracle.log, error: err.message });
    return walk;
  }
  walk.push(record(null, oracle.log, snapshot));
  for (let i = 0; i < steps && snapshot.status === 'active'; i++) {
    const handled = candidates(snapshot);
    const pool = handled.length && rng() >= STRAY ? handled : events;
    if (!pool.length) break;
    const type = pickWeighted(rng, pool.map((t) => ({ type: t, weight: weightOf(t) }))).type;
    const event = eventObject(type);
    oracle.log = [];
    try {
      [snapshot] = transition(machine, snapshot, event);
    } catch (err) {
      walk.push({ event, guards: oracle.log, error: err.message });
      break;
    }
    walk.push(record(event, oracle.log, snapshot));
  }
  return walk;
}

// The file's config in XState, with stubs driven by the oracle: {out, machine}, where
// out.ok says whether XState accepts the config as written.
function loadFile(file, oracle) {
  const name = basename(file).replace(/\.json$/, '');
  const out = { name, file, ok: false };
  let config;
  try {
    config = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    out.error = `not JSON: ${err.message}`;
    return { out };
  }
  const names = referencedNames(config);
  out.implementations = names;
  oracle.rng = mulberry32(0);
  try {
    // The config exactly as written: does XState accept it?
    const plain = buildMachine(config, names, oracle);
    resolveAll(plain);
    initialTransition(plain);
  } catch (err) {
    out.error = err.message;
    return { out };
  }
  out.ok = true;
  const machine = buildMachine(config, names, oracle, { maxIterations: MAX_ITERATIONS });
  return { out, machine };
}

function runFile(file, opts) {
  const oracle = makeOracle(opts.guards);
  const { out, machine } = loadFile(file, oracle);
  if (!out.ok) return out;
  const name = out.name;
  out.states = stateNodes(machine);
  out.events = alphabet(machine);
  const rng = mulberry32(hashString(name) ^ opts.seed);
  out.walks = [];
  for (let w = 0; w < opts.walks; w++) {
    out.walks.push(runWalk(machine, oracle, rng, out.events, opts.steps));
  }
  return out;
}

// ------------------------------------------------------------------ replay mode

function heldIn(obj) {
  const held = obj && typeof obj === 'object' ? obj.$guards : undefined;
  return held && typeof held === 'object' ? held : {};
}

function replayTrace(machine, oracle, trace) {
  const steps = [];
  const input = trace.input ?? undefined;
  oracle.log = [];
  oracle.held = heldIn(input);
  let snapshot;
  try {
    [snapshot] = initialTransition(machine, input);
  } catch (err) {
    steps.push({ event: null, guards: oracle.log, error: err.message });
    return steps;
  }
  steps.push(record(null, oracle.log, snapshot));
  for (const event of trace.events ?? []) {
    oracle.log = [];
    oracle.held = heldIn(event);
    try {
      [snapshot] = transition(machine, snapshot, event);
    } catch (err) {
      steps.push({ event, guards: oracle.log, error: err.message });
      break;
    }
    steps.push(record(event, oracle.log, snapshot));
  }
  return steps;
}

function replayFile(entry) {
  const oracle = makeOracle('replay');
  const { out, machine } = loadFile(entry.file, oracle);
  if (!out.ok) return out;
  out.traces = (entry.traces ?? []).map((trace) => replayTrace(machine, oracle, trace));
  return out;
}

function replayMain(source) {
  let request;
  try {
    request = JSON.parse(readFileSync(source === '-' ? 0 : source, 'utf8'));
    if (!request || !Array.isArray(request.machines)) {
      throw new Error('the request needs "machines": [{"file", "traces"}]');
    }
  } catch (err) {
    process.stdout.write(JSON.stringify({ error: `bad request: ${err.message}` }) + '\n');
    return 2;
  }
  const machines = request.machines.map(replayFile);
  process.stdout.write(JSON.stringify({ machines }) + '\n');
  return 0;
}

function parseArgs(argv) {
  const opts = { seed: 1, walks: 20, steps: 30, guards: 'evaluation', files: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--guards') {
      opts.guards = argv[++i];
      if (opts.guards !== 'evaluation' && opts.guards !== 'step') {
        throw new Error('--guards takes "evaluation" or "step"');
      }
    } else if (a === '--seed' || a === '--walks' || a === '--steps') {
      const v = Number(argv[++i]);
      if (!Number.isInteger(v) || v < 0) throw new Error(`${a} needs a non-negative integer`);
      opts[a.slice(2)] = v;
    } else {
      opts.files.push(a);
    }
  }
  if (!opts.files.length) {
    throw new Error(
      'usage: xstate_corpus.mjs [--seed N] [--walks W] [--steps S] [--guards evaluation|step] ' +
        'FILE.json...'
    );
  }
  return opts;
}

function main(argv) {
  if (argv[0] === '--replay') {
    if (argv.length !== 2) {
      process.stdout.write(JSON.stringify({ error: 'usage: --replay REQUEST.json|-' }) + '\n');
      return 2;
    }
    return replayMain(argv[1]);
  }
  let opts;
  try {
    opts = parseArgs(argv);
  } catch (err) {
    process.stdout.write(JSON.stringify({ error: err.message }) + '\n');
    return 2;
  }
  const machines = opts.files.map((f) => runFile(f, opts));
  const { files: _files, ...rest } = opts;
  process.stdout.write(JSON.stringify({ ...rest, machines }) + '\n');
  return 0;
}

process.exitCode = main(process.argv.slice(2));

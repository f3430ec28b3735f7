#!/usr/bin/env node
// Conformance runner: replays event traces through real XState v5 (pure API)
// so that flowcheck's Python stepper can be compared step by step.
//
// Usage:
//   node run.mjs REQUEST.json        (or "-" to read the request from stdin)
//   node run.mjs --load FILE.json    (only check that each config builds)
//
// Request:
//   {"machines": [{"name": str, "config": <XState v5 config JSON>,
//                  "manifest": <manifest JSON>, "input"?: any,
//                  "traces": [[<event>, ...], ...]}]}
// Result (stdout):
//   {"machines": [{"name": str, "traces": [[<step>, ...], ...]}]}
//   step = {"value", "context", "status", "output"?, "actions": [{"type", "params", "sent"?}]}
//   "output" is there when the status is "done": the machine's output (the root
//   config's "output", flowcheck expressions over the context turned into XState's
//   output function), null when the config declares none.
//   The first step of each trace is the initial snapshot (initialTransition),
//   then one step per event (transition). "actions" lists, in execution order,
//   only the named actions whose manifest kind is "track", "custom" or
//   "sendParent"; other XState built-ins (assign, raise, spawnChild, stopChild,
//   cancel, ...) are left out. A "sendParent" action is recorded as
//   {"type": <its name>, "params": {"event": <the event type sent>}}. Track actions add "sent": their properties plus the included
//   context fields, read from the context at that moment of the step. Once the status is no longer "active" ("done", or "error" after
//   an unhandled xstate.error.actor.* event), later events change nothing and
//   execute no action, as with a running actor, which has stopped by then.
//   If XState throws while replaying a trace (for example a guard that
//   throws, or an endless loop of eventless transitions), the trace ends with
//   {"error": message} in place of a step, and the other traces still run.
// Errors in the request or a config that does not build: {"error": message}
// on stdout and exit code 2.
//
// --load result: {"machines": [{"name": str, "ok": true} |
//                              {"name": str, "ok": false, "error": str}]}
// exit code 0 when every config builds, 2 otherwise.
//
// Only the pure API is used: initialTransition(machine, input) and
// transition(machine, snapshot, event). Invoked actors are never started;
// their outcomes are fed as events ("xstate.done.actor.<id>",
// "xstate.error.actor.<id>"), and so are timers ("xstate.after.<delay>.<stateId>").
//
// Sends to the parent: the machine runs as if invoked by a parent flow. XState's
// sendParent throws when the actor has no parent, and the pure API's actor has
// none, so each "sendParent" action is XState's sendTo with a stand-in parent as
// its target; transition() returns it resolved, as "xstate.sendTo" with the
// target and the event, in its place among the executed actions, and the stand-in
// names the action it stands for. (The exported TypeScript sends only when the
// actor has a parent: run standalone, the flow tells no one.)

import { readFileSync, realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  assign,
  fromPromise,
  initialTransition,
  raise,
  sendTo,
  setup,
  transition
} from 'xstate';

const RECORDED_KINDS = new Set(['track', 'custom']);
const STANDS_FOR = Symbol('flowcheck.sendParent');
const DEFAULT_MAX_ITERATIONS = 10000;

class RequestError extends Error {}

// ---------------------------------------------------------------- expressions

function isNullish(v) {
  return v === null || v === undefined;
}

function deepEqual(a, b) {
  if (isNullish(a) && isNullish(b)) return true;
  if (a === b) return true;
  if (typeof a !== typeof b || isNullish(a) || isNullish(b)) return false;
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) {
      return false;
    }
    return a.every((x, i) => deepEqual(x, b[i]));
  }
  if (typeof a === 'object') {
    const ka = Object.keys(a);
    const kb = Object.keys(b);
    if (ka.length !== kb.length) return false;
    return ka.every((k) => Object.hasOwn(b, k) && deepEqual(a[k], b[k]));
  }
  return false;
}

function lookup(path, scope) {
  const parts = path.split('.');
  if (parts[0] !== 'context' && parts[0] !== 'event') {
    throw new Error(`ref '${path}' must start with 'context.' or 'event.'`);
  }
  let cur = scope[parts[0]];
  for (const part of parts.slice(1)) {
    if (isNullish(cur) || typeof cur !== 'object') return null;
    if (!Object.hasOwn(cur, part)) return null;
    cur = cur[part];
  }
  return isNullish(cur) ? null : cur;
}

// The expression language has Python truthiness: empty lists and objects are false.
function truthy(v) {
  if (Array.isArray(v)) return v.length > 0;
  if (v !== null && typeof v === 'object') return Object.keys(v).length > 0;
  return Boolean(v);
}

function asArray(v, op) {
  if (isNullish(v)) return [];
  if (!Array.isArray(v)) throw new Error(`'${op}' expects an array, got ${JSON.stringify(v)}`);
  return v;
}

function compare(op, a, b) {
  if (isNullish(a) || isNullish(b)) return false;
  switch (op) {
    case 'lt': return a < b;
    case 'le': return a <= b;
    case 'gt': return a > b;
    default: return a >= b;
  }
}

function arity(op, args, n) {
  if (args.length !== n) {
    throw new Error(`'${op}' takes ${n} argument(s), got ${args.length}`);
  }
}

function evalExpr(expr, scope) {
  if (isNullish(expr) || typeof expr !== 'object' || Array.isArray(expr)) {
    throw new Error(`not an expression: ${JSON.stringify(expr)}`);
  }
  if ('ref' in expr) return lookup(expr.ref, scope);
  if ('lit' in expr) return isNullish(expr.lit) ? null : expr.lit;
  if (!('op' in expr)) throw new Error(`not an expression: ${JSON.stringify(expr)}`);
  const { op } = expr;
  const args = expr.args ?? [];
  const ev = (i) => evalExpr(args[i], scope);
  switch (op) {
    case 'nonempty': {
      arity(op, args, 1);
      const v = ev(0);
      return !(isNullish(v) || v === '' || (Array.isArray(v) && v.length === 0));
    }
    case 'count': {
      arity(op, args, 1);
      const v = ev(0);
      return typeof v === 'string' ? v.length : asArray(v, op).length;
    }
    case 'eq':
      arity(op, args, 2);
      return deepEqual(ev(0), ev(1));
    case 'ne':
      arity(op, args, 2);
      return !deepEqual(ev(0), ev(1));
    case 'lt':
    case 'le':
    case 'gt':
    case 'ge':
      arity(op, args, 2);
      return compare(op, ev(0), ev(1));
    case 'and':
      for (let i = 0; i < args.length; i++) if (!truthy(ev(i))) return false;
      return true;
    case 'or':
      for (let i = 0; i < args.length; i++) if (truthy(ev(i))) return true;
      return false;
    case 'not':
      arity(op, args, 1);
      return !truthy(ev(0));
    case 'in': {
      arity(op, args, 2);
      const item = ev(0);
      const coll = ev(1);
      if (typeof coll === 'string') return typeof item === 'string' && coll.includes(item);
      return asArray(coll, op).some((x) => deepEqual(x, item));
    }
    case 'append': {
      arity(op, args, 2);
      const arr = asArray(ev(0), op);
      const item = ev(1);
      return arr.some((x) => deepEqual(x, item)) ? [...arr] : [...arr, item];
    }
    case 'remove': {
      arity(op, args, 2);
      const item = ev(1);
      return asArray(ev(0), op).filter((x) => !deepEqual(x, item));
    }
    case 'add': {
      let sum = 0;
      for (let i = 0; i < args.length; i++) {
        const v = ev(i);
        if (isNullish(v)) continue;
        if (typeof v !== 'number') throw new Error(`'add' expects numbers, got ${JSON.stringify(v)}`);
        sum += v;
      }
      return sum;
    }
    default:
      throw new Error(`unknown op '${op}'`);
  }
}

// ------------------------------------------------------------ implementations

function buildImplementations(manifest) {
  if (isNullish(manifest) || typeof manifest !== 'object') {
    throw new RequestError('manifest missing or not an object');
  }
  const guards = {};
  for (const [name, spec] of Object.entries(manifest.guards ?? {})) {
    if (isNullish(spec?.expr)) throw new RequestError(`guard '${name}' has no expr`);
    guards[name] = ({ context, event }) => truthy(evalExpr(spec.expr, { context, event }));
  }
  const actions = {};
  for (const [name, spec] of Object.entries(manifest.actions ?? {})) {
    switch (spec?.kind) {
      case 'assign': {
        const updates = Object.entries(spec.updates ?? {});
        // Every update reads the context as it was before this assign.
        actions[name] = assign(({ context, event }) => {
          const out = {};
          for (const [field, expr] of updates) out[field] = evalExpr(expr, { context, event });
          return out;
        });
        break;
      }
      case 'raise':
        if (typeof spec.event !== 'string') {
          throw new RequestError(`raise action '${name}' has no event name`);
        }
        actions[name] = raise({ type: spec.event });
        break;
      case 'sendParent': {
        if (typeof spec.event !== 'string') {
          throw new RequestError(`sendParent action '${name}' has no event name`);
        }
        // A stand-in parent: the pure API never delivers, it only resolves the target.
        const parent = { id: '#_parent', sessionId: '', send() {}, [STANDS_FOR]: name };
        actions[name] = sendTo(() => parent, { type: spec.event });
        break;
      }
      case 'track':
      case 'custom':
        // Plain functions: the pure API does not run them, it returns them.
        actions[name] = () => {};
        break;
      default:
        throw new RequestError(`action '${name}' has unknown kind ${JSON.stringify(spec?.kind)}`);
    }
  }
  const actors = {};
  for (const [name, spec] of Object.entries(manifest.actors ?? {})) {
    if (spec?.kind !== 'rpc' && spec?.kind !== 'flow') {
      throw new RequestError(`actor '${name}' has unknown kind ${JSON.stringify(spec?.kind)}`);
    }
    // Never settles: outcomes are fed to the machine as events.
    actors[name] = fromPromise(() => new Promise(() => {}));
  }
  const delays = {};
  for (const [name, spec] of Object.entries(manifest.delays ?? {})) {
    if (typeof spec?.ms !== 'number') throw new RequestError(`delay '${name}' has no ms`);
    delays[name] = spec.ms;
  }
  return { guards, actions, actors, delays };
}

// Names the config refers to that the manifest does not implement. XState
// itself is lenient here (an unknown action is silently skipped and an
// unknown delay fires at once), so catch them before running anything.
function missingImplementations(config, impl) {
  const missing = [];
  const note = (kind, name, where) => missing.push(`${kind} '${name}' (at ${where})`);
  const checkActions = (list, where) => {
    for (const a of list === undefined ? [] : Array.isArray(list) ? list : [list]) {
      const name = typeof a === 'string' ? a : a?.type;
      if (typeof name !== 'string') {
        note('action', JSON.stringify(a), where);
      } else if (!Object.hasOwn(impl.actions, name)) {
        note('action', name, where);
      }
    }
  };
  const checkGuard = (g, where) => {
    if (g === undefined) return;
    const name = typeof g === 'string' ? g : g?.type;
    if (typeof name !== 'string' || !Object.hasOwn(impl.guards, name)) {
      note('guard', typeof name === 'string' ? name : JSON.stringify(g), where);
    }
  };
  const checkTransitions = (t, where) => {
    for (const tr of t === undefined ? [] : Array.isArray(t) ? t : [t]) {
      if (tr && typeof tr === 'object') {
        checkGuard(tr.guard, where);
        checkActions(tr.actions, where);
      }
    }
  };
  const walk = (node, path) => {
    if (!node || typeof node !== 'object') return;
    checkActions(node.entry, `${path}.entry`);
    checkActions(node.exit, `${path}.exit`);
    for (const [ev, t] of Object.entries(node.on ?? {})) checkTransitions(t, `${path}.on.${ev}`);
    checkTransitions(node.always, `${path}.always`);
    checkTransitions(node.onDone, `${path}.onDone`);
    for (const [delay, t] of Object.entries(node.after ?? {})) {
      if (Number.isNaN(+delay) && !Object.hasOwn(impl.delays, delay)) {
        note('delay', delay, `${path}.after`);
      }
      checkTransitions(t, `${path}.after.${delay}`);
    }
    const invokes = node.invoke === undefined ? [] : Array.isArray(node.invoke) ? node.invoke : [node.invoke];
    invokes.forEach((inv, i) => {
      if (typeof inv?.src !== 'string' || !Object.hasOwn(impl.actors, inv.src)) {
        note('actor', String(inv?.src), `${path}.invoke[${i}]`);
      }
      checkTransitions(inv?.onDone, `${path}.invoke[${i}].onDone`);
      checkTransitions(inv?.onError, `${path}.invoke[${i}].onError`);
    });
    for (const [key, child] of Object.entries(node.states ?? {})) walk(child, `${path}.${key}`);
  };
  walk(config, '(root)');
  return missing;
}

// The root "output" of an exported config maps keys to expressions; XState wants a
// function of the context (and the done event, which flowcheck's output never reads).
function outputFunction(spec) {
  if (typeof spec !== 'object' || Array.isArray(spec)) {
    throw new RequestError(`"output" must be an object of expressions, got ${JSON.stringify(spec)}`);
  }
  const entries = Object.entries(spec);
  return ({ context, event }) => {
    const out = {};
    for (const [key, expr] of entries) out[key] = evalExpr(expr, { context, event });
    return out;
  };
}

function buildMachine(entry) {
  if (isNullish(entry?.config) || typeof entry.config !== 'object') {
    throw new RequestError(`machine '${entry?.name}': config missing`);
  }
  const impl = buildImplementations(entry.manifest);
  const missing = missingImplementations(entry.config, impl);
  if (missing.length) {
    throw new RequestError(`not implemented by the manifest: ${missing.join(', ')}`);
  }
  // XState's default is no limit, so a cycle of eventless transitions would
  // hang the runner; with a bound it throws "Infinite loop detected" instead.
  const config = {
    ...entry.config,
    options: { maxIterations: DEFAULT_MAX_ITERATIONS, ...entry.config.options }
  };
  if (!isNullish(entry.config.output)) config.output = outputFunction(entry.config.output);
  return setup(impl).createMachine(config);
}

// ------------------------------------------------------------------- running

// A track action also reports what it would send: its literal properties plus
// the included context fields as they are at that moment of the step.
function recordAction(a, recorded) {
  const out = { type: a.type, params: a.params ?? {} };
  if (recorded.get(a.type) === 'track') {
    const sent = { ...(a.params?.properties ?? {}) };
    for (const name of a.params?.include ?? []) sent[name] = a.info?.context?.[name] ?? null;
    out.sent = sent;
  }
  return out;
}

// A resolved sendTo whose target is a stand-in parent: the sendParent action it stands for.
function sentToParent(a) {
  if (a.type !== 'xstate.sendTo') return null;
  const name = a.params?.to?.[STANDS_FOR];
  return typeof name === 'string' ? { type: name, params: { event: a.params.event?.type } } : null;
}

function toStep(snapshot, executed, recorded) {
  const actions = [];
  for (const a of executed) {
    const sent = sentToParent(a);
    if (sent) actions.push(sent);
    else if (recorded.has(a.type)) actions.push(recordAction(a, recorded));
  }
  const step = {
    value: snapshot.value,
    context: snapshot.context ?? null,
    status: snapshot.status,
    actions
  };
  if (snapshot.status === 'done') step.output = snapshot.output ?? null;
  return step;
}

function runTrace(machine, entry, recorded, events) {
  const steps = [];
  try {
    let [snapshot, executed] = initialTransition(machine, entry.input);
    steps.push(toStep(snapshot, executed, recorded));
    for (const event of events) {
      if (isNullish(event) || typeof event !== 'object' || typeof event.type !== 'string') {
        throw new RequestError(`machine '${entry.name}': bad event ${JSON.stringify(event)}`);
      }
      // The pure API keeps transitioning a snapshot whose status is 'done' or
      // 'error' (it would even run exit actions again); a running actor is
      // stopped by then and drops the event. Mirror the actor.
      if (snapshot.status === 'active') {
        [snapshot, executed] = transition(machine, snapshot, event);
      } else {
        executed = [];
      }
      steps.push(toStep(snapshot, executed, recorded));
    }
  } catch (err) {
    if (err instanceof RequestError) throw err;
    steps.push({ error: err.message });
  }
  return steps;
}

function readRequest(arg) {
  const text = arg === '-' ? readFileSync(0, 'utf8') : readFileSync(arg, 'utf8');
  return JSON.parse(text);
}

function requestMachines(request) {
  if (Array.isArray(request?.machines)) return request.machines;
  // A bare config file (optionally with a manifest next to it) for --load.
  if (request && typeof request === 'object' && request.config) return [request];
  throw new RequestError('request has no "machines" list');
}

function run(request) {
  const out = [];
  for (const entry of requestMachines(request)) {
    let machine;
    try {
      machine = buildMachine(entry);
    } catch (err) {
      throw new RequestError(`machine '${entry?.name}': ${err.message}`);
    }
    const recorded = new Map(
      Object.entries(entry.manifest.actions ?? {})
        .filter(([, spec]) => RECORDED_KINDS.has(spec.kind))
        .map(([name, spec]) => [name, spec.kind])
    );
    if (!Array.isArray(entry.traces ?? [])) {
      throw new RequestError(`machine '${entry.name}': traces must be a list`);
    }
    const traces = (entry.traces ?? []).map((events) => {
      if (!Array.isArray(events)) {
        throw new RequestError(`machine '${entry.name}': each trace must be a list of events`);
      }
      return runTrace(machine, entry, recorded, events);
    });
    out.push({ name: entry.name, traces });
  }
  return { machines: out };
}

function load(request) {
  const out = [];
  for (const entry of requestMachines(request)) {
    try {
      buildMachine({ manifest: {}, ...entry });
      out.push({ name: entry.name, ok: true });
    } catch (err) {
      out.push({ name: entry?.name, ok: false, error: err.message });
    }
  }
  return { machines: out };
}

function main(argv) {
  const loadOnly = argv[0] === '--load';
  const file = loadOnly ? argv[1] : argv[0];
  if (!file) {
    process.stdout.write(JSON.stringify({ error: 'usage: run.mjs [--load] FILE.json|-' }) + '\n');
    return 2;
  }
  try {
    const request = readRequest(file);
    const result = loadOnly ? load(request) : run(request);
    process.stdout.write(JSON.stringify(result) + '\n');
    return loadOnly && result.machines.some((m) => !m.ok) ? 2 : 0;
  } catch (err) {
    process.stdout.write(JSON.stringify({ error: err.message }) + '\n');
    return 2;
  }
}

export { buildMachine, evalExpr, load, run };

const invokedDirectly =
  process.argv[1] !== undefined &&
  realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url));
if (invokedDirectly) {
  process.exitCode = main(process.argv.slice(2));
}

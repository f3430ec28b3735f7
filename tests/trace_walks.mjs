// Random walks of exported flows through real XState, traced by the docs' `track` sink.
//
//   node trace_walks.mjs REQUEST.json
//
// The request names a directory holding what `flowcheck export` wrote (the typed
// `<flow>.machine.ts` modules and `flowcheck-runtime.ts`), the sink module of
// docs/traces.md (`trace-sink.ts`, exporting `traceSink`) and a `node_modules` with
// typescript and xstate. Every .ts file there is transpiled beside itself (.mjs), then each
// walk creates its flow's machine with `create<Flow>Machine({ track: trace('<flow>'), rpc,
// flows })`, as a frontend does, and runs it as an actor on XState's simulated clock:
//
//   {"dir": str,
//    "flows": {"<flow id>": {"module": "checkout.machine.mjs", "factory": "createCheckoutMachine",
//                            "events": [{"type": ..., ...payload}],      the users' letters
//                            "rare": ["<event>"],      events that leave the flow (cancel)
//                            "rpc": {"<method>": {"outputs": [...], "errors": ["code"]}},
//                            "children": {"<deps.flows key>": "<flow id>"}}},
//    "walks": [{"flow": str, "sessions": int, "seed": int, "inputs": [input | null],
//               "maxActions": int, "cutOff": float}]}
//
// A walk is a series of actions, each picked at random among what can happen next: a user
// sends an event one of the running flows (the walk's flow, or a child flow it runs)
// accepts (`snapshot.can`), after a pause; a pending RPC answers with one of its outputs or
// errors (three times in four an output), after a latency; the clock moves on past the next timer. A session ends when
// its flow is done, after maxActions, or, with probability cutOff per action, at once (the
// tab closed: nothing more is written, nothing is stopped).
//
// Prints one JSON object: {"lines": [NDJSON line, ...], "actions": [action number of each
// line, ...], "sessions": [{"session", "flow", "done": bool, "lines": int}]}. Lines written
// by one action (one event sent, one RPC answered, one clock move) share its number.
import { readFileSync, writeFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { createRequire } from 'node:module';

const request = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const dir = request.dir;
const require = createRequire(join(dir, 'node_modules', 'noop.js'));
const ts = require('typescript');
const xstate = await import(pathToFileURL(require.resolve('xstate')).href);

for (const name of readdirSync(dir).filter((n) => n.endsWith('.ts'))) {
  const out = ts.transpileModule(readFileSync(join(dir, name), 'utf8'), {
    compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
  });
  // Relative imports get the suffix Node needs.
  const js = out.outputText.replace(/from '(\.\/[^']+)'/g, "from '$1.mjs'");
  writeFileSync(join(dir, name.replace(/\.ts$/, '.mjs')), js);
}
const { traceSink } = await import(pathToFileURL(join(dir, 'trace-sink.mjs')).href);
const modules = {};
for (const [flow, spec] of Object.entries(request.flows)) {
  modules[flow] = await import(pathToFileURL(join(dir, spec.module)).href);
}

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

const settle = () => new Promise((resolve) => setImmediate(resolve));
const lines = [];
const actions = [];
const sessions = [];
let action = 0;
const BASE = Date.UTC(2025, 4, 1, 9, 0, 0);

for (const walk of request.walks) {
  const random = mulberry32(walk.seed);
  const pick = (list) => list[Math.floor(random() * list.length)];
  for (let n = 0; n < walk.sessions; n++) {
    const session = `${walk.flow}-${walk.seed}-${n}`;
    const clock = new xstate.SimulatedClock();
    const started = BASE + Math.floor(random() * 86_400_000);
    const pending = [];
    const before = lines.length;
    const trace = traceSink(session, (line) => {
      lines.push(line);
      actions.push(action);
    }, () => started + clock.now());

    const build = (flow) => {
      const spec = request.flows[flow];
      const rpc = {};
      for (const [method, outcomes] of Object.entries(spec.rpc)) {
        rpc[method] = () => new Promise((resolve, reject) => {
          pending.push({ method, outcomes, resolve, reject });
        });
      }
      const flows = {};
      for (const [key, child] of Object.entries(spec.children)) flows[key] = build(child);
      return modules[flow][spec.factory]({ track: trace(flow), rpc, flows });
    };

    const input = pick(walk.inputs);
    const actor = xstate.createActor(build(walk.flow), input === null ? { clock } : { clock, input });
    action += 1;
    actor.start();
    await settle();

    const running = () => {
      const out = [];
      const visit = (ref) => {
        const snap = ref.getSnapshot();
        if (!snap || snap.status !== 'active' || typeof snap.can !== 'function') return;
        out.push(ref);
        for (const child of Object.values(snap.children ?? {})) if (child) visit(child);
      };
      visit(actor);
      return out;
    };

    for (let step = 0; step < walk.maxActions; step++) {
      if (actor.getSnapshot().status !== 'active') break;
      if (random() < walk.cutOff) break;
      // [weight, kind, ...]: steps that move somewhere are likelier than typing into a
      // form, and leaving the flow (the flow's "rare" events) is unlikely.
      const choices = pending.map((call) => [4, 'answer', call]);
      if (clock.timeouts.size) choices.push([4, 'wait']);
      for (const ref of running()) {
        const spec = request.flows[ref.logic.id];
        for (const event of spec?.events ?? []) {
          const snap = ref.getSnapshot();
          if (!snap.can(event)) continue;
          const moves = ref.logic.getTransitionData(snap, event).some((t) => t.target?.length);
          const weight = spec.rare.includes(event.type) ? 0.05 : moves ? 4 : 1;
          choices.push([weight, 'send', ref, event]);
        }
      }
      if (!choices.length) break;
      let r = random() * choices.reduce((sum, c) => sum + c[0], 0);
      const chosen = choices.find((c) => (r -= c[0]) < 0) ?? choices[choices.length - 1];
      const [, kind, a, b] = chosen;
      action += 1;
      if (kind === 'answer') {
        pending.splice(pending.indexOf(a), 1);
        clock.increment(100 + Math.floor(random() * 3000));  // latency
        action += 1;
        const { outputs, errors } = a.outcomes;
        // Calls mostly succeed.
        if (outputs.length && (!errors.length || random() < 0.75)) a.resolve(structuredClone(pick(outputs)));
        else a.reject({ code: pick(errors) });
      } else if (kind === 'wait') {
        const due = Math.min(...[...clock.timeouts.values()].map((t) => t.start + t.timeout));
        clock.set(Math.max(due, clock.now()));
      } else {
        clock.increment(500 + Math.floor(random() * 20_000));  // the user thinks
        action += 1;
        if (a.getSnapshot().status === 'active') a.send(structuredClone(b));
      }
      await settle();
    }
    sessions.push({
      session,
      flow: walk.flow,
      done: actor.getSnapshot().status === 'done',
      lines: lines.length - before,
    });
  }
}

process.stdout.write(JSON.stringify({ lines, actions, sessions }));

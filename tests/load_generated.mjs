// Loads what `flowcheck export` generated for one flow into Node and runs it: the typed
// module (transpiled by TypeScript, then imported and its machine started once per event,
// every event sent) and the JSON config (parsed, given stub implementations, started the
// same way). Used by tests/test_injection.py, which looks for the canaries a hostile name
// would set if it ran: `globalThis.__pwned` and a file.
//
//   node load_generated.mjs <export dir> <flow name> <events as a JSON list> <canary path>
//
// Prints one JSON line: what loaded, what was sent, and whether a canary fired.
import { readFileSync, writeFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { createRequire } from 'node:module';

const [dir, stem, eventsJson, canary] = process.argv.slice(2);
globalThis.__canary = canary;
const require = createRequire(join(dir, 'node_modules', 'noop.js'));
const ts = require('typescript');
const xstate = await import(pathToFileURL(require.resolve('xstate')).href);
const events = JSON.parse(eventsJson);

// TypeScript -> JavaScript, each module beside its source; the runtime import gets its suffix.
const diagnostics = [];
for (const name of readdirSync(dir).filter((n) => n.endsWith('.ts'))) {
  const source = readFileSync(join(dir, name), 'utf8');
  const out = ts.transpileModule(source, {
    compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
    reportDiagnostics: true,
    fileName: name,
  });
  for (const d of out.diagnostics ?? []) {
    diagnostics.push(`${name}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`);
  }
  const js = out.outputText.replaceAll("from './flowcheck-runtime'", "from './flowcheck-runtime.mjs'");
  writeFileSync(join(dir, name.replace(/\.ts$/, '.mjs')), js);
}

// Implementations for every name, whatever it is.
const noop = () => {};
const anything = new Proxy({}, { get: () => noop });
const promises = new Proxy({}, { get: () => async () => ({}) });
const children = new Proxy({}, { get: () => xstate.createMachine({}) });
const deps = { track: noop, rpc: promises, flows: children, actions: anything };

const report = { diagnostics, typed: null, config: null, errors: [] };

function run(machine, label) {
  let started = 0;
  for (const type of [null, ...events]) {
    const actor = xstate.createActor(machine, { input: {} });
    actor.subscribe({ error: (e) => report.errors.push(`${label}: ${e}`) });
    try {
      actor.start();
      started += 1;
      if (type !== null) actor.send({ type });
    } catch (e) {
      report.errors.push(`${label}: ${e}`);
    }
    actor.stop();
  }
  return started;
}

const module = await import(pathToFileURL(join(dir, `${stem}.machine.mjs`)).href);
const factory = Object.entries(module).find(([k, v]) => /^create.*Machine$/.test(k) && typeof v === 'function');
report.typed = run(factory[1](deps), 'typed module');

const config = JSON.parse(readFileSync(join(dir, `${stem}.json`), 'utf8'));
const manifest = JSON.parse(readFileSync(join(dir, `${stem}.manifest.json`), 'utf8'));
const stubs = (names, value) => Object.fromEntries(names.map((n) => [n, value]));
const machine = xstate.setup({
  guards: stubs(Object.keys(manifest.guards), () => true),
  actions: stubs(['track', ...Object.keys(manifest.actions)], noop),
  actors: stubs(Object.keys(manifest.actors), xstate.fromPromise(async () => ({}))),
}).createMachine(config);
report.config = run(machine, 'config');

report.pwned = globalThis.__pwned ?? null;
console.log(JSON.stringify(report));

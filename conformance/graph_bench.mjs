// Times xstate/graph's getShortestPaths on one exported chart, with the event alphabet
// flowcheck explores: reads {"config", "manifest", "letters": [{event, requires}]} from the
// file in argv[2] and prints {"vertices", "paths", "seconds"}. Invoke outcomes are offered
// only while their invoke runs (as flowcheck does); user events always.
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { getShortestPaths } from '@xstate/graph';
import { buildMachine } from './run.mjs';

const request = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const machine = buildMachine({ name: 'bench', config: request.config, manifest: request.manifest });
const letters = request.letters;
const events = (snapshot) =>
  letters
    .filter((l) => !l.invoke || l.invoke in snapshot.children)
    .map((l) => l.event);

const started = performance.now();
const paths = getShortestPaths(machine, { events });
const seconds = (performance.now() - started) / 1000;
process.stdout.write(JSON.stringify({ vertices: paths.length, paths: paths.length, seconds }) + '\n');

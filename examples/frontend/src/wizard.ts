/**
 * The course builder machine, exactly as flowcheck exported it, with the app's
 * dependencies plugged in: the Course service calls, the analytics sink and the
 * `generation` child flow.
 */
import { fromPromise } from 'xstate';

import {
  createCourseBuilderMachine,
  type GenerationOutput,
} from '../../../exports/course_builder.machine';
import type { Analytics } from './analytics';
import { ConnectError, type GenerationService } from './backend';

export interface WizardDeps {
  courseService: Parameters<typeof createCourseBuilderMachine>[0]['rpc'];
  generationService: GenerationService;
  analytics: Analytics;
  /** How long to wait between two polls of a generation job, in ms. */
  pollIntervalMs?: number;
}

interface GenerationRequest {
  courseId: string;
  kind: string;
  idempotencyKey: string;
}

function wait(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(timer);
      reject(new ConnectError('canceled'));
    });
  });
}

/**
 * Runs one generation job: enqueue it, then poll until it settles. A failed job rejects
 * with `aborted`, the code the course builder routes to its `generation_failed` screen;
 * a failed call rejects with the call's own Connect code.
 *
 * The exported `generation` machine (exports/generation.machine.ts) also runs as this
 * child (wizard.test.ts does it), but it keeps a failed job in its own failure state,
 * waiting for a RETRY the course builder does not forward, instead of ending with an
 * error; so the app uses this actor, which reports failures the way the parent routes them.
 */
export function generationActor(service: GenerationService, pollIntervalMs: number) {
  return fromPromise<GenerationOutput, GenerationRequest>(async ({ input, signal }) => {
    const { jobId } = await service['mirai.v1.GenerationService/StartGeneration'](input);
    for (;;) {
      await wait(pollIntervalMs, signal);
      const job = await service['mirai.v1.GenerationService/GetGenerationJob']({ jobId });
      if (job.status === 'succeeded') return { jobId };
      if (job.status === 'failed') throw new ConnectError('aborted', `job ${jobId} failed`);
    }
  });
}

export function createWizardMachine(deps: WizardDeps) {
  return createCourseBuilderMachine({
    track: deps.analytics.track,
    rpc: deps.courseService,
    flows: { generation: generationActor(deps.generationService, deps.pollIntervalMs ?? 500) },
  });
}

export type WizardMachine = ReturnType<typeof createWizardMachine>;

let keys = 0;

/** A fresh idempotency key for a generation request (made here: the machine stays pure). */
export function newGenerationKey(): string {
  keys += 1;
  return `gen-${Date.now().toString(36)}-${keys}`;
}

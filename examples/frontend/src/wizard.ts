/**
 * The course builder machine, exactly as flowcheck exported it, with the app's
 * dependencies plugged in: the Course service calls, the analytics sink and the
 * `generation` child flow, itself the exported generation machine.
 *
 * How the two talk: the course builder invokes `generation` in its generating steps.
 * While it runs, the screen talks to the child (its RETRY after a network error or a
 * timeout, its GENERATION_CANCELLED); the child tells the course builder when its job
 * failed (it sends AI_GENERATION_FAILED to its parent, and the course builder shows
 * its own `generation_failed` screen, which stops the child) and when it ends (its
 * output carries the job id and the `outcome`, `succeeded` or `cancelled`).
 */
import type { ActorRefFrom } from 'xstate';

import { createCourseBuilderMachine } from '../../../exports/course_builder.machine';
import {
  createGenerationMachine,
  type GenerationMachine,
} from '../../../exports/generation.machine';
import type { Analytics } from './analytics';
import type { GenerationService } from './backend';

export interface WizardDeps {
  courseService: Parameters<typeof createCourseBuilderMachine>[0]['rpc'];
  generationService: GenerationService;
  analytics: Analytics;
  /** How long to wait between two polls of a generation job, in ms. */
  pollIntervalMs?: number;
}

export function createWizardMachine(deps: WizardDeps) {
  const generation = createGenerationMachine({
    track: deps.analytics.track,
    rpc: deps.generationService,
    delays: { POLL_INTERVAL: deps.pollIntervalMs ?? 500 },
  });
  return createCourseBuilderMachine({
    track: deps.analytics.track,
    rpc: deps.courseService,
    flows: { generation },
  });
}

export type WizardMachine = ReturnType<typeof createWizardMachine>;

/** A running generation child, as the screen talks to it. */
export type GenerationActor = ActorRefFrom<GenerationMachine>;

let keys = 0;

/** A fresh idempotency key for a generation request (made here: the machine stays pure). */
export function newGenerationKey(): string {
  keys += 1;
  return `gen-${Date.now().toString(36)}-${keys}`;
}

import { createActor, waitFor } from 'xstate';
import { describe, expect, it } from 'vitest';

import { createCourseBuilderMachine } from '../../../exports/course_builder.machine';
import { createGenerationMachine } from '../../../exports/generation.machine';
import { createAnalytics } from './analytics';
import { createFakeBackend } from './backend';
import { createWizardMachine } from './wizard';

function start() {
  const backend = createFakeBackend({ latencyMs: 2, pollsPerJob: 1 });
  const analytics = createAnalytics({ console: false });
  const machine = createWizardMachine({ ...backend, analytics, pollIntervalMs: 2 });
  const actor = createActor(machine, { input: {} });
  actor.start();
  return { actor, backend, analytics };
}

type Wizard = ReturnType<typeof start>['actor'];

async function fillBasics(actor: Wizard) {
  actor.send({ type: 'TITLE_CHANGED', title: 'Intro to Go' });
  actor.send({ type: 'DESIRED_OUTCOME_CHANGED', desiredOutcome: 'Write a CLI tool' });
  actor.send({ type: 'BASICS_SUBMITTED' });
}

async function chooseTargeting(actor: Wizard) {
  await waitFor(actor, (s) => s.matches('selectingSmes'));
  actor.send({ type: 'SME_SELECTED', smeId: 'sme_ada' });
  actor.send({ type: 'SMES_CONFIRMED' });
  actor.send({ type: 'AUDIENCE_SELECTED', audienceId: 'aud_backend' });
  actor.send({ type: 'AUDIENCES_CONFIRMED', generationKey: 'gen-1' });
}

describe('the exported course builder machine', () => {
  it('runs the happy path from basics to published', async () => {
    const { actor, backend, analytics } = start();
    await fillBasics(actor);
    await chooseTargeting(actor);
    await waitFor(actor, (s) => s.matches('reviewingOutline'));
    actor.send({ type: 'OUTLINE_APPROVED', generationKey: 'gen-2' });
    await waitFor(actor, (s) => s.matches('editor'));
    actor.send({ type: 'PREVIEW_OPENED' });
    actor.send({ type: 'PUBLISH_REQUESTED' });
    const done = await waitFor(actor, (s) => s.status === 'done');

    expect(done.value).toBe('published');
    expect(done.hasTag('success')).toBe(true);
    const { courseId, outlineJobId, lessonJobId } = done.context;
    expect(backend.courses.get(courseId)).toMatchObject({
      title: 'Intro to Go',
      smeIds: ['sme_ada'],
      audienceIds: ['aud_backend'],
    });
    expect(backend.courses.get(courseId)?.publishedUrl).toContain(courseId);
    expect(backend.jobs.get(outlineJobId)?.kind).toBe('outline');
    expect(backend.jobs.get(lessonJobId)?.kind).toBe('lessons');
    const names = analytics.events.map((e) => e.event);
    expect(names[0]).toBe('FLOW_STARTED');
    expect(names.at(-1)).toBe('FLOW_COMPLETED');
    expect(names).not.toContain('FLOW_FAILED');
  });

  it('shows a network error and RETRY repeats the failed call', async () => {
    const { actor, backend, analytics } = start();
    backend.failNext('mirai.v1.CourseService/CreateCourse', 'unavailable');
    await fillBasics(actor);
    const failed = await waitFor(actor, (s) => s.matches({ failure: 'network_error' }));

    expect(failed.context).toMatchObject({ failedStep: 'creatingCourse', error: 'unavailable' });
    expect(analytics.events.map((e) => e.event)).toContain('FLOW_FAILED');

    actor.send({ type: 'RETRY', generationKey: failed.context.generationKey });
    const recovered = await waitFor(actor, (s) => s.matches('selectingSmes'));
    expect(recovered.context).toMatchObject({ failedStep: '', error: null, title: 'Intro to Go' });
    expect(backend.courses.has(recovered.context.courseId)).toBe(true);
    expect(backend.calls.filter((m) => m.endsWith('/CreateCourse'))).toHaveLength(2);
  });

  it('regenerates with a fresh key after a failed generation job', async () => {
    const { actor, backend } = start();
    backend.failNextJob();
    await fillBasics(actor);
    await chooseTargeting(actor);
    const failed = await waitFor(actor, (s) => s.matches({ failure: 'generation_failed' }));
    expect(failed.context).toMatchObject({ failedStep: 'generatingOutline', error: 'aborted' });

    actor.send({ type: 'RETRY', generationKey: 'gen-1b' });
    const review = await waitFor(actor, (s) => s.matches('reviewingOutline'));
    expect(review.context.generationKey).toBe('gen-1b');
    expect(backend.jobs.get(review.context.outlineJobId)?.outcome).toBe('succeeded');
  });

  it('runs the exported generation machine as the child and reads its output', async () => {
    // The child's `output` is what reaches the parent's xstate.done.actor.generateOutline:
    // without it XState delivers `output: undefined` and setOutlineJob throws.
    const backend = createFakeBackend({ latencyMs: 2, pollsPerJob: 1 });
    const analytics = createAnalytics({ console: false });
    const generation = createGenerationMachine({
      track: analytics.track,
      rpc: {
        ...backend.generationService,
        'mirai.v1.GenerationService/CancelGeneration': async ({ jobId }) => ({ jobId }),
      },
      delays: { POLL_INTERVAL: 2 },
    });
    const machine = createCourseBuilderMachine({
      track: analytics.track,
      rpc: backend.courseService,
      flows: { generation },
    });
    const actor = createActor(machine, { input: {} });
    actor.start();
    await fillBasics(actor);
    await chooseTargeting(actor);
    const review = await waitFor(actor, (s) => s.matches('reviewingOutline'));

    expect(review.context.outlineJobId).not.toBe('');
    expect(backend.jobs.get(review.context.outlineJobId)?.kind).toBe('outline');
    const generated = analytics.events.filter((e) => e.properties.flow === 'generation');
    expect(generated.map((e) => e.event)).toContain('FLOW_COMPLETED');
  });
});

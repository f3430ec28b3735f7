import { createActor, waitFor } from 'xstate';
import { describe, expect, it } from 'vitest';

import { createAnalytics } from './analytics';
import { createFakeBackend } from './backend';
import { createWizardMachine, type GenerationActor } from './wizard';

function start() {
  const backend = createFakeBackend({ latencyMs: 2, pollsPerJob: 1 });
  const analytics = createAnalytics({ console: false });
  const machine = createWizardMachine({ ...backend, analytics, pollIntervalMs: 2 });
  const actor = createActor(machine, { input: {} });
  actor.start();
  return { actor, backend, analytics };
}

type Wizard = ReturnType<typeof start>['actor'];

/** The generation child of the generating step, once the course builder runs it. */
async function outlineChild(actor: Wizard): Promise<GenerationActor> {
  const running = await waitFor(actor, (s) => s.children.generateOutline !== undefined);
  const child: GenerationActor | undefined = running.children.generateOutline;
  if (child === undefined) throw new Error('no generation child');
  return child;
}

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
    // Both generations ran the exported generation machine to its success state.
    const generated = analytics.events.filter(
      (e) => e.properties.flow === 'generation' && e.event === 'FLOW_COMPLETED',
    );
    expect(generated).toHaveLength(2);
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

  it('shows a generation network error in the child and RETRY there resumes it', async () => {
    const { actor, backend } = start();
    backend.failNext('mirai.v1.GenerationService/StartGeneration', 'unavailable');
    await fillBasics(actor);
    await chooseTargeting(actor);
    const child = await outlineChild(actor);
    await waitFor(child, (s) => s.matches({ failure: 'network_error' }));
    // The course builder still runs the generating step: the child handles its own errors.
    expect(actor.getSnapshot().value).toBe('generatingOutline');

    child.send({ type: 'RETRY' });
    const review = await waitFor(actor, (s) => s.matches('reviewingOutline'));
    expect(backend.jobs.get(review.context.outlineJobId)?.idempotencyKey).toBe('gen-1');
    expect(backend.calls.filter((m) => m.endsWith('/StartGeneration'))).toHaveLength(2);
  });

  it('regenerates with a fresh key after a failed generation job (AI_GENERATION_FAILED)', async () => {
    const { actor, backend, analytics } = start();
    backend.failNextJob();
    await fillBasics(actor);
    await chooseTargeting(actor);
    // The child's job fails: it sends AI_GENERATION_FAILED to the course builder.
    const failed = await waitFor(actor, (s) => s.matches({ failure: 'generation_failed' }));
    expect(failed.context).toMatchObject({
      failedStep: 'generatingOutline',
      error: 'generation_failed',
    });
    expect(failed.children.generateOutline).toBeUndefined(); // leaving the step stopped it
    // Tracked by the child (with its job), then by the course builder (with its step).
    const tracked = analytics.events
      .filter((e) => e.event === 'AI_GENERATION_FAILED')
      .map((e) => e.properties);
    expect(tracked).toEqual([
      expect.objectContaining({ kind: 'outline', error: 'model_overloaded' }),
      expect.objectContaining({ failedStep: 'generatingOutline' }),
    ]);

    actor.send({ type: 'RETRY', generationKey: 'gen-1b' });
    const review = await waitFor(actor, (s) => s.matches('reviewingOutline'));
    expect(review.context.generationKey).toBe('gen-1b');
    expect(backend.jobs.get(review.context.outlineJobId)?.outcome).toBe('succeeded');
  });

  it('goes back to the audiences when the author stops the first outline', async () => {
    const { actor, backend } = start();
    await fillBasics(actor);
    await chooseTargeting(actor);
    const child = await outlineChild(actor);
    await waitFor(child, (s) => s.matches('waiting') || s.matches('polling'));
    child.send({ type: 'GENERATION_CANCELLED' });
    const back = await waitFor(actor, (s) => s.matches('selectingAudiences'));

    expect(back.context.outlineJobId).toBe('');
    expect(back.context.selectedAudienceIds).toEqual(['aud_backend']);
    expect(backend.calls).toContain('mirai.v1.GenerationService/CancelGeneration');
  });
});

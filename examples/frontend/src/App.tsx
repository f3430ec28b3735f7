import { useMachine, useSelector } from '@xstate/react';
import type { ReactNode } from 'react';

import type { Method } from './backend';
import { AUDIENCES, SMES, type Option } from './catalog';
import { newGenerationKey, type GenerationActor, type WizardMachine } from './wizard';

export interface AppProps {
  machine: WizardMachine;
  /** Makes the next call of a method fail (the demo's failure switch). */
  failNext?: (method: Method, code: string) => void;
  failNextJob?: () => void;
}

function Screen(props: { title: string; children?: ReactNode }) {
  return (
    <section className="screen">
      <h2>{props.title}</h2>
      {props.children}
    </section>
  );
}

function Choices(props: {
  options: readonly Option[];
  chosen: readonly string[];
  onToggle: (id: string, chosen: boolean) => void;
}) {
  return (
    <ul className="choices">
      {props.options.map((o) => (
        <li key={o.id}>
          <label>
            <input
              type="checkbox"
              checked={props.chosen.includes(o.id)}
              onChange={(e) => props.onToggle(o.id, e.target.checked)}
            />
            {o.name}
          </label>
        </li>
      ))}
    </ul>
  );
}

/**
 * The generating step: the generation child runs its own flow, and this screen talks to
 * it. A failed job is not shown here: the child tells the course builder, which moves on
 * to its generation_failed screen.
 */
function Generating(props: { what: string; child: GenerationActor | undefined }) {
  const { child } = props;
  const value = useSelector(child, (s) => s?.value);
  const failure = typeof value === 'object' ? value.failure : undefined;
  const retry = () => child?.send({ type: 'RETRY' });
  const stop = () => child?.send({ type: 'GENERATION_CANCELLED' });
  if (failure === 'network_error' || failure === 'timed_out' || failure === 'cancel_failed') {
    const why =
      failure === 'timed_out'
        ? 'The AI is taking longer than usual.'
        : 'We could not reach the generation service.';
    return (
      <Screen title={`Generating the ${props.what}…`}>
        <p className="error">{why}</p>
        <button onClick={retry}>Retry</button>
        {failure !== 'cancel_failed' && <button onClick={stop}>Stop generating</button>}
      </Screen>
    );
  }
  return (
    <Screen title={`Generating the ${props.what}…`}>
      <p className="hint">The AI is writing; this takes a few seconds.</p>
      {value !== 'cancelling' && <button onClick={stop}>Stop generating</button>}
    </Screen>
  );
}

const STEPS = [
  ['basics', 'Basics'],
  ['selectingSmes', 'Experts'],
  ['selectingAudiences', 'Audiences'],
  ['reviewingOutline', 'Outline'],
  ['editor', 'Lessons'],
  ['preview', 'Preview'],
] as const;

export function App({ machine, failNext, failNextJob }: AppProps) {
  const [state, send] = useMachine(machine, { input: {} });
  const { context } = state;
  const cancel = () => send({ type: 'COURSE_BUILDER_CANCELLED' });
  const cancellable = state.can({ type: 'COURSE_BUILDER_CANCELLED' });

  let screen: ReactNode;
  if (state.matches('basics')) {
    screen = (
      <Screen title="Course basics">
        <form
          onSubmit={(e) => {
            e.preventDefault();
            send({ type: 'BASICS_SUBMITTED' });
          }}
        >
          <label>
            Title
            <input
              value={context.title}
              onChange={(e) => send({ type: 'TITLE_CHANGED', title: e.target.value })}
            />
          </label>
          <label>
            After this course, learners can…
            <textarea
              value={context.desiredOutcome}
              onChange={(e) =>
                send({ type: 'DESIRED_OUTCOME_CHANGED', desiredOutcome: e.target.value })
              }
            />
          </label>
          <button type="submit" disabled={!state.can({ type: 'BASICS_SUBMITTED' })}>
            Next
          </button>
        </form>
      </Screen>
    );
  } else if (state.matches('selectingSmes')) {
    screen = (
      <Screen title="Subject-matter experts">
        <Choices
          options={SMES}
          chosen={context.selectedSmeIds}
          onToggle={(smeId, on) => send({ type: on ? 'SME_SELECTED' : 'SME_DESELECTED', smeId })}
        />
        <button onClick={() => send({ type: 'BACK' })}>Back</button>
        <button
          disabled={!state.can({ type: 'SMES_CONFIRMED' })}
          onClick={() => send({ type: 'SMES_CONFIRMED' })}
        >
          Next
        </button>
      </Screen>
    );
  } else if (state.matches('selectingAudiences')) {
    const confirm = { type: 'AUDIENCES_CONFIRMED', generationKey: newGenerationKey() } as const;
    screen = (
      <Screen title="Audiences">
        <Choices
          options={AUDIENCES}
          chosen={context.selectedAudienceIds}
          onToggle={(audienceId, on) =>
            send({ type: on ? 'AUDIENCE_SELECTED' : 'AUDIENCE_DESELECTED', audienceId })
          }
        />
        <button onClick={() => send({ type: 'BACK' })}>Back</button>
        <button disabled={!state.can(confirm)} onClick={() => send(confirm)}>
          Generate the outline
        </button>
      </Screen>
    );
  } else if (state.matches('creatingCourse')) {
    screen = <Screen title="Creating the draft course…" />;
  } else if (state.matches('savingTargeting')) {
    screen = <Screen title="Saving experts and audiences…" />;
  } else if (state.matches('generatingOutline')) {
    screen = <Generating what="outline" child={state.children.generateOutline} />;
  } else if (state.matches('generatingLessons')) {
    screen = <Generating what="lessons" child={state.children.generateLessons} />;
  } else if (state.matches('reviewingOutline')) {
    screen = (
      <Screen title="Review the outline">
        <p>Outline job {context.outlineJobId} is ready.</p>
        <button onClick={() => send({ type: 'BACK' })}>Back</button>
        <button
          onClick={() =>
            send({ type: 'OUTLINE_REGENERATION_REQUESTED', generationKey: newGenerationKey() })
          }
        >
          Regenerate
        </button>
        <button onClick={() => send({ type: 'OUTLINE_APPROVED', generationKey: newGenerationKey() })}>
          Approve and write the lessons
        </button>
      </Screen>
    );
  } else if (state.matches('editor')) {
    screen = (
      <Screen title="Edit the lessons">
        <p>Lessons job {context.lessonJobId} is ready to edit.</p>
        <button onClick={() => send({ type: 'PREVIEW_OPENED' })}>Preview</button>
      </Screen>
    );
  } else if (state.matches('preview')) {
    screen = (
      <Screen title={`Preview: ${context.title}`}>
        <p>{context.desiredOutcome}</p>
        <button onClick={() => send({ type: 'PREVIEW_CLOSED' })}>Back to the editor</button>
        <button onClick={() => send({ type: 'PUBLISH_REQUESTED' })}>Publish</button>
      </Screen>
    );
  } else if (state.matches('publishing')) {
    screen = <Screen title="Publishing…" />;
  } else if (state.matches('published')) {
    screen = (
      <Screen title="Published">
        <p>{context.title} is live.</p>
      </Screen>
    );
  } else if (state.matches('cancelled')) {
    screen = <Screen title="Course creation cancelled" />;
  } else if (state.matches({ failure: 'network_error' })) {
    screen = (
      <Screen title="We could not reach the server">
        <p className="error">Step {context.failedStep} failed ({context.error}).</p>
        <button onClick={() => send({ type: 'RETRY', generationKey: context.generationKey })}>
          Retry
        </button>
      </Screen>
    );
  } else if (state.matches({ failure: 'validation_error' })) {
    screen = (
      <Screen title="The course basics were rejected">
        <p className="error">Check the title and the desired outcome.</p>
        <button onClick={() => send({ type: 'EDIT' })}>Edit the basics</button>
      </Screen>
    );
  } else if (state.matches({ failure: 'generation_failed' })) {
    screen = (
      <Screen title="The AI generation failed">
        <button onClick={() => send({ type: 'RETRY', generationKey: newGenerationKey() })}>
          Generate again
        </button>
      </Screen>
    );
  } else if (state.matches({ failure: 'permission_denied' })) {
    screen = (
      <Screen title="Your session expired">
        <button onClick={() => send({ type: 'SIGNED_IN_AGAIN' })}>I signed in again, continue</button>
      </Screen>
    );
  }

  return (
    <main>
      <h1>Create a course</h1>
      <ol className="steps">
        {STEPS.map(([id, label]) => (
          <li key={id} className={state.matches(id) ? 'current' : undefined}>
            {label}
          </li>
        ))}
      </ol>
      {screen}
      {cancellable && (
        <button className="cancel" onClick={cancel}>
          Cancel
        </button>
      )}
      {failNext && failNextJob && (
        <details className="demo">
          <summary>Demo: make the next call fail</summary>
          <button onClick={() => failNext('mirai.v1.CourseService/CreateCourse', 'unavailable')}>
            CreateCourse: unavailable
          </button>
          <button onClick={() => failNext('mirai.v1.CourseService/CreateCourse', 'invalid_argument')}>
            CreateCourse: invalid_argument
          </button>
          <button onClick={() => failNext('mirai.v1.CourseService/PublishCourse', 'permission_denied')}>
            PublishCourse: permission_denied
          </button>
          <button onClick={failNextJob}>Next generation job fails</button>
        </details>
      )}
    </main>
  );
}

"""The exports as a frontend developer meets them: a throwaway Vite + React + TS app made
of the committed ``exports/`` alone (no code from ``examples/``) type-checks under
``tsc --strict`` while it uses every flow (the course builder with its generation
child, registration with its checkout child, the children themselves with their
required input, and the child-flow wiring of docs/getting-started.md as written) and
bundles with Vite; and each of a list of deliberate mistakes
(a typo in an event sent to a child, a missing required payload field, a forged
internal event, an unknown tag, an unknown state in ``matches``, ...) fails
``tsc --strict`` with the error that names it.

The app borrows the frontend example's installed packages (xstate, @xstate/react, React,
TypeScript, Vite) through a ``node_modules`` symlink: nothing is downloaded.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXPORTS = ROOT / "exports"
PACKAGES = ROOT / "examples" / "frontend" / "node_modules"
NODE = shutil.which("node")

pytestmark = pytest.mark.skipif(
    NODE is None or not (PACKAGES / "typescript").is_dir() or not (PACKAGES / "xstate").is_dir(),
    reason="Node.js and the frontend example's packages are needed "
    "(`npm ci` in examples/frontend)",
)

TSCONFIG = """\
{
  "compilerOptions": {
    "strict": true,
    "noEmit": true,
    "target": "es2022",
    "lib": ["es2022", "dom", "dom.iterable"],
    "module": "esnext",
    "moduleResolution": "bundler",
    "jsx": "react-jsx",
    "isolatedModules": true,
    "skipLibCheck": true,
    "noUnusedLocals": true,
    "noUncheckedIndexedAccess": true,
    "types": []
  },
  "include": ["src", "exports"]
}
"""

# The app: every flow created with its deps, children wired to their parents.
MACHINES = """\
import { createCheckoutMachine } from '../exports/checkout.machine';
import { createCourseBuilderMachine } from '../exports/course_builder.machine';
import { createGenerationMachine } from '../exports/generation.machine';
import { createRegistrationMachine } from '../exports/registration.machine';
import type { TrackSink } from '../exports/flowcheck-runtime';

export const events: { event: string; properties: Record<string, unknown> }[] = [];
const track: TrackSink = (event, properties) => {
  events.push({ event, properties });
};

// Children first: a parent takes its child flows' machines in `flows`.
export const generation = createGenerationMachine({
  track,
  rpc: {
    'mirai.v1.GenerationService/StartGeneration': async (input) => ({
      jobId: `job-${input.idempotencyKey}`,
    }),
    'mirai.v1.GenerationService/GetGenerationJob': async ({ jobId }) => ({
      jobId,
      status: 'succeeded',
    }),
    'mirai.v1.GenerationService/CancelGeneration': async ({ jobId }) => ({ jobId }),
  },
  delays: { POLL_INTERVAL: 10 },
});

export const courseBuilder = createCourseBuilderMachine({
  track,
  rpc: {
    'mirai.v1.CourseService/CreateCourse': async () => ({ courseId: 'course-1' }),
    'mirai.v1.CourseService/SetCourseTargeting': async ({ courseId }) => ({ courseId }),
    'mirai.v1.CourseService/PublishCourse': async ({ courseId }) => ({
      courseId,
      publishedUrl: `https://learn.example.com/${courseId}`,
    }),
  },
  flows: { generation },
});

export const checkout = createCheckoutMachine({
  track,
  rpc: {
    'mirai.v1.BillingService/ConfirmPayment': async () => ({
      paymentId: 'pay-1',
      status: 'succeeded',
    }),
  },
});

export const registration = createRegistrationMachine({
  track,
  rpc: {
    'mirai.v1.AuthService/Register': async () => ({ userId: 'user-1' }),
    'mirai.v1.AuthService/VerifyEmail': async ({ userId }) => ({ userId, verified: true }),
    'mirai.v1.AuthService/ResendVerificationCode': async ({ userId }) => ({ userId }),
    'mirai.v1.UserService/UpdateProfile': async ({ name, organization }) => ({
      user: { name, organization },
    }),
  },
  flows: { checkout },
});
"""

ACTORS = """\
import { createActor, type ActorRefFrom, type OutputFrom } from 'xstate';

import type { CheckoutMachine } from '../exports/checkout.machine';
import type { CourseBuilderOutput } from '../exports/course_builder.machine';
import type { GenerationMachine, GenerationOutput } from '../exports/generation.machine';
import { checkout, courseBuilder, generation, registration } from './machines';

// Flows declared with `Input = NoInput` start without one.
export const builder = createActor(courseBuilder).start();
export const signup = createActor(registration, { input: {} }).start();
// Flows with a required input get it, or do not compile.
export const job = createActor(generation, {
  input: { courseId: 'course-1', kind: 'outline', idempotencyKey: 'gen-1' },
}).start();
export const payment = createActor(checkout, {
  input: { planId: 'plan_pro', idempotencyKey: 'idem-1' },
}).start();

builder.send({ type: 'TITLE_CHANGED', title: 'Intro to Go' });
builder.send({ type: 'RETRY' }); // generationKey has a default: it may be left out
builder.send({ type: 'RETRY', generationKey: 'gen-2' });
signup.send({ type: 'PLAN_SELECTED', planId: 'plan_free' });
job.send({ type: 'RETRY' });
payment.send({ type: 'PAYMENT_METHOD_ENTERED', paymentMethodId: 'pm_card_visa' });

// Children are typed with their own flow: snapshot, events, output.
const outline: ActorRefFrom<GenerationMachine> | undefined =
  builder.getSnapshot().children.generateOutline;
outline?.send({ type: 'GENERATION_CANCELLED' });
outline?.send({ type: 'RETRY', idempotencyKey: 'gen-3' });
const jobId: string | undefined = outline?.getSnapshot().context.jobId;
const paying: ActorRefFrom<CheckoutMachine> | undefined = signup.getSnapshot().children.checkout;
paying?.send({ type: 'PAYMENT_SUBMITTED' });
const childOutput: OutputFrom<GenerationMachine> | undefined = outline?.getSnapshot().output;
const generated: GenerationOutput | undefined = childOutput;

// States, tags and output are typed too.
const snapshot = builder.getSnapshot();
const shown =
  snapshot.matches('basics') || snapshot.matches({ failure: 'network_error' }) ||
  snapshot.hasTag('failure');
const published: CourseBuilderOutput | undefined = snapshot.output;

export const seen = { jobId, generated, shown, published };
"""

BARREL = """\
// One barrel over every export: no two modules export the same name.
export * from '../exports/checkout.machine';
export * from '../exports/course_builder.machine';
export * from '../exports/generation.machine';
export * from '../exports/registration.machine';
export * from '../exports/flowcheck-runtime';
"""

APP = """\
import { useMachine, useSelector } from '@xstate/react';
import type { ActorRefFrom } from 'xstate';

import type { GenerationMachine } from '../exports/generation.machine';
import { courseBuilder, registration } from './machines';

function Generating({ child }: { child: ActorRefFrom<GenerationMachine> | undefined }) {
  const failed = useSelector(child, (s) => s?.hasTag('failure') ?? false);
  return (
    <section>
      {failed && <button onClick={() => child?.send({ type: 'RETRY' })}>Retry</button>}
      <button onClick={() => child?.send({ type: 'GENERATION_CANCELLED' })}>Stop</button>
    </section>
  );
}

export function CourseBuilder() {
  const [snapshot, send] = useMachine(courseBuilder);
  if (snapshot.matches('basics')) {
    return (
      <input
        value={snapshot.context.title}
        onChange={(e) => send({ type: 'TITLE_CHANGED', title: e.target.value })}
      />
    );
  }
  if (snapshot.matches('generatingOutline')) {
    return <Generating child={snapshot.children.generateOutline} />;
  }
  if (snapshot.matches({ failure: 'generation_failed' })) {
    const again = () => send({ type: 'RETRY', generationKey: crypto.randomUUID() });
    return <button onClick={again}>Again</button>;
  }
  return <p>{snapshot.hasTag('failure') ? 'failed' : String(snapshot.value)}</p>;
}

export function Registration() {
  const [snapshot, send] = useMachine(registration, { input: {} });
  const paying = snapshot.children.checkout;
  const method = useSelector(paying, (s) => s?.context.paymentMethodId ?? '');
  if (snapshot.matches('payingForPlan')) {
    return (
      <button
        onClick={() =>
          paying?.send({ type: 'PAYMENT_METHOD_ENTERED', paymentMethodId: 'pm_card_visa' })
        }
      >
        Pay with {method || 'a card'}
      </button>
    );
  }
  const pro = () =>
    send({ type: 'PLAN_SELECTED', planId: 'plan_pro', idempotencyKey: crypto.randomUUID() });
  return <button onClick={pro}>Pro</button>;
}
"""

MAIN = """\
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';

import { CourseBuilder, Registration } from './App';

const root = document.getElementById('root');
if (root) {
  createRoot(root).render(
    <StrictMode>
      <CourseBuilder />
      <Registration />
    </StrictMode>
  );
}
"""

INDEX_HTML = """\
<!doctype html>
<html lang="en">
  <body>
    <div id="root"></div>
    <script type="module" src="/src/main.tsx"></script>
  </body>
</html>
"""

VITE_CONFIG = """\
export default { esbuild: { jsx: 'automatic' }, logLevel: 'warn' };
"""

# What the child-flow snippet of docs/getting-started.md imports besides the exports: the
# app's own modules, declared with the shapes connect-es gives them.
DOCS_STUBS = {
    "src/gen/mirai/v1/generation_service_pb.ts": """\
export enum GenerationKind { UNSPECIFIED = 0, OUTLINE = 1, LESSONS = 2 }
export enum JobStatus { UNSPECIFIED = 0, RUNNING = 1, SUCCEEDED = 2, FAILED = 3 }
""",
    "src/connect.ts": """\
import type { GenerationKind, JobStatus } from './gen/mirai/v1/generation_service_pb';

export declare const courseClient: {
  createCourse(r: { title: string; desiredOutcome: string }): Promise<{ courseId: string }>;
  setCourseTargeting(
    r: { courseId: string; smeIds: string[]; audienceIds: string[] }
  ): Promise<{ courseId: string }>;
  publishCourse(r: { courseId: string }): Promise<{ courseId: string; publishedUrl: string }>;
};
export declare const generationClient: {
  startGeneration(
    r: { courseId: string; kind: GenerationKind; idempotencyKey: string }
  ): Promise<{ jobId: string }>;
  getGenerationJob(
    r: { jobId: string }
  ): Promise<{ jobId: string; status: JobStatus; failureReason: string }>;
  cancelGeneration(r: { jobId: string }): Promise<{ jobId: string }>;
};
""",
    "src/analytics.ts": """\
export declare const analytics: {
  track(event: string, properties: Record<string, unknown>): void;
};
""",
}


def _docs_child_flow_snippet() -> str:
    """The tsx block of getting-started's "A flow with children" section."""
    text = (ROOT / "docs" / "getting-started.md").read_text(encoding="utf-8")
    section = text.split("### A flow with children", 1)[1]
    block = re.search(r"```tsx\n(.*?)```", section, re.S)
    assert block is not None, "the section has no tsx block"
    return block.group(1)


# name -> (the offending code, the tsc error code, a fragment of its message)
MISTAKES: dict[str, tuple[str, str, str]] = {
    "child_event_typo": (
        "builder.getSnapshot().children.generateOutline?.send({ type: 'GENERATION_CANCELED' });",
        "TS2820", "Did you mean '\"GENERATION_CANCELLED\"'?",
    ),
    "missing_required_payload": (
        "builder.send({ type: 'TITLE_CHANGED' });",
        "TS2345", "Property 'title' is missing",
    ),
    "forged_internal_event": (
        "builder.send({ type: 'xstate.done.actor.createCourse', output: { courseId: 'c' } });",
        "TS2322", "Type '\"xstate.done.actor.createCourse\"' is not assignable",
    ),
    "unknown_tag": (
        "builder.getSnapshot().hasTag('nope');",
        "TS2345", "Argument of type '\"nope\"' is not assignable to parameter of type "
        "'\"abandoned\" | \"failure\" | \"success\" | \"step\"'",
    ),
    "unknown_state_in_matches": (
        "builder.getSnapshot().matches('nope');",
        "TS2345", "Argument of type '\"nope\"' is not assignable",
    ),
    "unknown_child_state_in_matches": (
        "builder.getSnapshot().matches({ failure: 'nope' });",
        "TS2322", "Type '\"nope\"' is not assignable",
    ),
    "child_payload_for_another_flow": (
        "signup.getSnapshot().children.checkout?.send({ type: 'RETRY', generationKey: 'k' });",
        "TS2353", "'generationKey' does not exist",
    ),
    "required_input_left_out": (
        "createActor(generation).start();",
        "TS2554", "Expected 2 arguments, but got 1",
    ),
    "input_for_a_flow_without_input": (
        "createActor(courseBuilder, { input: { courseId: 'c' } });",
        "TS2322", "Type 'string' is not assignable to type 'never'",
    ),
    "wrong_child_flow": (
        "createCourseBuilderMachine({ track, rpc: courseRpc, flows: { generation: checkout } });",
        "TS2322", "Type 'StateMachine<CheckoutContext,",
    ),
}

MISTAKE_PRELUDE = """\
import { createActor } from 'xstate';

import {
  createCourseBuilderMachine,
  type CourseBuilderDeps,
} from '../../exports/course_builder.machine';
import type { TrackSink } from '../../exports/flowcheck-runtime';
import { builder, signup } from '../actors';
import { checkout, courseBuilder, generation } from '../machines';

declare const courseRpc: CourseBuilderDeps['rpc'];
declare const track: TrackSink;
void [createActor, createCourseBuilderMachine, builder, signup, checkout, courseBuilder];
void [generation, courseRpc, track];

"""

DIAGNOSTIC = re.compile(
    r"^(?P<file>[^(\s][^(]*)\((?P<line>\d+),\d+\): error (?P<code>TS\d+): (?P<text>.*)$"
)


def _node(app: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    assert NODE is not None
    env = {**os.environ, "NO_COLOR": "1", "FORCE_COLOR": "0"}
    return subprocess.run([NODE, *args], cwd=app, capture_output=True, text=True,
                          timeout=timeout, check=False, env=env)


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The throwaway app: the committed exports copied in, the app's own code, and the
    deliberate mistakes, each in its own file under src/mistakes/."""
    root = tmp_path_factory.mktemp("frontend-app")
    (root / "node_modules").symlink_to(PACKAGES, target_is_directory=True)
    (root / "exports").mkdir()
    for path in sorted(EXPORTS.glob("*.ts")):
        shutil.copy(path, root / "exports" / path.name)
    src = root / "src"
    (src / "mistakes").mkdir(parents=True)
    files = {
        "tsconfig.json": TSCONFIG,
        "index.html": INDEX_HTML,
        "vite.config.js": VITE_CONFIG,
        "src/machines.ts": MACHINES,
        "src/actors.ts": ACTORS,
        "src/barrel.ts": BARREL,
        "src/App.tsx": APP,
        "src/main.tsx": MAIN,
        "src/DocsCourseBuilder.tsx": _docs_child_flow_snippet(),
        **DOCS_STUBS,
    }
    for name, (code, _, _) in MISTAKES.items():
        files[f"src/mistakes/{name}.ts"] = MISTAKE_PRELUDE + code + "\n"
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def diagnostics(app: Path) -> dict[str, list[tuple[int, str, str]]]:
    """One ``tsc --strict --noEmit`` run over the whole app: errors by file."""
    done = _node(app, "node_modules/typescript/bin/tsc", "-p", ".", "--pretty", "false")
    found: dict[str, list[tuple[int, str, str]]] = {}
    last: list[tuple[int, str, str]] = []
    for line in done.stdout.splitlines():
        match = DIAGNOSTIC.match(line)
        if match:
            last = found.setdefault(match["file"], [])
            last.append((int(match["line"]), match["code"], match["text"]))
        elif line.startswith(" ") and last:
            # The elaboration of the last error, one indented line per reason.
            number, code, text = last[-1]
            last[-1] = (number, code, f"{text}\n{line.strip()}")
    assert done.returncode in (0, 2), done.stdout + done.stderr
    return found


def test_the_app_type_checks_using_every_flow_and_the_child_wiring(
    diagnostics: dict[str, list[tuple[int, str, str]]],
) -> None:
    outside = {f: d for f, d in diagnostics.items() if not f.startswith("src/mistakes/")}
    assert outside == {}


def test_the_documented_child_flow_wiring_type_checks(
    diagnostics: dict[str, list[tuple[int, str, str]]],
) -> None:
    assert "createCourseBuilderMachine" in _docs_child_flow_snippet()
    assert "src/DocsCourseBuilder.tsx" not in diagnostics


def test_one_barrel_re_exports_every_module_without_a_clash(
    diagnostics: dict[str, list[tuple[int, str, str]]],
) -> None:
    # TS2308 ("has already exported a member named ...") would land on the barrel.
    assert "src/barrel.ts" not in diagnostics


@pytest.mark.parametrize("mistake", MISTAKES)
def test_a_deliberate_mistake_fails_tsc_strict_with_its_error(
    diagnostics: dict[str, list[tuple[int, str, str]]], mistake: str
) -> None:
    code, error, fragment = MISTAKES[mistake]
    line = MISTAKE_PRELUDE.count("\n") + 1
    found = diagnostics.get(f"src/mistakes/{mistake}.ts", [])
    assert found, f"{mistake}: `{code}` type-checks"
    assert [(n, c) for n, c, _ in found] == [(line, error)], found
    assert fragment in found[0][2], found


def test_the_app_bundles_with_vite(app: Path) -> None:
    done = _node(app, "node_modules/vite/bin/vite.js", "build", "--outDir", "dist")
    assert done.returncode == 0, done.stdout + done.stderr
    assert (app / "dist" / "index.html").is_file()
    bundle = "".join(p.read_text(encoding="utf-8") for p in (app / "dist").rglob("*.js"))
    assert all(f"id:\"{flow}\"" in bundle for flow in
               ("courseBuilder", "generation", "registration", "checkout")), "a flow is missing"

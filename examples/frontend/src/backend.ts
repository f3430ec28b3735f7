/**
 * An in-memory stand-in for the Mirai Connect-RPC services, shaped like the functions a
 * Connect client gives (`client.createCourse(request)` returns a promise of the response).
 * Each call waits a little, like a network round trip, and can be made to fail with a
 * Connect code so that the wizard's failure screens are reachable.
 */
import type {
  CourseBuilderCreateCourseOutput,
  CourseBuilderDeps,
  CourseBuilderPublishCourseOutput,
  CourseBuilderSetCourseTargetingOutput,
} from '../../../exports/course_builder.machine';
import type { GenerationDeps } from '../../../exports/generation.machine';

/** What a Connect client rejects with: the flow only reads `code`. */
export class ConnectError extends Error {
  readonly code: string;

  constructor(code: string, message = `[${code}]`) {
    super(message);
    this.name = 'ConnectError';
    this.code = code;
  }
}

export type CourseMethod = keyof CourseBuilderDeps['rpc'];

export type GenerationMethod = keyof GenerationDeps['rpc'];

export type Method = CourseMethod | GenerationMethod;

export interface StoredCourse {
  title: string;
  desiredOutcome: string;
  smeIds: string[];
  audienceIds: string[];
  publishedUrl: string | null;
}

export interface GenerationJob {
  courseId: string;
  kind: string;
  idempotencyKey: string;
  /** Polls left before the job settles. */
  pollsLeft: number;
  outcome: 'succeeded' | 'failed' | 'cancelled';
}

export type GenerationService = GenerationDeps['rpc'];

export interface FakeBackend {
  courseService: CourseBuilderDeps['rpc'];
  generationService: GenerationService;
  /** The next call of `method` rejects with this Connect code. */
  failNext: (method: Method, code: string) => void;
  /** The next generation job started fails (the generation child tells the course builder). */
  failNextJob: () => void;
  /** Every call made, in order. */
  calls: Method[];
  courses: Map<string, StoredCourse>;
  jobs: Map<string, GenerationJob>;
}

export interface FakeBackendOptions {
  /** Round-trip time of each call, in ms. */
  latencyMs?: number;
  /** Polls a job reports `running` before it settles. */
  pollsPerJob?: number;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export function createFakeBackend(options: FakeBackendOptions = {}): FakeBackend {
  const latencyMs = options.latencyMs ?? 300;
  const pollsPerJob = options.pollsPerJob ?? 1;
  const courses = new Map<string, StoredCourse>();
  const jobs = new Map<string, GenerationJob>();
  const jobsByKey = new Map<string, string>();
  const failures: { method: Method; code: string }[] = [];
  const calls: Method[] = [];
  let failJob = false;
  let nextId = 1;

  async function call<T>(method: Method, handle: () => T): Promise<T> {
    calls.push(method);
    await sleep(latencyMs);
    const i = failures.findIndex((f) => f.method === method);
    if (i >= 0) {
      const [failure] = failures.splice(i, 1);
      throw new ConnectError(failure?.code ?? 'unknown');
    }
    return handle();
  }

  function course(courseId: string): StoredCourse {
    const found = courses.get(courseId);
    if (!found) throw new ConnectError('not_found', `course ${courseId} not found`);
    return found;
  }

  const courseService: CourseBuilderDeps['rpc'] = {
    'mirai.v1.CourseService/CreateCourse': (input) =>
      call('mirai.v1.CourseService/CreateCourse', (): CourseBuilderCreateCourseOutput => {
        if (input.title.trim() === '') throw new ConnectError('invalid_argument', 'title is empty');
        const courseId = `course_${nextId++}`;
        courses.set(courseId, { ...input, smeIds: [], audienceIds: [], publishedUrl: null });
        return { courseId };
      }),
    'mirai.v1.CourseService/SetCourseTargeting': (input) =>
      call('mirai.v1.CourseService/SetCourseTargeting', (): CourseBuilderSetCourseTargetingOutput => {
        const found = course(input.courseId);
        found.smeIds = [...input.smeIds];
        found.audienceIds = [...input.audienceIds];
        return { courseId: input.courseId };
      }),
    'mirai.v1.CourseService/PublishCourse': (input) =>
      call('mirai.v1.CourseService/PublishCourse', (): CourseBuilderPublishCourseOutput => {
        const found = course(input.courseId);
        found.publishedUrl = `https://learn.example.com/courses/${input.courseId}`;
        return { courseId: input.courseId, publishedUrl: found.publishedUrl };
      }),
  };

  const generationService: GenerationService = {
    'mirai.v1.GenerationService/StartGeneration': (input) =>
      call('mirai.v1.GenerationService/StartGeneration', () => {
        // Same idempotency key, same job: the server does not start a second one.
        const known = jobsByKey.get(input.idempotencyKey);
        if (known !== undefined) return { jobId: known };
        const jobId = `job_${nextId++}`;
        jobs.set(jobId, { ...input, pollsLeft: pollsPerJob, outcome: failJob ? 'failed' : 'succeeded' });
        jobsByKey.set(input.idempotencyKey, jobId);
        failJob = false;
        return { jobId };
      }),
    'mirai.v1.GenerationService/GetGenerationJob': (input) =>
      call('mirai.v1.GenerationService/GetGenerationJob', () => {
        const job = jobs.get(input.jobId);
        if (!job) throw new ConnectError('not_found', `job ${input.jobId} not found`);
        if (job.pollsLeft > 0) {
          job.pollsLeft -= 1;
          return { jobId: input.jobId, status: 'running' as const };
        }
        if (job.outcome === 'failed') {
          return { jobId: input.jobId, status: job.outcome, failureReason: 'model_overloaded' };
        }
        return { jobId: input.jobId, status: job.outcome };
      }),
    'mirai.v1.GenerationService/CancelGeneration': (input) =>
      call('mirai.v1.GenerationService/CancelGeneration', () => {
        const job = jobs.get(input.jobId);
        if (!job) throw new ConnectError('not_found', `job ${input.jobId} not found`);
        job.outcome = 'cancelled';
        job.pollsLeft = 0;
        return { jobId: input.jobId };
      }),
  };

  return {
    courseService,
    generationService,
    failNext: (method, code) => {
      failures.push({ method, code });
    },
    failNextJob: () => {
      failJob = true;
    },
    calls,
    courses,
    jobs,
  };
}

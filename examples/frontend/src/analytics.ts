/** The analytics sink the machine's `track` actions call: the console plus an in-memory log. */

export interface TrackedEvent {
  event: string;
  properties: Record<string, unknown>;
}

export interface Analytics {
  track: (event: string, properties: Record<string, unknown>) => void;
  /** Every event tracked so far, in order. */
  events: TrackedEvent[];
}

export function createAnalytics(options: { console?: boolean } = {}): Analytics {
  const events: TrackedEvent[] = [];
  const log = options.console ?? true;
  return {
    events,
    track: (event, properties) => {
      events.push({ event, properties });
      if (log) console.info('[analytics]', event, properties);
    },
  };
}

import { renderToString } from 'react-dom/server';
import { describe, expect, it } from 'vitest';

import { createAnalytics } from './analytics';
import { App } from './App';
import { createFakeBackend } from './backend';
import { createWizardMachine } from './wizard';

describe('the wizard', () => {
  it('opens on the basics step with the submit button disabled', () => {
    const backend = createFakeBackend({ latencyMs: 1 });
    const analytics = createAnalytics({ console: false });
    const html = renderToString(<App machine={createWizardMachine({ ...backend, analytics })} />);

    expect(html).toContain('Course basics');
    expect(html).toMatch(/<button type="submit" disabled="">Next<\/button>/);
    expect(html).toContain('Cancel');
  });
});

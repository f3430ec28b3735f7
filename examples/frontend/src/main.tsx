import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';

import { createAnalytics } from './analytics';
import { App } from './App';
import { createFakeBackend } from './backend';
import './styles.css';
import { createWizardMachine } from './wizard';

const backend = createFakeBackend({ latencyMs: 400, pollsPerJob: 2 });
const analytics = createAnalytics();
const machine = createWizardMachine({ ...backend, analytics, pollIntervalMs: 600 });

const root = document.getElementById('root');
if (!root) throw new Error('index.html lacks #root');
createRoot(root).render(
  <StrictMode>
    <App machine={machine} failNext={backend.failNext} failNextJob={backend.failNextJob} />
  </StrictMode>,
);

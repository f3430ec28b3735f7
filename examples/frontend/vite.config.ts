import { fileURLToPath } from 'node:url';

import react from '@vitejs/plugin-react';
import { defineConfig, searchForWorkspaceRoot } from 'vite';

const exportsDir = fileURLToPath(new URL('../../exports', import.meta.url));

export default defineConfig({
  plugins: [react()],
  resolve: {
    // The exported module imports `xstate` from outside this app: resolve it (and every
    // other copy) to this app's node_modules so that @xstate/react and the machine agree.
    dedupe: ['xstate'],
  },
  server: {
    fs: { allow: [searchForWorkspaceRoot(process.cwd()), exportsDir] },
  },
});

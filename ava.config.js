// ava runs the TypeScript tests directly: Node 24 strips the types (tsc checks them first in npm test).
export default {
  files: [
    'app/**/*.test.ts',
    'manifests/**/*.test.ts',
    'functions/**/*.test.ts',
    'stack/**/*.test.ts',
    'playground/**/*.test.ts',
    'grafana/**/*.test.ts',
    'test/**/*.test.ts',
    'bench/**/*.test.ts',
    // The end-to-end suite runs on its own, after these (ava.e2e.config.js).
    '!test/e2e/**',
  ],
  extensions: { ts: 'module' },
  nodeArguments: ['--no-warnings=ExperimentalWarning'],
  timeout: '3m',
  workerThreads: false,
};

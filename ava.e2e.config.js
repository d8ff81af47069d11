// The end-to-end suites: the whole playground (and its OpenFaaS CE platform), run alone after every other test
// (test/run.ts), one file at a time, with time to heal.
export default {
  files: ['test/e2e/**/*.test.ts'],
  extensions: { ts: 'module' },
  nodeArguments: ['--no-warnings=ExperimentalWarning'],
  timeout: '10m',
  workerThreads: false,
  concurrency: 1,
  verbose: true,
};

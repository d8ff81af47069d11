// The end-to-end suite: the whole playground, run alone after every other test (test/run.ts), with time to heal.
export default {
  files: ['test/e2e/**/*.test.ts'],
  extensions: { ts: 'module' },
  nodeArguments: ['--no-warnings=ExperimentalWarning'],
  timeout: '10m',
  workerThreads: false,
  verbose: true,
};

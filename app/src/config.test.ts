// Configuration from the environment: defaults, overrides, and messages that name the bad variable and value.
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { ConfigError, loadConfig } from './config.ts';

test('defaults: port 3000 on all interfaces, state under the temp dir, 10 s grace period', (t) => {
  t.deepEqual(loadConfig({}), {
    port: 3000,
    host: '0.0.0.0',
    stateDir: join(tmpdir(), 'selfheal-app'),
    podName: undefined,
    podNamespace: undefined,
    shutdownTimeoutMs: 10_000,
    shutdownDelayMs: 0,
    logLevel: 'info',
  });
});

test('every variable is read', (t) => {
  t.deepEqual(
    loadConfig({
      PORT: '8080',
      HOST: '10.244.1.7',
      STATE_DIR: '/scratch',
      POD_NAME: 'app-1',
      POD_NAMESPACE: 'demo',
      SHUTDOWN_TIMEOUT_MS: '25000',
      SHUTDOWN_DELAY_MS: '3000',
      LOG_LEVEL: 'debug',
    }),
    {
      port: 8080,
      host: '10.244.1.7',
      stateDir: '/scratch',
      podName: 'app-1',
      podNamespace: 'demo',
      shutdownTimeoutMs: 25_000,
      shutdownDelayMs: 3000,
      logLevel: 'debug',
    },
  );
});

test('empty variables count as unset; PORT=0 asks for any free port', (t) => {
  const config = loadConfig({ PORT: '', HOST: ' ', STATE_DIR: '', POD_NAME: '' });
  t.is(config.port, 3000);
  t.is(config.host, '0.0.0.0');
  t.is(config.podName, undefined);
  t.is(loadConfig({ PORT: '0' }).port, 0);
});

test('bad values are named with what was given', (t) => {
  for (const [env, expected] of [
    [{ PORT: '3000.5' }, 'PORT must be an integer from 0 to 65535 (got "3000.5")'],
    [{ PORT: '-1' }, 'PORT must be an integer from 0 to 65535 (got "-1")'],
    [{ SHUTDOWN_DELAY_MS: 'soon' }, 'SHUTDOWN_DELAY_MS must be an integer from 0 to 600000 (got "soon")'],
    [
      { LOG_LEVEL: 'INFO' },
      'LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent (got "INFO")',
    ],
  ] as Array<[Record<string, string>, string]>) {
    const error = t.throws(() => loadConfig(env), { instanceOf: ConfigError });
    t.is(error?.message, `invalid configuration: ${expected}`);
    t.false(error?.message.includes('\n'));
  }
});

// The router's storm settings from the environment: an answer deadline below Alertmanager's 10 s floor, a body
// limit far above a 5,000-alert notification (the actions keep a small one), and the OpenFaaS async sink.
import test from 'ava';
import { loadActionConfig, loadRouterConfig } from '../lib/config.ts';

const env = {
  SELFHEAL_WEBHOOK_TOKEN: 'secret',
  SELFHEAL_SINK: 'openfaas',
  SELFHEAL_OPENFAAS_GATEWAY: 'http://gateway.openfaas:8080',
  SELFHEAL_NAMESPACES: 'demo',
  SELFHEAL_ACTION_TOKEN: 'action-secret',
};

test('defaults: answered within 7 s, 16 MiB accepted by the router, 1 MiB by the actions, sync OpenFaaS calls', (t) => {
  const router = loadRouterConfig(env);
  t.is(router.answerDeadlineMs, 7000);
  t.true(router.answerDeadlineMs < 10_000, "below Alertmanager's minimum notification timeout");
  t.is(router.maxBodyBytes, 16 * 1_048_576);
  t.true(router.maxBodyBytes > 5.6e6 * 2, 'a 5,000-alert notification (5.6 MB) fits with room to spare');
  t.deepEqual(router.sink, { kind: 'openfaas', gateway: 'http://gateway.openfaas:8080' });
  t.is(
    loadActionConfig('scale', { SELFHEAL_NAMESPACES: 'demo', SELFHEAL_ACTION_TOKEN: 'x' }).maxBodyBytes,
    1_048_576,
  );
});

test('the deadline, the body limit and async OpenFaaS calls can be set', (t) => {
  const router = loadRouterConfig({
    ...env,
    SELFHEAL_ANSWER_DEADLINE_MS: '25000',
    SELFHEAL_MAX_BODY_BYTES: '4194304',
    SELFHEAL_OPENFAAS_ASYNC: 'true',
  });
  t.is(router.answerDeadlineMs, 25_000);
  t.is(router.maxBodyBytes, 4_194_304);
  t.deepEqual(router.sink, { kind: 'openfaas', gateway: 'http://gateway.openfaas:8080', async: true });
});

test('a deadline that is not a whole number of milliseconds in range is refused by name', (t) => {
  for (const value of ['soon', '50', '7.5']) {
    const error = t.throws(() => loadRouterConfig({ ...env, SELFHEAL_ANSWER_DEADLINE_MS: value }));
    t.regex(error?.message ?? '', /SELFHEAL_ANSWER_DEADLINE_MS/, value);
  }
});

// Where events go for each sink, and how an answer is classified (accepted, rejected for good, or retry).
import test from 'ava';
import { classify, classifyError, sinkUrl } from './deliver.ts';

const urls = { 'restart-pod': 'http://r:8080/', redeploy: 'http://d:8080/', scale: 'http://s:8080/' };

test('each sink names the URL of an action', (t) => {
  t.is(sinkUrl({ kind: 'direct', urls }, 'redeploy'), 'http://d:8080/');
  t.is(
    sinkUrl({ kind: 'openfaas', gateway: 'http://gateway.openfaas:8080/' }, 'restart-pod'),
    'http://gateway.openfaas:8080/function/restart-pod',
  );
  t.is(
    sinkUrl({ kind: 'openfaas', gateway: 'http://gateway.openfaas:8080', async: true }, 'scale'),
    'http://gateway.openfaas:8080/async-function/scale',
  );
  t.is(
    sinkUrl({ kind: 'knative', broker: 'http://broker-ingress/selfheal/default' }, 'scale'),
    'http://broker-ingress/selfheal/default',
  );
});

const response = (status: number, body = '') => ({ status, contentType: 'application/json', body });

test('2xx is accepted and keeps what the action said', (t) => {
  t.like(classify(response(200, '{"outcome":"skipped","reason":"cooldown","message":"wait"}')), {
    outcome: 'accepted',
    answer: { outcome: 'skipped', reason: 'cooldown', message: 'wait' },
  });
  t.like(classify(response(202)), { outcome: 'accepted', status: 202 });
});

test('4xx is rejected for good, except set-up faults and "not now" answers, which are worth a retry', (t) => {
  t.like(classify(response(422, '{"error":"not opted in","reason":"not-opted-in"}')), {
    outcome: 'rejected',
    reason: 'not-opted-in',
    message: 'not opted in',
  });
  t.like(classify(response(400, '{"error":"invalid params","reason":"invalid"}')), { outcome: 'rejected' });
  // A function being redeployed behind the gateway, a token being rotated, a missing RoleBinding.
  t.like(classify(response(404, 'function not found')), {
    outcome: 'failed',
    reason: 'http-404',
    message: 'function not found',
  });
  t.like(classify(response(401)), { outcome: 'failed' });
  t.like(classify(response(403, '{"error":"forbidden: delete pods","reason":"forbidden"}')), {
    outcome: 'failed',
    reason: 'forbidden',
  });
  t.like(classify(response(429)), { outcome: 'failed' });
  t.like(classify(response(408)), { outcome: 'failed' });
});

test('5xx, redirects, timeouts and refused connections are failures worth a retry', (t) => {
  t.like(classify(response(503, '{"error":"API server unavailable","reason":"unreachable"}')), {
    outcome: 'failed',
    reason: 'unreachable',
  });
  t.like(classify(response(302)), { outcome: 'failed' });
  t.like(classifyError(new DOMException('timed out', 'TimeoutError'), 500), {
    outcome: 'failed',
    reason: 'timeout',
  });
  const refused = new TypeError('fetch failed', {
    cause: Object.assign(new Error('refused'), { code: 'ECONNREFUSED' }),
  });
  t.like(classifyError(refused, 500), { outcome: 'failed', reason: 'unreachable' });
});

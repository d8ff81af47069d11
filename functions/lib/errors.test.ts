// Every Kubernetes or network failure becomes one SelfhealError with the status a caller can act on.
import { ApiException } from '@kubernetes/client-node';
import test from 'ava';
import { fromKubernetesError, SelfhealError, transportErrorCode } from './errors.ts';

const op = { verb: 'delete', resource: 'pods', namespace: 'demo', name: 'web-1' };
const apiError = (code: number, message: string) =>
  new ApiException(code, 'failed', JSON.stringify({ kind: 'Status', message, code }), {});

test('403 is forbidden and names the verb, resource and namespace', (t) => {
  const err = fromKubernetesError(
    apiError(
      403,
      'pods "web-1" is forbidden: User "system:serviceaccount:x:y" cannot delete resource "pods"',
    ),
    op,
  );
  t.is(err.code, 403);
  t.is(err.kind, 'forbidden');
  t.regex(
    err.message,
    /^forbidden: the function may not delete pods web-1 in namespace demo: pods "web-1" is forbidden/,
  );
});

test('404 is gone, 409 conflict, 400/422 invalid', (t) => {
  t.is(fromKubernetesError(apiError(404, 'not found'), op).kind, 'gone');
  t.is(fromKubernetesError(apiError(409, 'the object has been modified'), op).kind, 'conflict');
  const rejected = fromKubernetesError(apiError(422, 'Deployment.apps "x" is invalid'), op);
  t.is(rejected.code, 400);
  // Every 400 names its problems.
  t.deepEqual(rejected.problems, ['delete pods web-1 in namespace demo: Deployment.apps "x" is invalid']);
});

test('429, 5xx, refused connections and timeouts are unavailable (503, worth a retry)', (t) => {
  for (const status of [429, 500, 502, 503, 504]) {
    const err = fromKubernetesError(apiError(status, 'busy'), op);
    t.is(err.code, 503, String(status));
    t.true(err.retryable);
  }
  const refused = new TypeError('fetch failed', {
    cause: Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6443'), { code: 'ECONNREFUSED' }),
  });
  t.like(fromKubernetesError(refused, op), { code: 503, reason: 'unreachable' });
  t.regex(fromKubernetesError(refused, op).message, /ECONNREFUSED/);
  const timeout = new DOMException('The operation was aborted due to timeout', 'TimeoutError');
  t.is(fromKubernetesError(timeout, op).code, 503);
  t.is(
    transportErrorCode(new TypeError('fetch failed', { cause: new Error('bad port') })),
    'fetch failed: bad port',
  );
});

test('anything else is an internal error, and a SelfhealError passes through', (t) => {
  t.is(fromKubernetesError(new RangeError('boom'), op).code, 500);
  const own = new SelfhealError('refused', 'no');
  t.is(fromKubernetesError(own, op), own);
  t.is(own.code, 422);
  t.false(own.retryable);
});

test('a 429 naming a DisruptionBudget cause is a budget refusal; any other 429 is throttling', (t) => {
  // The Status the API server answers a refused eviction with (k8s.io/kubernetes pkg/registry/core/pod/storage/eviction.go).
  const refusedEviction = new ApiException(
    429,
    'failed',
    JSON.stringify({
      kind: 'Status',
      status: 'Failure',
      message: "Cannot evict pod as it would violate the pod's disruption budget.",
      reason: 'TooManyRequests',
      details: {
        causes: [
          {
            reason: 'DisruptionBudget',
            message: 'The disruption budget web needs 3 healthy pods and has 3 currently',
          },
        ],
      },
      code: 429,
    }),
    {},
  );
  const evictOp = { verb: 'create', resource: 'pods/eviction', namespace: 'demo', name: 'web-1' };
  const budget = fromKubernetesError(refusedEviction, evictOp);
  t.like(budget, { code: 503, reason: 'disruption-budget' });
  t.regex(budget.message, /disruption budget web needs 3 healthy pods/);
  const throttled = fromKubernetesError(apiError(429, 'Too many requests, please try again later.'), evictOp);
  t.like(throttled, { code: 503, reason: 'too-many-requests' });
});

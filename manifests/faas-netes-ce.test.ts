// The faas-netes CE rendering, rule by rule (tables), and what it makes of stack.yml: every function deploys on CE,
// runs as `default`, is probed at /_/health (or by `cat /tmp/.lock`), and finds its secrets where its env says.
import test from 'ava';
import {
  buildAnnotations,
  buildEnvVars,
  CE_NAMESPACE,
  CHART_DEFAULTS,
  ceFunctionObjects,
  DeployRefused,
  type ExistingSecret,
  initialReplicas,
  makeProbe,
} from './faas-netes-ce.ts';
import { readStack } from './openfaas-functions.ts';
import type { StackFunction } from './schemas/openfaas.ts';

const fn = (extra: Partial<StackFunction> = {}): StackFunction => ({
  lang: 'dockerfile',
  handler: './h',
  image: 'registry.example/f:1',
  ...extra,
});

test('probes: HTTP GET /_/health on 8080 by default, `cat /tmp/.lock` with HTTP probes off; thresholds fixed', (t) => {
  const rows: Array<[boolean, object]> = [
    [true, { httpGet: { path: '/_/health', port: 8080 } }],
    [false, { exec: { command: ['cat', '/tmp/.lock'] } }],
  ];
  for (const [httpProbe, handler] of rows) {
    const probe = makeProbe({ ...CHART_DEFAULTS, httpProbe }, CHART_DEFAULTS.readinessProbe);
    t.like(probe, { ...handler, successThreshold: 1, failureThreshold: 3 });
    t.like(probe, { initialDelaySeconds: 2, timeoutSeconds: 1, periodSeconds: 2 }, 'the chart defaults');
    t.is('httpGet' in probe && 'exec' in probe, false, 'one handler');
  }
});

test('annotations: the stack’s, plus prometheus.io.scrape "false" unless set; what CE refuses', (t) => {
  t.deepEqual(buildAnnotations(fn()), { 'prometheus.io.scrape': 'false' });
  t.deepEqual(buildAnnotations(fn({ annotations: { 'prometheus.io/scrape': 'true' } })), {
    'prometheus.io/scrape': 'true',
    'prometheus.io.scrape': 'false',
  });
  t.deepEqual(buildAnnotations(fn({ annotations: { 'prometheus.io.scrape': 'true' } })), {
    'prometheus.io.scrape': 'true',
  });
  for (const annotations of [
    { topic: 'a,b' },
    { 'eks.amazonaws.com/role-arn': 'x' },
    { 'iam.gke.io/gcp-sa': 'x' },
  ])
    t.throws(() => buildAnnotations(fn({ annotations })), { instanceOf: DeployRefused });
});

test('environment: sorted by name, fprocess among them, faas-cli --env over the stack’s', (t) => {
  const env = buildEnvVars(fn({ environment: { B: 'stack', a: 1, C: true }, fprocess: 'node x' }), {
    B: 'cli',
  });
  t.deepEqual(env, [
    { name: 'B', value: 'cli' },
    { name: 'C', value: 'true' },
    { name: 'a', value: '1' },
    { name: 'fprocess', value: 'node x' },
  ]);
});

test('replicas: com.openfaas.scale.min when a positive integer, else 1', (t) => {
  const rows: Array<[string | undefined, number]> = [
    [undefined, 1],
    ['1', 1],
    ['3', 3],
    ['0', 1],
    ['many', 1],
  ];
  for (const [min, expected] of rows) {
    const labels = min === undefined ? {} : { 'com.openfaas.scale.min': min };
    t.is(initialReplicas(fn({ labels })), expected, `scale.min ${min}`);
  }
});

const opaque = (name: string): ExistingSecret => ({ type: 'Opaque', keys: [name] });
const saToken: ExistingSecret = {
  type: 'kubernetes.io/service-account-token',
  keys: ['token', 'namespace', 'ca.crt'],
};

test('secrets: one projected volume at /var/openfaas/secrets, every key a file; docker configs pull images', (t) => {
  const { deployment } = ceFunctionObjects({
    name: 'f',
    fn: fn({ secrets: ['api-key', 'sa-token', 'registry'], readonly_root_filesystem: true }),
    secrets: {
      'api-key': opaque('api-key'),
      'sa-token': saToken,
      registry: { type: 'kubernetes.io/dockerconfigjson', keys: ['.dockerconfigjson'] },
    },
  });
  const pod = deployment.spec.template.spec;
  t.deepEqual(pod.volumes, [
    { name: 'temp', emptyDir: {} },
    {
      name: 'f-projected-secrets',
      projected: {
        sources: [
          { secret: { name: 'api-key', items: [{ key: 'api-key', path: 'api-key' }] } },
          {
            secret: {
              name: 'sa-token',
              items: ['ca.crt', 'namespace', 'token'].map((key) => ({ key, path: key })),
            },
          },
        ],
      },
    },
  ]);
  t.deepEqual(pod.containers[0]?.volumeMounts, [
    { name: 'temp', mountPath: '/tmp', readOnly: false },
    { name: 'f-projected-secrets', readOnly: true, mountPath: '/var/openfaas/secrets' },
  ]);
  t.deepEqual(pod.imagePullSecrets, [{ name: 'registry' }]);
  t.throws(() => ceFunctionObjects({ name: 'f', fn: fn({ secrets: ['absent'] }), secrets: {} }), {
    instanceOf: DeployRefused,
    message: "Required secret 'absent' was not found in the cluster",
  });
});

test('a writable root filesystem gets no /tmp volume; no secrets, no secrets volume', (t) => {
  const { deployment } = ceFunctionObjects({ name: 'f', fn: fn(), secrets: {} });
  const pod = deployment.spec.template.spec;
  t.is(pod.volumes, undefined);
  t.is(pod.containers[0]?.volumeMounts, undefined);
  t.deepEqual(pod.containers[0]?.securityContext, { readOnlyRootFilesystem: false });
});

test('CE deploys into openfaas-fn only, as the default ServiceAccount, whatever the stack asks', (t) => {
  const { deployment, service } = ceFunctionObjects({
    name: 'f',
    fn: fn({
      annotations: { 'com.openfaas.serviceaccount': 'mine', 'com.openfaas.health.http.path': '/healthz' },
      constraints: ['node.platform.os == linux'],
    }),
    secrets: {},
  });
  t.is(deployment.metadata.namespace, CE_NAMESPACE);
  t.is(service.metadata.namespace, CE_NAMESPACE);
  const pod = deployment.spec.template.spec;
  t.false('serviceAccountName' in pod, 'no ServiceAccount: the pod runs as default');
  t.deepEqual(pod.nodeSelector, {}, 'constraints are dropped');
  t.like(
    pod.containers[0]?.livenessProbe,
    { httpGet: { path: '/_/health', port: 8080 } },
    'probe annotations ignored',
  );
  t.throws(() => ceFunctionObjects({ name: 'f', fn: fn({ namespace: 'team-a' }), secrets: {} }), {
    instanceOf: DeployRefused,
    message: 'namespace must be: openfaas-fn',
  });
});

test('the Deployment and Service select the pods by faas_function; the pods carry the stack’s labels too', (t) => {
  const { deployment, service } = ceFunctionObjects({
    name: 'f',
    fn: fn({ labels: { team: 'a', 'com.openfaas.scale.min': '2' } }),
    secrets: {},
  });
  t.deepEqual(deployment.metadata.labels, { faas_function: 'f' });
  t.deepEqual(deployment.spec.selector.matchLabels, { faas_function: 'f' });
  t.deepEqual(deployment.spec.template.metadata.labels, {
    faas_function: 'f',
    team: 'a',
    'com.openfaas.scale.min': '2',
  });
  t.is(deployment.spec.replicas, 2);
  t.deepEqual(deployment.spec.strategy, {
    type: 'RollingUpdate',
    rollingUpdate: { maxUnavailable: 0, maxSurge: 1 },
  });
  t.like(deployment.spec.template.spec.containers[0], {
    name: 'f',
    image: 'registry.example/f:1',
    imagePullPolicy: 'Always',
    ports: [{ name: 'http', containerPort: 8080, protocol: 'TCP' }],
  });
  t.deepEqual(service.spec, {
    type: 'ClusterIP',
    selector: { faas_function: 'f' },
    ports: [{ name: 'http', protocol: 'TCP', port: 8080, targetPort: 8080 }],
  });
});

/** The Secrets of openfaas-fn as the README's steps leave them: faas-cli secrets and the overlay's token Secrets. */
function readmeSecrets(): Record<string, ExistingSecret> {
  const secrets: Record<string, ExistingSecret> = {
    'selfheal-webhook-token': opaque('selfheal-webhook-token'),
    'selfheal-action-token': opaque('selfheal-action-token'),
  };
  for (const action of ['restart-pod', 'redeploy', 'scale'])
    secrets[`selfheal-${action}-kube-token`] = saToken;
  return secrets;
}

test('stack.yml deploys on CE: every *_FILE the functions read is a file faas-netes mounts', (t) => {
  for (const [name, stackFn] of Object.entries(readStack().functions)) {
    const { deployment } = ceFunctionObjects({ name, fn: stackFn, secrets: readmeSecrets() });
    const pod = deployment.spec.template.spec;
    const container = pod.containers[0];
    const mounted = new Set<string>();
    for (const volume of pod.volumes ?? []) {
      const sources = (
        volume as { projected?: { sources: Array<{ secret: { items: Array<{ path: string }> } }> } }
      ).projected?.sources;
      for (const source of sources ?? [])
        for (const item of source.secret.items) mounted.add(`/var/openfaas/secrets/${item.path}`);
    }
    for (const { name: variable, value } of container?.env ?? []) {
      if (variable.endsWith('_FILE')) t.true(mounted.has(value), `${name}: ${variable}=${value} is mounted`);
    }
    t.like(
      container?.securityContext,
      { readOnlyRootFilesystem: true },
      `${name}: /tmp is an emptyDir for the lock file`,
    );
    t.deepEqual(
      (pod.volumes ?? []).find((v) => (v as { name: string }).name === 'temp'),
      { name: 'temp', emptyDir: {} },
    );
  }
});

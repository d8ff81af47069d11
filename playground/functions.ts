// The four functions as the playground runs them: plain Deployments + Services on the local node, wired like production.
import type { KubernetesObject } from '@kubernetes/client-node';

export const FUNCTION_NAMESPACE = 'selfheal';
export const WEBHOOK_SECRET = 'selfheal-webhook-token';
export const ACTION_SECRET = 'selfheal-action-token';
export const ACTIONS = ['restart-pod', 'redeploy', 'scale'] as const;
export const FUNCTIONS = ['router', ...ACTIONS] as const;
export type FunctionName = (typeof FUNCTIONS)[number];

export interface FunctionSettings {
  /** Where the router reaches each action (the playground's service proxy). */
  actionUrls: Record<(typeof ACTIONS)[number], string>;
  /** Namespaces the actions may touch. */
  namespaces: string[];
  /** Per-target cooldown between two actions, in seconds. */
  cooldownSeconds: number;
  /** Where the actions post SelfhealEscalation when a breaker opens (the playground's Alertmanager). */
  alertmanagerUrl: string;
  /** The closed loop's timing: verification deadline, settle time after a verified step, return window. */
  loop: { verifySeconds: number; settleSeconds: number; windowSeconds: number };
  webhookToken: string;
  actionToken: string;
  version: string;
}

const secret = (name: string, token: string): KubernetesObject & { stringData: Record<string, string> } => ({
  apiVersion: 'v1',
  kind: 'Secret',
  metadata: { name, namespace: FUNCTION_NAMESPACE },
  stringData: { token },
});

function functionObjects(name: FunctionName, env: Array<{ name: string; value: string }>, version: string) {
  const labels = {
    'app.kubernetes.io/name': name,
    'app.kubernetes.io/part-of': 'selfheal',
    'selfheal.dev/function': name,
  };
  const tokenMounts = [
    { name: 'action-token', mountPath: '/var/run/secrets/selfheal/action', readOnly: true },
    ...(name === 'router'
      ? [{ name: 'webhook-token', mountPath: '/var/run/secrets/selfheal/webhook', readOnly: true }]
      : []),
  ];
  const deployment = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: FUNCTION_NAMESPACE, labels },
    spec: {
      replicas: 1,
      selector: { matchLabels: { 'app.kubernetes.io/name': name } },
      template: {
        metadata: {
          labels,
          annotations: {
            'prometheus.io/scrape': 'true',
            'prometheus.io/port': '8080',
            'prometheus.io/path': '/metrics',
          },
        },
        spec: {
          ...(name === 'router' ? { automountServiceAccountToken: false } : { serviceAccountName: name }),
          terminationGracePeriodSeconds: 10,
          containers: [
            {
              name,
              image: `ghcr.io/selfheal/${name}:${version}`,
              ports: [{ name: 'http', containerPort: 8080 }],
              env: [
                { name: 'PORT', value: '8080' },
                { name: 'HOST', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
                { name: 'SELFHEAL_ACTION_TOKEN_FILE', value: '/var/run/secrets/selfheal/action/token' },
                // The launcher sizes the function's heap from its memory limit (no cgroup for a local process).
                {
                  name: 'SELFHEAL_MEMORY_LIMIT',
                  valueFrom: { resourceFieldRef: { resource: 'limits.memory' } },
                },
                ...env,
              ],
              resources: {
                requests: { cpu: '20m', memory: '128Mi' },
                limits: { cpu: '500m', memory: name === 'router' ? '256Mi' : '384Mi' },
              },
              readinessProbe: {
                httpGet: { path: '/health/readiness', port: 'http' },
                periodSeconds: 2,
                failureThreshold: 2,
              },
              // Liveness starts once the function answers at all: a slow start on a busy node is not a hang.
              startupProbe: {
                httpGet: { path: '/health/liveness', port: 'http' },
                periodSeconds: 2,
                failureThreshold: 90,
              },
              livenessProbe: {
                httpGet: { path: '/health/liveness', port: 'http' },
                periodSeconds: 10,
                timeoutSeconds: 3,
              },
              volumeMounts: tokenMounts,
            },
          ],
          volumes: [
            { name: 'action-token', secret: { secretName: ACTION_SECRET } },
            ...(name === 'router' ? [{ name: 'webhook-token', secret: { secretName: WEBHOOK_SECRET } }] : []),
          ],
        },
      },
    },
  };
  const service = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace: FUNCTION_NAMESPACE, labels },
    spec: {
      selector: { 'app.kubernetes.io/name': name },
      ports: [{ name: 'http', port: 8080, targetPort: 'http' }],
    },
  };
  return [deployment, service];
}

/** Secrets, Deployments and Services of the four functions, configured for the playground. */
export function playgroundFunctions(settings: FunctionSettings): KubernetesObject[] {
  const common = [
    { name: 'SELFHEAL_NAMESPACES', value: settings.namespaces.join(',') },
    { name: 'SELFHEAL_COOLDOWN_SECONDS', value: String(settings.cooldownSeconds) },
    // A demo breaks things on purpose and often: more room than the production default of 6 an hour.
    { name: 'SELFHEAL_ACTION_BUDGET', value: '30' },
  ];
  const actionUrls = ACTIONS.map((action) => `${action}=${settings.actionUrls[action]}`).join(',');
  return [
    secret(WEBHOOK_SECRET, settings.webhookToken),
    secret(ACTION_SECRET, settings.actionToken),
    ...functionObjects(
      'router',
      [
        ...common,
        { name: 'SELFHEAL_SINK', value: 'direct' },
        { name: 'SELFHEAL_ACTION_URLS', value: actionUrls },
        { name: 'SELFHEAL_WEBHOOK_TOKEN_FILE', value: '/var/run/secrets/selfheal/webhook/token' },
      ],
      settings.version,
    ),
    ...ACTIONS.flatMap((action) =>
      functionObjects(
        action,
        [
          ...common,
          { name: 'SELFHEAL_ALERTMANAGER_URL', value: settings.alertmanagerUrl },
          { name: 'SELFHEAL_VERIFY_SECONDS', value: String(settings.loop.verifySeconds) },
          { name: 'SELFHEAL_SETTLE_SECONDS', value: String(settings.loop.settleSeconds) },
          { name: 'SELFHEAL_EPISODE_WINDOW_SECONDS', value: String(settings.loop.windowSeconds) },
        ],
        settings.version,
      ),
    ),
  ];
}

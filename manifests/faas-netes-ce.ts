// The Deployment and Service that faas-netes, OpenFaaS Community Edition's provider, creates for one function of a
// stack file on `faas-cli deploy`: a pure rendering of its deploy handler, so the shape CE really runs can be
// checked and run without OpenFaaS (the playground's openfaas-ce platform, the readiness and RBAC tests).
// Sources, read in openfaas/faas-netes: pkg/handlers/deploy.go (makeDeploymentSpec, makeServiceSpec,
// buildAnnotations, buildEnvVars, getMinReplicaCount), pkg/k8s/probes.go (MakeProbes), pkg/k8s/securityContext.go
// (ConfigureReadOnlyRootFilesystem, ConfigureContainerUserID), pkg/k8s/secrets.go (ConfigureSecrets), and the
// chart's defaults in chart/openfaas/values.yaml (`faasnetes:`).
import type { StackFunction } from './schemas/openfaas.ts';

/** faas-netes' default function namespace (`function_namespace`); CE refuses any other. */
export const CE_NAMESPACE = 'openfaas-fn';
/** DeploymentConfig.RuntimeHTTPPort: the watchdog's port, fixed at 8080. */
export const RUNTIME_PORT = 8080;
/** pkg/k8s/secrets.go: secretsMountPath. */
export const SECRETS_MOUNT_PATH = '/var/openfaas/secrets';
/** pkg/k8s/probes.go: the HTTP probe's path, and the exec probe's `cat /tmp/.lock`. */
export const CE_HEALTH_PATH = '/_/health';
export const CE_LOCK_FILE = '/tmp/.lock';

export type ProbeTiming = { initialDelaySeconds: number; timeoutSeconds: number; periodSeconds: number };

export type FaasNetesConfig = {
  /** faas-netes' `function_namespace` (the chart's functionNamespace, default openfaas-fn): CE deploys there only. */
  functionNamespace: string;
  /** The chart's faasnetes.httpProbe (default true): false makes both probes `cat /tmp/.lock`. */
  httpProbe: boolean;
  /** The chart's faasnetes.readinessProbe and .livenessProbe. */
  readinessProbe: ProbeTiming;
  livenessProbe: ProbeTiming;
  /** The chart's faasnetes.imagePullPolicy (default Always). */
  imagePullPolicy: 'Always' | 'IfNotPresent' | 'Never';
  /** The chart's faasnetes.setNonRootUser (default false): true runs the function as uid 12000. */
  setNonRootUser: boolean;
};

/** chart/openfaas/values.yaml: functions in openfaas-fn; `faasnetes:` HTTP probes, 2 s delay, 1 s timeout, every 2 s,
 * pull Always, the image's user. */
export const CHART_DEFAULTS: FaasNetesConfig = {
  functionNamespace: CE_NAMESPACE,
  httpProbe: true,
  readinessProbe: { initialDelaySeconds: 2, timeoutSeconds: 1, periodSeconds: 2 },
  livenessProbe: { initialDelaySeconds: 2, timeoutSeconds: 1, periodSeconds: 2 },
  imagePullPolicy: 'Always',
  setNonRootUser: false,
};

/** What faas-netes reads of each Secret a function names (GetSecrets): its type and its keys. */
export type ExistingSecret = { type: string; keys: string[] };

export type DeployRequest = {
  name: string;
  fn: StackFunction;
  /** The Secrets of the function namespace, by name: faas-netes refuses a function whose secret does not exist. */
  secrets: Record<string, ExistingSecret>;
  /** `faas-cli deploy --env KEY=VALUE`: set over the stack file's environment. */
  env?: Record<string, string>;
  config?: Partial<FaasNetesConfig>;
};

type Probe = {
  httpGet?: { path: string; port: number };
  exec?: { command: string[] };
  initialDelaySeconds: number;
  timeoutSeconds: number;
  periodSeconds: number;
  successThreshold: number;
  failureThreshold: number;
};

export class DeployRefused extends Error {
  override name = 'DeployRefused';
}

/** MakeProbes: one handler for both probes; thresholds are fixed at 1 success, 3 failures. */
export function makeProbe(config: FaasNetesConfig, timing: ProbeTiming): Probe {
  const handler = config.httpProbe
    ? { httpGet: { path: CE_HEALTH_PATH, port: RUNTIME_PORT } }
    : { exec: { command: ['cat', CE_LOCK_FILE] } };
  return { ...handler, ...timing, successThreshold: 1, failureThreshold: 3 };
}

/** buildAnnotations: the stack's annotations, plus `prometheus.io.scrape: "false"` unless set (note the dots). */
export function buildAnnotations(fn: StackFunction): Record<string, string> {
  const annotations = { ...(fn.annotations ?? {}) };
  if (annotations.topic?.includes(','))
    throw new DeployRefused('the topic annotation may only support one value in the Community Edition');
  for (const key of Object.keys(annotations)) {
    if (key.includes('amazonaws.com') || key.includes('gke.io'))
      throw new DeployRefused(`annotation "${key}" is not supported in the Community Edition`);
  }
  if (!('prometheus.io.scrape' in annotations)) annotations['prometheus.io.scrape'] = 'false';
  return annotations;
}

/** buildEnvVars: fprocess, then the environment, sorted by name; values as faas-cli sends them (strings). */
export function buildEnvVars(fn: StackFunction, overrides: Record<string, string> = {}) {
  const vars: Record<string, string> = {
    ...Object.fromEntries(Object.entries(fn.environment ?? {}).map(([k, v]) => [k, String(v)])),
    ...overrides,
  };
  const env = Object.entries(vars).map(([name, value]) => ({ name, value }));
  if (fn.fprocess) env.push({ name: 'fprocess', value: fn.fprocess });
  return env.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** getMinReplicaCount: com.openfaas.scale.min when it is a positive integer, else 1. */
export function initialReplicas(fn: StackFunction): number {
  const min = Number.parseInt(fn.labels?.['com.openfaas.scale.min'] ?? '', 10);
  return Number.isInteger(min) && min > 0 ? min : 1;
}

/** The Deployment and Service faas-netes CE creates for one function (POST /system/functions). */
export function ceFunctionObjects(request: DeployRequest) {
  const { name, fn } = request;
  const config = { ...CHART_DEFAULTS, ...request.config };
  const namespace = config.functionNamespace;
  if (fn.namespace && fn.namespace !== namespace) throw new DeployRefused(`namespace must be: ${namespace}`);
  if (fn.environment_file?.length)
    throw new DeployRefused('environment_file is read by faas-cli, not rendered here');
  const annotations = buildAnnotations(fn);
  const selector = { faas_function: name };
  const resources = (r: StackFunction['limits']) =>
    Object.fromEntries(Object.entries(r ?? {}).filter(([, v]) => v !== undefined && v !== ''));

  // ConfigureSecrets: docker config Secrets become imagePullSecrets; every other Secret is projected key by key
  // (path = key) into one volume mounted at /var/openfaas/secrets.
  const imagePullSecrets: Array<{ name: string }> = [];
  const projections: Array<{ secret: { name: string; items: Array<{ key: string; path: string }> } }> = [];
  for (const secretName of fn.secrets ?? []) {
    const existing = request.secrets[secretName];
    if (!existing) throw new DeployRefused(`Required secret '${secretName}' was not found in the cluster`);
    if (existing.type === 'kubernetes.io/dockercfg' || existing.type === 'kubernetes.io/dockerconfigjson') {
      imagePullSecrets.push({ name: secretName });
      continue;
    }
    const items = [...existing.keys].sort().map((key) => ({ key, path: key }));
    projections.push({ secret: { name: secretName, items } });
  }

  // ConfigureReadOnlyRootFilesystem first (an emptyDir "temp" at /tmp), then ConfigureSecrets.
  const volumes: object[] = [];
  const volumeMounts: object[] = [];
  if (fn.readonly_root_filesystem) {
    volumes.push({ name: 'temp', emptyDir: {} });
    volumeMounts.push({ name: 'temp', mountPath: '/tmp', readOnly: false });
  }
  if (projections.length > 0) {
    const volumeName = `${name}-projected-secrets`;
    volumes.push({ name: volumeName, projected: { sources: projections } });
    volumeMounts.push({ name: volumeName, readOnly: true, mountPath: SECRETS_MOUNT_PATH });
  }

  const deployment = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace, annotations, labels: selector },
    spec: {
      selector: { matchLabels: selector },
      replicas: initialReplicas(fn),
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } },
      revisionHistoryLimit: 10,
      template: {
        metadata: { name, labels: { ...selector, ...(fn.labels ?? {}) }, annotations },
        spec: {
          // CE drops constraints (no node selection) and sets no serviceAccountName: the pod runs as `default`.
          nodeSelector: {},
          containers: [
            {
              name,
              image: fn.image,
              ports: [{ name: 'http', containerPort: RUNTIME_PORT, protocol: 'TCP' }],
              env: buildEnvVars(fn, request.env),
              resources: { limits: resources(fn.limits), requests: resources(fn.requests) },
              imagePullPolicy: config.imagePullPolicy,
              livenessProbe: makeProbe(config, config.livenessProbe),
              readinessProbe: makeProbe(config, config.readinessProbe),
              securityContext: {
                readOnlyRootFilesystem: fn.readonly_root_filesystem ?? false,
                ...(config.setNonRootUser ? { runAsUser: 12000 } : {}),
              },
              ...(volumeMounts.length > 0 ? { volumeMounts } : {}),
            },
          ],
          ...(volumes.length > 0 ? { volumes } : {}),
          ...(imagePullSecrets.length > 0 ? { imagePullSecrets } : {}),
          restartPolicy: 'Always',
          dnsPolicy: 'ClusterFirst',
        },
      },
    },
  };

  const service = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace, annotations },
    spec: {
      type: 'ClusterIP',
      selector,
      ports: [{ name: 'http', protocol: 'TCP', port: RUNTIME_PORT, targetPort: RUNTIME_PORT }],
    },
  };
  return { deployment, service };
}

export type CeDeployment = ReturnType<typeof ceFunctionObjects>['deployment'];
export type CeService = ReturnType<typeof ceFunctionObjects>['service'];

// What `func deploy` makes of a function's func.yaml on Knative, after knative/func's Knative deployer
// (pkg/knative/deployer.go: generateNewService, setServiceOptions, createTriggers; pkg/deployer/common.go:
// GenerateCommonLabels, GenerateCommonAnnotations; pkg/k8s/deployer.go: SetHealthEndpoints, ProcessVolumes), so the
// func.yaml files and the Knative overlay can be held in step.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { z } from 'zod';
import { REPO_ROOT } from './render.ts';

const env = z.strictObject({ name: z.string(), value: z.string() });
const quantities = z.strictObject({ cpu: z.string().optional(), memory: z.string().optional() });

/** The fields of func.yaml (schema/func_yaml-schema.json, specVersion 0.36.0) these functions use. */
export const funcYamlSchema = z.strictObject({
  specVersion: z.literal('0.36.0'),
  name: z.string().regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/),
  runtime: z.string(),
  image: z.string(),
  namespace: z.string(),
  created: z.union([z.string(), z.date()]),
  invoke: z.enum(['http', 'cloudevent']).optional(),
  run: z
    .strictObject({
      envs: z.array(env).default([]),
      volumes: z.array(z.strictObject({ secret: z.string(), path: z.string() })).default([]),
    })
    .default({ envs: [], volumes: [] }),
  deploy: z.strictObject({
    namespace: z.string(),
    serviceAccountName: z.string(),
    labels: z.array(z.strictObject({ key: z.string(), value: z.string() })).default([]),
    annotations: z.record(z.string(), z.string()).default({}),
    options: z.strictObject({
      scale: z.strictObject({ min: z.number().int(), max: z.number().int() }),
      resources: z.strictObject({
        requests: quantities,
        limits: quantities.extend({ concurrency: z.number().int().optional() }),
      }),
    }),
    healthEndpoints: z.strictObject({ liveness: z.string(), readiness: z.string() }),
    subscriptions: z
      .array(z.strictObject({ source: z.string(), filters: z.record(z.string(), z.string()) }))
      .default([]),
  }),
});
export type FuncYaml = z.infer<typeof funcYamlSchema>;

export function readFuncYaml(name: string): FuncYaml {
  const file = join(REPO_ROOT, 'functions', name, 'func.yaml');
  return funcYamlSchema.parse(parse(readFileSync(file, 'utf8')));
}

/** Annotations func adds to every Service it deploys. */
export const FUNC_ANNOTATIONS = ['function.knative.dev/deployer'] as const;
/** Labels func adds to every Service it deploys. */
export const FUNC_LABELS = [
  'boson.dev/function',
  'function.knative.dev/name',
  'function.knative.dev/runtime',
] as const;

export type FuncService = {
  name: string;
  namespace: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  template: {
    labels: Record<string, string>;
    annotations: Record<string, string>;
    containerConcurrency: number | undefined;
    serviceAccountName: string;
    image: string;
    env: { name: string; value: string }[];
    resources: { requests: Record<string, string>; limits: Record<string, string> };
    livenessPath: string;
    readinessPath: string;
    volumes: { secretName: string; mountPath: string }[];
  };
};

export function funcService(f: FuncYaml): FuncService {
  const labels: Record<string, string> = Object.fromEntries(f.deploy.labels.map((l) => [l.key, l.value]));
  labels['boson.dev/function'] = 'true';
  labels['function.knative.dev/name'] = f.name;
  labels['function.knative.dev/runtime'] = f.runtime;
  const annotations = { 'function.knative.dev/deployer': 'knative', ...f.deploy.annotations };
  const { scale, resources } = f.deploy.options;
  const strip = (q: { cpu?: string | undefined; memory?: string | undefined }) =>
    Object.fromEntries(
      Object.entries({ cpu: q.cpu, memory: q.memory }).filter(([, v]) => v !== undefined),
    ) as Record<string, string>;
  return {
    name: f.name,
    namespace: f.deploy.namespace,
    labels,
    annotations,
    template: {
      labels,
      annotations: {
        ...annotations,
        'autoscaling.knative.dev/min-scale': String(scale.min),
        'autoscaling.knative.dev/max-scale': String(scale.max),
      },
      containerConcurrency: resources.limits.concurrency,
      serviceAccountName: f.deploy.serviceAccountName,
      image: f.image,
      env: f.run.envs,
      resources: { requests: strip(resources.requests), limits: strip(resources.limits) },
      livenessPath: f.deploy.healthEndpoints.liveness,
      readinessPath: f.deploy.healthEndpoints.readiness,
      volumes: f.run.volumes.map((v) => ({ secretName: v.secret, mountPath: v.path })),
    },
  };
}

export type FuncTrigger = {
  name: string;
  broker: string;
  attributes: Record<string, string>;
  service: string;
};

/** The Triggers `func deploy` creates for deploy.subscriptions (named `<service>-function-trigger-<n>`). */
export function funcTriggers(f: FuncYaml): FuncTrigger[] {
  return f.deploy.subscriptions.map((s, i) => ({
    name: `${f.name}-function-trigger-${i}`,
    broker: s.source,
    attributes: s.filters,
    service: f.name,
  }));
}

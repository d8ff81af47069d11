// Schemas of the Knative kinds selfheal deploys (serving.knative.dev/v1 Service, eventing.knative.dev/v1 Broker
// and Trigger), after the published API reference and the runtime contract: the container fields a revision may
// set, the reserved environment variables and ports, and the autoscaling annotations.
import { z } from 'zod';
import {
  annotations,
  dns1035Label,
  dnsLabel,
  kReference,
  labels,
  objectMeta,
  quantity,
} from './kubernetes.ts';

/** Set by Knative itself inside every revision; a Service may not set them. */
export const RESERVED_ENV = ['PORT', 'K_SERVICE', 'K_CONFIGURATION', 'K_REVISION'] as const;
/** Used by the queue-proxy sidecar in every revision pod. */
export const RESERVED_PORTS = [8012, 8013, 8022, 9090, 9091] as const;

const envVar = z
  .object({
    name: z
      .string()
      .refine((name) => !(RESERVED_ENV as readonly string[]).includes(name), 'is reserved by Knative'),
    value: z.string().optional(),
    valueFrom: z.record(z.string(), z.unknown()).optional(),
  })
  .strict();

const httpGetProbe = z.strictObject({
  httpGet: z.strictObject({
    path: z.string().startsWith('/'),
    // Knative probes the container's single port: any other port is rejected.
    port: z.union([z.number(), z.string()]).optional(),
    httpHeaders: z.array(z.object({ name: z.string(), value: z.string() })).optional(),
  }),
  initialDelaySeconds: z.number().int().min(0).optional(),
  periodSeconds: z.number().int().min(0).optional(),
  timeoutSeconds: z.number().int().min(0).optional(),
  failureThreshold: z.number().int().min(1).optional(),
  successThreshold: z.number().int().min(1).optional(),
});

const containerSecurityContext = z.strictObject({
  allowPrivilegeEscalation: z.boolean().optional(),
  readOnlyRootFilesystem: z.boolean().optional(),
  runAsNonRoot: z.boolean().optional(),
  runAsUser: z.number().int().optional(),
  runAsGroup: z.number().int().optional(),
  capabilities: z
    .strictObject({
      drop: z.array(z.string()).optional(),
      add: z.array(z.literal('NET_BIND_SERVICE')).optional(),
    })
    .optional(),
  seccompProfile: z.strictObject({ type: z.enum(['RuntimeDefault', 'Unconfined', 'Localhost']) }).optional(),
});

/** The container fields a Knative revision accepts (no lifecycle hooks, stdin, tty or host ports). */
const container = z
  .strictObject({
    name: dnsLabel.optional(),
    image: z.string().min(1),
    command: z.array(z.string()).optional(),
    args: z.array(z.string()).optional(),
    workingDir: z.string().optional(),
    env: z.array(envVar).optional(),
    envFrom: z.array(z.unknown()).optional(),
    imagePullPolicy: z.enum(['Always', 'IfNotPresent', 'Never']).optional(),
    ports: z
      .array(
        z.strictObject({
          name: z.enum(['http1', 'h2c']).optional(),
          containerPort: z
            .number()
            .int()
            .min(1)
            .max(65535)
            .refine(
              (p) => !(RESERVED_PORTS as readonly number[]).includes(p),
              'is reserved for the queue-proxy',
            ),
          protocol: z.literal('TCP').optional(),
        }),
      )
      .max(1, 'a serving container exposes one port')
      .optional(),
    resources: z
      .strictObject({
        requests: z.partialRecord(z.enum(['cpu', 'memory', 'ephemeral-storage']), quantity).optional(),
        limits: z.partialRecord(z.enum(['cpu', 'memory', 'ephemeral-storage']), quantity).optional(),
      })
      .optional(),
    livenessProbe: httpGetProbe.optional(),
    readinessProbe: httpGetProbe.optional(),
    startupProbe: httpGetProbe.optional(),
    securityContext: containerSecurityContext.optional(),
    volumeMounts: z
      .array(
        z.strictObject({
          name: z.string(),
          mountPath: z
            .string()
            .refine(
              (p) => !['/', '/dev', '/dev/log', '/tmp', '/var', '/var/log'].includes(p),
              'is a reserved path',
            ),
          readOnly: z.boolean().optional(),
          subPath: z.string().optional(),
        }),
      )
      .optional(),
    terminationMessagePath: z.string().optional(),
    terminationMessagePolicy: z.string().optional(),
  })
  .superRefine((c, ctx) => {
    const port = c.ports?.[0]?.containerPort;
    for (const [field, probe] of [
      ['livenessProbe', c.livenessProbe],
      ['readinessProbe', c.readinessProbe],
      ['startupProbe', c.startupProbe],
    ] as const) {
      const probePort = probe?.httpGet.port;
      if (probePort !== undefined && probePort !== port) {
        ctx.addIssue({
          code: 'custom',
          path: [field, 'httpGet', 'port'],
          message: 'must be the container port',
        });
      }
    }
  });

const scaleBound = z.string().regex(/^\d+$/, 'must be a non-negative integer in a string');

const revisionAnnotations = annotations.and(
  z.object({
    'autoscaling.knative.dev/min-scale': scaleBound.optional(),
    'autoscaling.knative.dev/max-scale': scaleBound.optional(),
    'autoscaling.knative.dev/initial-scale': scaleBound.optional(),
    'autoscaling.knative.dev/target': z
      .string()
      .regex(/^\d+(\.\d+)?$/)
      .optional(),
    'autoscaling.knative.dev/metric': z.enum(['concurrency', 'rps', 'cpu', 'memory']).optional(),
    'autoscaling.knative.dev/class': z
      .enum(['kpa.autoscaling.knative.dev', 'hpa.autoscaling.knative.dev'])
      .optional(),
  }),
);

export const knativeService = z.strictObject({
  apiVersion: z.literal('serving.knative.dev/v1'),
  kind: z.literal('Service'),
  metadata: objectMeta.extend({
    name: dns1035Label,
    labels: labels
      .and(z.object({ 'networking.knative.dev/visibility': z.literal('cluster-local').optional() }))
      .optional(),
  }),
  spec: z.strictObject({
    template: z.strictObject({
      metadata: z
        .strictObject({
          name: dnsLabel.optional(),
          labels: labels.optional(),
          annotations: revisionAnnotations.optional(),
        })
        .optional(),
      spec: z
        .strictObject({
          containers: z.array(container).length(1, 'one serving container'),
          serviceAccountName: dnsLabel.optional(),
          automountServiceAccountToken: z.boolean().optional(),
          containerConcurrency: z.number().int().min(0).optional(),
          timeoutSeconds: z.number().int().min(0).optional(),
          responseStartTimeoutSeconds: z.number().int().min(0).optional(),
          idleTimeoutSeconds: z.number().int().min(0).optional(),
          enableServiceLinks: z.boolean().optional(),
          imagePullSecrets: z.array(z.strictObject({ name: z.string() })).optional(),
          volumes: z
            .array(
              z.strictObject({
                name: dnsLabel,
                secret: z.record(z.string(), z.unknown()).optional(),
                configMap: z.record(z.string(), z.unknown()).optional(),
                projected: z.record(z.string(), z.unknown()).optional(),
              }),
            )
            .optional(),
        })
        .superRefine((spec, ctx) => {
          const mounted = new Set(spec.containers.flatMap((c) => c.volumeMounts?.map((m) => m.name) ?? []));
          const declared = new Set(spec.volumes?.map((v) => v.name) ?? []);
          for (const name of mounted) {
            if (!declared.has(name))
              ctx.addIssue({ code: 'custom', path: ['volumes'], message: `no volume ${name}` });
          }
        }),
    }),
    traffic: z
      .array(
        z.strictObject({
          latestRevision: z.boolean().optional(),
          revisionName: z.string().optional(),
          percent: z.number().int().min(0).max(100).optional(),
          tag: z.string().optional(),
        }),
      )
      .optional(),
  }),
});

const backoffDelay = z
  .string()
  .regex(/^P(T(\d+(\.\d+)?[HMS])+|\d+D)$/, 'must be an ISO 8601 duration (e.g. PT0.5S)');

const destination = z
  .strictObject({ ref: kReference.optional(), uri: z.string().optional() })
  .refine((d) => d.ref !== undefined || d.uri !== undefined, 'needs a ref or a uri');

const delivery = z.strictObject({
  deadLetterSink: destination.optional(),
  retry: z.number().int().min(0).optional(),
  backoffPolicy: z.enum(['linear', 'exponential']).optional(),
  backoffDelay: backoffDelay.optional(),
  timeout: backoffDelay.optional(),
});

export const broker = z.strictObject({
  apiVersion: z.literal('eventing.knative.dev/v1'),
  kind: z.literal('Broker'),
  metadata: objectMeta.extend({
    annotations: annotations
      .and(z.object({ 'eventing.knative.dev/broker.class': z.string().min(1).optional() }))
      .optional(),
  }),
  spec: z.strictObject({ config: kReference.optional(), delivery: delivery.optional() }).optional(),
});

export const trigger = z.strictObject({
  apiVersion: z.literal('eventing.knative.dev/v1'),
  kind: z.literal('Trigger'),
  metadata: objectMeta,
  spec: z.strictObject({
    broker: dnsLabel,
    // The attribute filter every broker implements: exact matches on CloudEvent attributes.
    filter: z.strictObject({ attributes: z.record(z.string(), z.string()) }).optional(),
    subscriber: destination,
    delivery: delivery.optional(),
  }),
});

// sources.knative.dev/v1 SinkBinding: K_SINK set in a PodSpecable subject's pods from a sink's address.
export const sinkBinding = z.strictObject({
  apiVersion: z.literal('sources.knative.dev/v1'),
  kind: z.literal('SinkBinding'),
  metadata: objectMeta,
  spec: z.strictObject({
    subject: z.strictObject({
      apiVersion: z.string().min(1),
      kind: z.string().min(1),
      name: dnsLabel.optional(),
      namespace: dnsLabel.optional(),
      selector: z.record(z.string(), z.unknown()).optional(),
    }),
    sink: destination,
  }),
});

export type KnativeService = z.infer<typeof knativeService>;
export type Trigger = z.infer<typeof trigger>;

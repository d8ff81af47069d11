// Schemas of OpenFaaS' stack file (faas-cli's stack.yml, version 1.0) and its Function custom resource
// (openfaas.com/v1), after the published reference: unknown fields are rejected to catch typos that faas-cli
// would silently ignore.
import { z } from 'zod';
import { annotations, dns1035Label, labels, objectMeta, quantity } from './kubernetes.ts';

const resources = z.strictObject({ memory: quantity.optional(), cpu: quantity.optional() });

/** faas-cli reads environment values into strings; YAML numbers and booleans are accepted as it does. */
const environment = z.record(
  z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an environment variable name'),
  z.union([z.string(), z.number(), z.boolean()]),
);

/** Label values are strings in the OpenFaaS API: scale labels must be quoted ("1"), not YAML numbers. */
const scaleLabels = z.object({
  'com.openfaas.scale.min': z.string().regex(/^\d+$/).optional(),
  'com.openfaas.scale.max': z.string().regex(/^\d+$/).optional(),
  'com.openfaas.scale.zero': z.enum(['true', 'false']).optional(),
  'com.openfaas.scale.zero-duration': z
    .string()
    .regex(/^(\d+(ns|us|µs|ms|s|m|h))+$/, 'must be a Go duration')
    .optional(),
});

export const stackFunction = z.strictObject({
  lang: z.string().min(1),
  handler: z.string().min(1),
  image: z.string().min(1),
  namespace: z.string().optional(),
  fprocess: z.string().optional(),
  skip_build: z.boolean().optional(),
  build_options: z.array(z.string()).optional(),
  build_args: z.record(z.string(), z.string()).optional(),
  platforms: z.string().optional(),
  environment: environment.optional(),
  environment_file: z.array(z.string()).optional(),
  secrets: z
    .array(z.string().regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, 'must be a Kubernetes Secret name'))
    .optional(),
  readonly_root_filesystem: z.boolean().optional(),
  constraints: z.array(z.string()).optional(),
  labels: labels.and(scaleLabels).optional(),
  annotations: annotations.optional(),
  limits: resources.optional(),
  requests: resources.optional(),
});

export const stackFile = z.strictObject({
  // YAML reads `version: 1.0` as the number 1.
  version: z.union([z.literal('1.0'), z.literal(1)]),
  provider: z.strictObject({
    name: z.literal('openfaas'),
    gateway: z.url().optional(),
    network: z.string().optional(),
  }),
  configuration: z
    .strictObject({
      templates: z.array(z.strictObject({ name: z.string(), source: z.string().optional() })).optional(),
      copy: z.array(z.string()).optional(),
    })
    .optional(),
  functions: z.record(dns1035Label, stackFunction),
});

export type StackFile = z.infer<typeof stackFile>;
export type StackFunction = z.infer<typeof stackFunction>;

/** The Function custom resource that `faas-cli generate` writes from a stack file. */
export const functionResource = z.strictObject({
  apiVersion: z.literal('openfaas.com/v1'),
  kind: z.literal('Function'),
  metadata: objectMeta,
  spec: z.strictObject({
    name: dns1035Label,
    image: z.string().min(1),
    handler: z.string().optional(),
    labels: labels.and(scaleLabels).optional(),
    annotations: annotations.optional(),
    environment: z.record(z.string(), z.string()).optional(),
    secrets: z.array(z.string()).optional(),
    constraints: z.array(z.string()).optional(),
    limits: resources.optional(),
    requests: resources.optional(),
    readOnlyRootFilesystem: z.boolean().optional(),
  }),
});

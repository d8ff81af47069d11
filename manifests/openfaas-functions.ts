// Turns stack.yml into OpenFaaS Function custom resources (openfaas.com/v1), the way `faas-cli generate` does, for
// clusters where the OpenFaaS operator deploys functions from the API (GitOps). Writes
// manifests/overlays/openfaas/functions/functions.yaml: node manifests/openfaas-functions.ts
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { type StackFile, type StackFunction, stackFile } from './schemas/openfaas.ts';

export const STACK_FILE = join(import.meta.dirname, '..', 'stack.yml');
export const FUNCTIONS_FILE = join(
  import.meta.dirname,
  'overlays',
  'openfaas',
  'functions',
  'functions.yaml',
);
/** Where OpenFaaS Community Edition deploys functions. */
export const FUNCTION_NAMESPACE = 'openfaas-fn';

/**
 * faas-cli's substitution of environment variables in a stack file (drone/envsubst): `${VAR}`, and `${VAR:-default}`
 * which takes the default when VAR is unset or empty. With no environment given, every default applies.
 */
export function substituteEnv(text: string, env: Record<string, string | undefined> = {}): string {
  return text.replace(
    /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g,
    (_match, name: string, fallback?: string) => {
      const value = env[name];
      return value === undefined || value === '' ? (fallback ?? '') : value;
    },
  );
}

export function readStack(path = STACK_FILE, env: Record<string, string | undefined> = {}): StackFile {
  const result = stackFile.safeParse(parse(substituteEnv(readFileSync(path, 'utf8'), env)));
  if (!result.success) {
    const problems = result.error.issues.map((i) => `  - ${i.path.join('.')}: ${i.message}`).join('\n');
    throw new Error(`${path} is not a valid OpenFaaS stack file:\n${problems}`);
  }
  return result.data;
}

function stringValues(record: Record<string, string | number | boolean> | undefined): Record<string, string> {
  return Object.fromEntries(Object.entries(record ?? {}).map(([k, v]) => [k, String(v)]));
}

export function functionResource(name: string, fn: StackFunction) {
  return {
    apiVersion: 'openfaas.com/v1',
    kind: 'Function',
    metadata: { name, namespace: fn.namespace ?? FUNCTION_NAMESPACE },
    spec: {
      name,
      image: fn.image,
      ...(fn.labels ? { labels: fn.labels } : {}),
      ...(fn.annotations ? { annotations: fn.annotations } : {}),
      ...(fn.environment ? { environment: stringValues(fn.environment) } : {}),
      ...(fn.secrets ? { secrets: fn.secrets } : {}),
      ...(fn.constraints ? { constraints: fn.constraints } : {}),
      ...(fn.limits ? { limits: fn.limits } : {}),
      ...(fn.requests ? { requests: fn.requests } : {}),
      ...(fn.readonly_root_filesystem !== undefined
        ? { readOnlyRootFilesystem: fn.readonly_root_filesystem }
        : {}),
    },
  };
}

export function renderFunctions(stack: StackFile = readStack()): string {
  const header =
    '# Generated from stack.yml by `node manifests/openfaas-functions.ts` (what `faas-cli generate` writes):\n' +
    '# edit stack.yml, not this file. OpenFaaS Pro: needs its operator and Function CRD (CE: faas-cli deploy).\n';
  return (
    header +
    Object.entries(stack.functions)
      .map(([name, fn]) => `---\n${stringify(functionResource(name, fn))}`)
      .join('')
  );
}

if (import.meta.main) {
  writeFileSync(FUNCTIONS_FILE, renderFunctions());
  console.log(`wrote ${FUNCTIONS_FILE}`);
}

// Renders the kustomize trees with the real kubectl and sorts the objects into built-in kinds and custom resources.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parseAllDocuments } from 'yaml';
import { resolveBinaries } from '../devkit/binaries.ts';

export const MANIFESTS_DIR = import.meta.dirname;
export const REPO_ROOT = join(MANIFESTS_DIR, '..');

/** Every kustomization a user can apply, relative to manifests/. */
export const TREES = [
  'base',
  'overlays/openfaas',
  'overlays/openfaas/functions',
  'overlays/knative',
] as const;
export type Tree = (typeof TREES)[number];

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  [field: string]: unknown;
}

/** API groups the API server serves itself; anything else is a custom resource. */
const BUILT_IN_GROUPS = new Set([
  '',
  'apps',
  'batch',
  'policy',
  'rbac.authorization.k8s.io',
  'networking.k8s.io',
  'autoscaling',
  'discovery.k8s.io',
]);

export function apiGroup(apiVersion: string): string {
  const slash = apiVersion.indexOf('/');
  return slash < 0 ? '' : apiVersion.slice(0, slash);
}

export function isBuiltIn(object: K8sObject): boolean {
  return BUILT_IN_GROUPS.has(apiGroup(object.apiVersion));
}

export function kubectl(): string {
  return resolveBinaries(['kubectl']).kubectl;
}

export function parseObjects(text: string): K8sObject[] {
  return parseAllDocuments(text)
    .map((doc) => {
      if (doc.errors.length > 0) throw new Error(doc.errors.map((e) => e.message).join('\n'));
      return doc.toJS() as K8sObject | null;
    })
    .filter((o): o is K8sObject => o !== null);
}

/** `kubectl kustomize manifests/<tree>` (or any kustomization path relative to manifests/): the objects exactly as
 * `kubectl apply -k` would send them. */
export async function render(tree: Tree | (string & {})): Promise<K8sObject[]> {
  const { stdout } = await promisify(execFile)(kubectl(), ['kustomize', join(MANIFESTS_DIR, tree)], {
    maxBuffer: 16 * 1024 * 1024,
  });
  return parseObjects(stdout);
}

export function describe(object: K8sObject): string {
  const ns = object.metadata.namespace ? `${object.metadata.namespace}/` : '';
  return `${object.kind} ${ns}${object.metadata.name} (${object.apiVersion})`;
}

export function find(
  objects: readonly K8sObject[],
  kind: string,
  name: string,
  apiVersion?: string,
): K8sObject {
  const found = objects.find(
    (o) =>
      o.kind === kind &&
      o.metadata.name === name &&
      (apiVersion === undefined || o.apiVersion === apiVersion),
  );
  if (!found) throw new Error(`no ${kind} ${name} in the rendered objects`);
  return found;
}

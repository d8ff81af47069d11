// Sends objects to a real API server as a server-side dry run with strict field validation: the server runs its
// defaulting, validation and admission on them and stores nothing.
import { spawn } from 'node:child_process';
import { stringify } from 'yaml';
import { describe, type K8sObject, kubectl } from './render.ts';

export interface DryRunResult {
  ok: boolean;
  /** `kind/name` of every object the server accepted. */
  accepted: string[];
  errors: string;
}

/** Namespaces the objects name are replaced by `namespace`, so the test's own namespace holds them all. */
export function intoNamespace(objects: readonly K8sObject[], namespace: string): K8sObject[] {
  return objects.map((o) =>
    o.metadata.namespace === undefined ? o : { ...o, metadata: { ...o.metadata, namespace } },
  );
}

export function dryRun(objects: readonly K8sObject[], kubeconfigPath: string): Promise<DryRunResult> {
  const input = objects.map((o) => `---\n${stringify(o)}`).join('');
  return new Promise((resolve, reject) => {
    const child = spawn(
      kubectl(),
      [
        `--kubeconfig=${kubeconfigPath}`,
        // Server-side apply rather than create: cluster-scoped objects (ClusterRoles) may already exist in a
        // shared test cluster, and an apply dry run validates them all the same.
        'apply',
        '--server-side',
        '--force-conflicts',
        '--field-manager=selfheal-dry-run',
        '--dry-run=server',
        '--validate=strict',
        '--output=name',
        '--filename=-',
      ],
      { stdio: ['pipe', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => {
      stdout += chunk;
    });
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
    });
    child.on('error', reject);
    child.on('close', (code) => {
      resolve({ ok: code === 0, accepted: stdout.split('\n').filter(Boolean), errors: stderr.trim() });
    });
    child.stdin.end(input);
  });
}

export function names(objects: readonly K8sObject[]): string[] {
  return objects.map(describe);
}

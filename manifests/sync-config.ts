// Copies the Prometheus and Alertmanager configuration from stack/ into the kustomize trees, with the router
// URL each platform needs. kustomize refuses files outside a kustomization's folder, so the trees hold copies;
// manifests.test.ts fails when a copy is stale. Run: node manifests/sync-config.ts
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { parseDocument } from 'yaml';

const ROOT = join(import.meta.dirname, '..');
const STACK = join(ROOT, 'stack');
const MANIFESTS = import.meta.dirname;

/** The Alertmanager receiver that posts to the router (stack/alertmanager/alertmanager.yml keeps this name). */
export const ROUTER_RECEIVER = 'selfheal-router';

/** Where Alertmanager reaches the router on each platform. */
export const ROUTER_URLS = {
  // The OpenFaaS gateway forwards /function/<name> to the function in openfaas-fn.
  openfaas: 'http://gateway.openfaas:8080/function/router',
  // A cluster-local Knative Service answers on port 80 of its name in its namespace.
  knative: 'http://router.selfheal.svc.cluster.local/',
} as const;

export const RULES_DIR = join(STACK, 'prometheus', 'rules');

export function ruleFiles(): string[] {
  return readdirSync(RULES_DIR)
    .filter((f) => f.endsWith('.rules.yml'))
    .sort();
}

function banner(source: string, note = ''): string {
  return `# Generated from ${relative(ROOT, source)}${note} by \`node manifests/sync-config.ts\`: edit the source.\n`;
}

/** The Alertmanager configuration with the router receiver's webhook URL replaced, comments kept. */
export function withRouterUrl(text: string, url: string): string {
  const doc = parseDocument(text);
  const receivers = doc.toJS().receivers as { name: string; webhook_configs?: unknown[] }[];
  const index = receivers.findIndex((r) => r.name === ROUTER_RECEIVER);
  if (index < 0 || !receivers[index]?.webhook_configs?.length) {
    throw new Error(`no receiver ${ROUTER_RECEIVER} with a webhook in the Alertmanager configuration`);
  }
  doc.setIn(['receivers', index, 'webhook_configs', 0, 'url'], url);
  return doc.toString({ lineWidth: 0, flowCollectionPadding: false });
}

/** Path (relative to manifests/) → content of every copy. */
export function renderCopies(): Map<string, string> {
  const copies = new Map<string, string>();
  const prometheus = join(STACK, 'prometheus', 'prometheus.yml');
  copies.set('base/monitoring/config/prometheus.yml', banner(prometheus) + readFileSync(prometheus, 'utf8'));
  for (const file of ruleFiles()) {
    const source = join(RULES_DIR, file);
    copies.set(`base/monitoring/config/${file}`, banner(source) + readFileSync(source, 'utf8'));
  }
  const alertmanager = join(STACK, 'alertmanager', 'alertmanager.yml');
  const text = readFileSync(alertmanager, 'utf8');
  copies.set('base/monitoring/config/alertmanager.yml', banner(alertmanager) + text);
  for (const [platform, url] of Object.entries(ROUTER_URLS)) {
    copies.set(
      `overlays/${platform}/alertmanager.yml`,
      banner(alertmanager, ` (router URL ${url})`) + withRouterUrl(text, url),
    );
  }
  return copies;
}

if (import.meta.main) {
  for (const [path, content] of renderCopies()) {
    writeFileSync(join(MANIFESTS, path), content);
    console.log(`wrote manifests/${path}`);
  }
}

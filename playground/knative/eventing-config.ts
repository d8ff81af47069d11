// Knative Eventing's own config/ (from its Go module, as the build script copies it) turned into what to apply here:
// which objects, in which order, which Deployments run as processes, and the few changes a cluster without
// kube-proxy needs (webhook Services the API server reaches on a host port; placement on the process node).
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { KubernetesObject, V1Container, V1Deployment, V1EnvVar } from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import type { KNATIVE_EVENTING_BINARIES } from '../../devkit/binaries.ts';

export type ConfigObject = KubernetesObject & { [field: string]: unknown };

export const EVENTING_NAMESPACE = 'knative-eventing';

/** The folders of the build's config copy, applied in this order (core first: CRDs, namespace, shared roles). */
export const CONFIG_FOLDERS = ['core', 'mt-channel-broker', 'in-memory-channel', 'serving'] as const;

/** The Deployments that make a channel-based Broker work, by the image each names (`ko://` import paths). */
export const RUN_IMAGES: Record<string, (typeof KNATIVE_EVENTING_BINARIES)[number]> = {
  'ko://knative.dev/eventing/cmd/controller': 'knative-eventing-controller',
  'ko://knative.dev/eventing/cmd/webhook': 'knative-eventing-webhook',
  'ko://knative.dev/eventing/cmd/mtchannel_broker': 'knative-mtchannel-broker',
  'ko://knative.dev/eventing/cmd/broker/ingress': 'knative-broker-ingress',
  'ko://knative.dev/eventing/cmd/broker/filter': 'knative-broker-filter',
  'ko://knative.dev/eventing/cmd/in_memory/channel_controller': 'knative-imc-controller',
  'ko://knative.dev/eventing/cmd/in_memory/channel_dispatcher': 'knative-imc-dispatcher',
};

/**
 * Left out, and why: components a Broker does not use (JobSink, RequestReply, the PingSource adapter that scales
 * from zero), and autoscalers with no metrics server behind them.
 */
export const LEFT_OUT: Record<string, string> = {
  'Deployment/job-sink': 'JobSink is not used',
  'Service/job-sink': 'JobSink is not used',
  'StatefulSet/request-reply': 'RequestReply is not used',
  'Service/request-reply': 'RequestReply is not used',
  'Secret/request-reply-keys': 'RequestReply is not used',
  'Deployment/pingsource-mt-adapter': 'PingSource is not used (its adapter starts at 0 replicas)',
  'HorizontalPodAutoscaler/*': 'no metrics server: one replica each',
};

/** The webhook Services and the Deployment that serves each. */
export const WEBHOOK_SERVICES: Record<string, string> = {
  'eventing-webhook': 'eventing-webhook',
  'inmemorychannel-webhook': 'imc-controller',
};

export type ConfigFile = { file: string; object: ConfigObject };

/** Every object of the config folders, file by file in name order. */
export function readConfig(configDir: string): ConfigFile[] {
  const out: ConfigFile[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir).sort()) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) walk(path);
      else if (name.endsWith('.yaml'))
        for (const doc of parseAllDocuments(readFileSync(path, 'utf8'))) {
          const object = doc.toJS() as ConfigObject | null;
          if (object?.kind) out.push({ file: path.slice(configDir.length + 1), object });
        }
    }
  };
  for (const folder of CONFIG_FOLDERS) {
    try {
      walk(join(configDir, folder));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
  return out;
}

export type Placement = {
  nodeSelector: Record<string, string>;
  tolerations: { key: string; operator: string; effect: string }[];
};

export type EventingPlan = {
  /** CustomResourceDefinitions, applied first and awaited. */
  crds: ConfigObject[];
  /** Namespace, ServiceAccounts, roles, ConfigMaps, Secrets, Services: applied before the Deployments. */
  setup: ConfigObject[];
  /** The Deployments run as processes, placed on the process node. */
  deployments: V1Deployment[];
  /** Admission webhook configurations: applied once their webhook serves (see webhookConfigurations). */
  webhooks: ConfigObject[];
  /** `Kind/name` of what was left out, with the reason. */
  leftOut: string[];
};

function leftOutReason(object: ConfigObject): string | undefined {
  return LEFT_OUT[`${object.kind}/${object.metadata?.name}`] ?? LEFT_OUT[`${object.kind}/*`];
}

/**
 * The release install generates ConfigMaps of image references (integrations, transformations) that the module's
 * config only names in the controller's env: here they exist with each key the env reads and no image, since no
 * integration or transformation runs.
 */
export function missingImageConfigMaps(deployments: V1Deployment[], present: Set<string>): ConfigObject[] {
  const keys = new Map<string, Set<string>>();
  for (const d of deployments)
    for (const c of d.spec?.template.spec?.containers ?? [])
      for (const e of c.env ?? ([] as V1EnvVar[])) {
        const ref = e.valueFrom?.configMapKeyRef;
        if (!ref?.name || present.has(ref.name)) continue;
        const set = keys.get(ref.name) ?? new Set<string>();
        set.add(ref.key);
        keys.set(ref.name, set);
      }
  return [...keys].map(([name, set]) => ({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: {
      name,
      namespace: EVENTING_NAMESPACE,
      labels: { 'app.kubernetes.io/name': 'knative-eventing' },
    },
    data: Object.fromEntries([...set].sort().map((k) => [k, ''])),
  }));
}

/** Splits the config into what to apply when, with this cluster's placement and webhook Services. */
export function planEventing(files: ConfigFile[], placement: Placement): EventingPlan {
  const plan: EventingPlan = { crds: [], setup: [], deployments: [], webhooks: [], leftOut: [] };
  const configMaps = new Set<string>();
  for (const { object } of files) {
    const reason = leftOutReason(object);
    if (reason) {
      plan.leftOut.push(`${object.kind}/${object.metadata?.name}: ${reason}`);
      continue;
    }
    switch (object.kind) {
      case 'CustomResourceDefinition':
        plan.crds.push(object);
        break;
      case 'MutatingWebhookConfiguration':
      case 'ValidatingWebhookConfiguration':
        plan.webhooks.push(object);
        break;
      case 'Deployment': {
        const d = structuredClone(object) as unknown as V1Deployment;
        const image = d.spec?.template.spec?.containers[0]?.image ?? '';
        if (!RUN_IMAGES[image]) {
          plan.leftOut.push(`Deployment/${object.metadata?.name}: no built binary for ${image}`);
          continue;
        }
        const pod = d.spec?.template.spec;
        if (pod) {
          pod.nodeSelector = { ...pod.nodeSelector, ...placement.nodeSelector };
          pod.tolerations = [...(pod.tolerations ?? []), ...placement.tolerations];
        }
        plan.deployments.push(d);
        break;
      }
      case 'Service': {
        const name = object.metadata?.name ?? '';
        if (WEBHOOK_SERVICES[name]) {
          // The API server calls a webhook at its Service; with no kube-proxy, an ExternalName Service sends it to
          // this host, on the port the webhook configuration names (webhookConfigurations).
          plan.setup.push({
            apiVersion: 'v1',
            kind: 'Service',
            metadata: { ...object.metadata },
            spec: { type: 'ExternalName', externalName: 'localhost' },
          });
        } else plan.setup.push(object);
        break;
      }
      default:
        if (object.kind === 'ConfigMap') configMaps.add(object.metadata?.name ?? '');
        plan.setup.push(object);
    }
  }
  plan.setup.push(...missingImageConfigMaps(plan.deployments, configMaps));
  // Namespaces first, then identities and roles, then the rest.
  const rank = (o: ConfigObject) => (o.kind === 'Namespace' ? 0 : o.kind === 'ServiceAccount' ? 1 : 2);
  plan.setup.sort((a, b) => rank(a) - rank(b));
  return plan;
}

/** The webhook configurations pointing at the host ports their webhooks are reached on (Service name → port). */
export function webhookConfigurations(
  webhooks: ConfigObject[],
  ports: Record<string, number>,
): ConfigObject[] {
  return webhooks.map((object) => {
    const copy = structuredClone(object) as ConfigObject & {
      webhooks?: { clientConfig?: { service?: { name?: string; port?: number } } }[];
    };
    for (const hook of copy.webhooks ?? []) {
      const service = hook.clientConfig?.service;
      const port = service?.name ? ports[service.name] : undefined;
      if (service && port !== undefined) service.port = port;
    }
    return copy;
  });
}

/** The first container of a Deployment (every Knative Deployment here has one). */
export function mainContainer(d: V1Deployment): V1Container | undefined {
  return d.spec?.template.spec?.containers[0];
}

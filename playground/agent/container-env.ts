// Builds a container's environment the way the kubelet does: env and envFrom, fieldRef, resourceFieldRef, secret and
// ConfigMap keys, $(VAR) expansion; then rewrites container paths to the host directories that stand in for them.
import type { V1Container, V1Pod } from '@kubernetes/client-node';
import { parseQuantity } from '../../devkit/quantity.ts';

export type Lookup = {
  secret(namespace: string, name: string): Promise<Record<string, string> | undefined>;
  configMap(namespace: string, name: string): Promise<Record<string, string> | undefined>;
};

/** A mount: the path the container expects, and the host directory (or file, with subPath) standing in for it. */
export type MountMapping = { mountPath: string; hostPath: string };

export class ConfigError extends Error {
  override name = 'CreateContainerConfigError';
}

type PodView = { pod: V1Pod; podIP: string; hostIP: string };

function fieldValue(path: string, { pod, podIP, hostIP }: PodView): string {
  const labelOrAnnotation = /^metadata\.(labels|annotations)\['(.+)'\]$/.exec(path);
  if (labelOrAnnotation) {
    const map = labelOrAnnotation[1] === 'labels' ? pod.metadata?.labels : pod.metadata?.annotations;
    return map?.[labelOrAnnotation[2] ?? ''] ?? '';
  }
  switch (path) {
    case 'metadata.name':
      return pod.metadata?.name ?? '';
    case 'metadata.namespace':
      return pod.metadata?.namespace ?? '';
    case 'metadata.uid':
      return pod.metadata?.uid ?? '';
    case 'spec.nodeName':
      return pod.spec?.nodeName ?? '';
    case 'spec.serviceAccountName':
      return pod.spec?.serviceAccountName ?? '';
    case 'status.podIP':
    case 'status.podIPs':
      return podIP;
    case 'status.hostIP':
    case 'status.hostIPs':
      return hostIP;
    default:
      throw new ConfigError(`unsupported fieldRef ${path}`);
  }
}

/** The node's allocatable resources ("4", "16Gi"), which a limit that is not set stands for. */
export type Allocatable = { cpu?: string; memory?: string };

function resourceValue(
  container: V1Container,
  resource: string,
  divisor: string | undefined,
  allocatable: Allocatable,
): string {
  const [kind, name = ''] = resource.split('.');
  const spec = kind === 'limits' ? container.resources?.limits : container.resources?.requests;
  // As a kubelet does: a container without a CPU or memory limit is limited by what the node can allocate.
  const unset = kind === 'limits' && (name === 'cpu' || name === 'memory') ? allocatable[name] : undefined;
  const raw = parseQuantity(spec?.[name] ?? unset);
  const div = parseQuantity(divisor) || 1;
  if (raw === undefined) return '0';
  return String(Math.ceil(raw / div));
}

/** $(VAR) refers to an earlier variable, $$ escapes a dollar; an unknown reference stays as written. */
export function expand(text: string, vars: Record<string, string>): string {
  return text.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)/g, (match, name: string | undefined) => {
    if (match === '$$') return '$';
    return name !== undefined && name in vars ? (vars[name] ?? '') : match;
  });
}

/**
 * A container sees the host's filesystem here, so a value naming a path inside a volume mount (the mount path
 * itself or anything under it) is rewritten to the host directory that holds that volume: with an emptyDir mounted
 * at /data, STATE_DIR=/data/state becomes <pod dir>/volumes/data/state. Other values pass unchanged.
 */
export function translatePath(value: string, mounts: MountMapping[]): string {
  let best: MountMapping | undefined;
  for (const m of mounts) {
    const base = m.mountPath.replace(/\/+$/, '') || '/';
    const under = value === base || value.startsWith(base === '/' ? '/' : `${base}/`);
    if (under && (!best || base.length > best.mountPath.length))
      best = { mountPath: base, hostPath: m.hostPath };
  }
  return best ? best.hostPath + value.slice(best.mountPath.length) : value;
}

/** A command-line argument: a path, or a `--flag=path`, inside a mount is rewritten like an env value. */
export function translateArg(arg: string, mounts: MountMapping[]): string {
  const flag = /^(--?[A-Za-z0-9][\w.-]*=)(\/.*)$/.exec(arg);
  if (flag) return (flag[1] ?? '') + translatePath(flag[2] ?? '', mounts);
  return translatePath(arg, mounts);
}

async function fromSource(
  lookup: Lookup,
  kind: 'secret' | 'configMap',
  namespace: string,
  name: string,
  optional: boolean | undefined,
): Promise<Record<string, string> | undefined> {
  const data =
    kind === 'secret' ? await lookup.secret(namespace, name) : await lookup.configMap(namespace, name);
  if (!data && !optional) throw new ConfigError(`${kind} "${name}" not found`);
  return data;
}

export type EnvContext = PodView & {
  lookup: Lookup;
  mounts: MountMapping[];
  base: Record<string, string>;
  allocatable?: Allocatable;
};

/**
 * The container's variables in kubelet order: base (image and agent), then envFrom, then env. The pod's values name
 * container paths and are translated; the base's are the agent's host paths already (a kubeconfig, TMPDIR), which a
 * volume at /tmp must not capture.
 */
export async function containerEnv(container: V1Container, ctx: EnvContext): Promise<Record<string, string>> {
  const namespace = ctx.pod.metadata?.namespace ?? 'default';
  const env: Record<string, string> = { ...ctx.base };
  const fromPod = new Set<string>();
  for (const from of container.envFrom ?? []) {
    const prefix = from.prefix ?? '';
    const source = from.secretRef
      ? await fromSource(ctx.lookup, 'secret', namespace, from.secretRef.name ?? '', from.secretRef.optional)
      : from.configMapRef
        ? await fromSource(
            ctx.lookup,
            'configMap',
            namespace,
            from.configMapRef.name ?? '',
            from.configMapRef.optional,
          )
        : undefined;
    for (const [k, v] of Object.entries(source ?? {})) {
      env[prefix + k] = v;
      fromPod.add(prefix + k);
    }
  }
  for (const e of container.env ?? []) {
    fromPod.add(e.name);
    const from = e.valueFrom;
    if (!from) {
      env[e.name] = expand(e.value ?? '', env);
    } else if (from.fieldRef) {
      env[e.name] = fieldValue(from.fieldRef.fieldPath, ctx);
    } else if (from.resourceFieldRef) {
      const target = from.resourceFieldRef.containerName
        ? ctx.pod.spec?.containers.find((c) => c.name === from.resourceFieldRef?.containerName)
        : container;
      env[e.name] = resourceValue(
        target ?? container,
        from.resourceFieldRef.resource,
        from.resourceFieldRef.divisor,
        ctx.allocatable ?? {},
      );
    } else if (from.secretKeyRef || from.configMapKeyRef) {
      const ref = from.secretKeyRef ?? from.configMapKeyRef;
      const kind = from.secretKeyRef ? 'secret' : 'configMap';
      const data = await fromSource(ctx.lookup, kind, namespace, ref?.name ?? '', ref?.optional);
      const value = data?.[ref?.key ?? ''];
      if (value === undefined && data && !ref?.optional) {
        throw new ConfigError(`couldn't find key ${ref?.key} in ${kind} ${namespace}/${ref?.name}`);
      }
      if (value !== undefined) env[e.name] = value;
    }
  }
  for (const k of fromPod) if (env[k] !== undefined) env[k] = translatePath(env[k], ctx.mounts);
  return env;
}

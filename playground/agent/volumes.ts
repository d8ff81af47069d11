// Pod volumes as host directories under the pod's folder: emptyDir scratch space, and the files of secret, configMap,
// downwardAPI and projected volumes (service account token included), written once when the pod starts.
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join, normalize } from 'node:path';
import type { V1Container, V1KeyToPath, V1Pod, V1Volume } from '@kubernetes/client-node';
import type { Lookup, MountMapping } from './container-env.ts';
import { ConfigError } from './container-env.ts';

export type TokenRequester = (
  pod: V1Pod,
  options: { audience?: string; expirationSeconds?: number },
) => Promise<string>;

export type VolumeContext = { lookup: Lookup; requestToken: TokenRequester; podIP: string };

async function writeFiles(dir: string, files: Record<string, string>): Promise<void> {
  for (const [path, content] of Object.entries(files)) {
    const target = normalize(join(dir, path));
    if (!target.startsWith(`${dir}/`)) throw new ConfigError(`volume item path ${path} leaves its volume`);
    await mkdir(dirname(target), { recursive: true });
    await writeFile(target, content);
  }
}

function pick(
  data: Record<string, string>,
  items: V1KeyToPath[] | undefined,
  what: string,
): Record<string, string> {
  if (!items?.length) return data;
  const files: Record<string, string> = {};
  for (const item of items) {
    const value = data[item.key];
    if (value === undefined) throw new ConfigError(`${what} has no key ${item.key}`);
    files[item.path] = value;
  }
  return files;
}

function downwardFile(pod: V1Pod, fieldPath: string | undefined): string {
  const meta = pod.metadata ?? {};
  const asLines = (map: Record<string, string> | undefined) =>
    Object.entries(map ?? {})
      .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
      .join('\n');
  switch (fieldPath) {
    case 'metadata.name':
      return meta.name ?? '';
    case 'metadata.namespace':
      return meta.namespace ?? '';
    case 'metadata.uid':
      return meta.uid ?? '';
    case 'metadata.labels':
      return asLines(meta.labels);
    case 'metadata.annotations':
      return asLines(meta.annotations);
    default:
      throw new ConfigError(`unsupported downwardAPI field ${fieldPath}`);
  }
}

async function source(
  kind: 'secret' | 'configMap',
  namespace: string,
  name: string,
  optional: boolean | undefined,
  lookup: Lookup,
): Promise<Record<string, string>> {
  const data =
    kind === 'secret' ? await lookup.secret(namespace, name) : await lookup.configMap(namespace, name);
  if (!data && !optional) throw new ConfigError(`${kind} "${name}" not found`);
  return data ?? {};
}

async function materialise(volume: V1Volume, dir: string, pod: V1Pod, ctx: VolumeContext): Promise<void> {
  const namespace = pod.metadata?.namespace ?? 'default';
  await mkdir(dir, { recursive: true });
  if (volume.secret) {
    const s = volume.secret;
    const data = await source('secret', namespace, s.secretName ?? '', s.optional, ctx.lookup);
    await writeFiles(dir, pick(data, s.items, `secret ${s.secretName}`));
  } else if (volume.configMap) {
    const c = volume.configMap;
    const data = await source('configMap', namespace, c.name ?? '', c.optional, ctx.lookup);
    await writeFiles(dir, pick(data, c.items, `configMap ${c.name}`));
  } else if (volume.downwardAPI) {
    const files: Record<string, string> = {};
    for (const item of volume.downwardAPI.items ?? [])
      files[item.path] = downwardFile(pod, item.fieldRef?.fieldPath);
    await writeFiles(dir, files);
  } else if (volume.projected) {
    for (const src of volume.projected.sources ?? []) {
      if (src.serviceAccountToken) {
        const t = src.serviceAccountToken;
        const token = await ctx.requestToken(pod, {
          ...(t.audience ? { audience: t.audience } : {}),
          expirationSeconds: t.expirationSeconds ?? 3600,
        });
        await writeFiles(dir, { [t.path]: token });
      } else if (src.secret) {
        const data = await source(
          'secret',
          namespace,
          src.secret.name ?? '',
          src.secret.optional,
          ctx.lookup,
        );
        await writeFiles(dir, pick(data, src.secret.items, `secret ${src.secret.name}`));
      } else if (src.configMap) {
        const data = await source(
          'configMap',
          namespace,
          src.configMap.name ?? '',
          src.configMap.optional,
          ctx.lookup,
        );
        await writeFiles(dir, pick(data, src.configMap.items, `configMap ${src.configMap.name}`));
      } else if (src.downwardAPI) {
        const files: Record<string, string> = {};
        for (const item of src.downwardAPI.items ?? [])
          files[item.path] = downwardFile(pod, item.fieldRef?.fieldPath);
        await writeFiles(dir, files);
      }
    }
  }
  // emptyDir and every other kind (a persistentVolumeClaim, say) is an empty directory that lives as long as the pod.
}

export type PodVolumes = Map<string, string>;

/** Creates every volume of the pod under `podDir/volumes/<name>`; a hostPath volume is the host path itself. */
export async function createVolumes(pod: V1Pod, podDir: string, ctx: VolumeContext): Promise<PodVolumes> {
  const volumes: PodVolumes = new Map();
  for (const volume of pod.spec?.volumes ?? []) {
    if (volume.hostPath) {
      volumes.set(volume.name, volume.hostPath.path);
      continue;
    }
    const dir = join(podDir, 'volumes', volume.name);
    await materialise(volume, dir, pod, ctx);
    volumes.set(volume.name, dir);
  }
  return volumes;
}

/** Where each of the container's mount paths lives on the host. */
export function containerMounts(container: V1Container, volumes: PodVolumes): MountMapping[] {
  const mounts: MountMapping[] = [];
  for (const m of container.volumeMounts ?? []) {
    const dir = volumes.get(m.name);
    if (dir === undefined) throw new ConfigError(`volumeMount ${m.name} names no volume of the pod`);
    mounts.push({ mountPath: m.mountPath, hostPath: m.subPath ? join(dir, m.subPath) : dir });
  }
  return mounts;
}

export const SERVICE_ACCOUNT_MOUNT = '/var/run/secrets/kubernetes.io/serviceaccount';

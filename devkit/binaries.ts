// Finds the built Kubernetes, etcd and monitoring binaries, or says exactly what is missing and how to build it.
import { accessSync, constants, readdirSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

/** What a channel-based Knative Broker needs: Eventing's controller and webhook, the Broker's, the in-memory channel's. */
export const KNATIVE_EVENTING_BINARIES = [
  'knative-eventing-controller',
  'knative-eventing-webhook',
  'knative-mtchannel-broker',
  'knative-broker-ingress',
  'knative-broker-filter',
  'knative-imc-controller',
  'knative-imc-dispatcher',
] as const;

export const BINARY_NAMES = [
  'etcd',
  'kube-apiserver',
  'kube-controller-manager',
  'kube-scheduler',
  'kubectl',
  'kube-state-metrics',
  'prometheus',
  'promtool',
  'alertmanager',
  'amtool',
  'prometheus-operator',
  ...KNATIVE_EVENTING_BINARIES,
] as const;
export type BinaryName = (typeof BINARY_NAMES)[number];

/** What a control plane needs. */
export const CONTROL_PLANE_BINARIES = [
  'etcd',
  'kube-apiserver',
  'kube-controller-manager',
  'kube-scheduler',
  'kubectl',
] as const satisfies readonly BinaryName[];

/** The envtest convention: a folder that already holds these. */
const KUBEBUILDER_ASSETS_BINARIES: readonly BinaryName[] = ['etcd', 'kube-apiserver', 'kubectl'];

export const BUILD_COMMAND = 'npm run build:binaries';

export class MissingBinariesError extends Error {
  readonly missing: readonly { name: BinaryName; path: string | undefined }[];

  constructor(
    missing: readonly { name: BinaryName; path: string | undefined }[],
    manifestPath: string,
    manifestFound: boolean,
  ) {
    const lines = missing.map(({ name, path }) =>
      path
        ? `  - ${name}: ${path} does not exist or is not executable`
        : `  - ${name}: not listed in ${manifestPath}`,
    );
    const header = manifestFound
      ? 'missing binaries:'
      : `missing binaries (nothing built yet: ${manifestPath} does not exist):`;
    super(
      `${header}\n${lines.join('\n')}\n` +
        `Build them with \`${BUILD_COMMAND}\` (from their Go modules: about 5-25 minutes the first time, seconds ` +
        'once cached). KUBEBUILDER_ASSETS, if set, supplies etcd, kube-apiserver and kubectl.',
    );
    this.name = 'MissingBinariesError';
    this.missing = missing;
  }
}

/** The cache folder scripts/build-binaries.sh builds into (same rules as the script). */
export function cacheRoot(env: NodeJS.ProcessEnv = process.env): string {
  if (env.SELFHEAL_CACHE_DIR) return env.SELFHEAL_CACHE_DIR;
  return join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'selfheal');
}

export function manifestPath(env: NodeJS.ProcessEnv = process.env): string {
  return join(cacheRoot(env), 'binaries.env');
}

/** Parses `name=/abs/path` lines; blank lines and `#` comments are ignored. */
export function parseManifest(text: string): Map<string, string> {
  const entries = new Map<string, string>();
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const eq = line.indexOf('=');
    if (eq > 0) entries.set(line.slice(0, eq).trim(), line.slice(eq + 1).trim());
  }
  return entries;
}

export function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The path the build script's manifest records for `name`, if it is listed there and executable. */
export function builtBinary(name: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  let manifest: Map<string, string>;
  try {
    manifest = parseManifest(readFileSync(manifestPath(env), 'utf8'));
  } catch {
    return undefined;
  }
  const path = manifest.get(name);
  return path && isExecutable(path) ? path : undefined;
}

/**
 * Resolves the absolute path of each named binary (by default what a control plane needs). KUBEBUILDER_ASSETS wins
 * for etcd, kube-apiserver and kubectl; everything else comes from the build script's manifest.
 * Throws MissingBinariesError naming every missing one and the command that builds it.
 */
export function resolveBinaries<N extends BinaryName>(
  names: readonly N[] = CONTROL_PLANE_BINARIES as unknown as readonly N[],
  env: NodeJS.ProcessEnv = process.env,
): Record<N, string> {
  const manifestFile = manifestPath(env);
  let manifest = new Map<string, string>();
  let manifestFound = true;
  try {
    manifest = parseManifest(readFileSync(manifestFile, 'utf8'));
  } catch {
    manifestFound = false;
  }
  const assets = env.KUBEBUILDER_ASSETS;
  const found = {} as Record<N, string>;
  const missing: { name: BinaryName; path: string | undefined }[] = [];
  for (const name of names) {
    const fromAssets = assets && KUBEBUILDER_ASSETS_BINARIES.includes(name) ? join(assets, name) : undefined;
    if (fromAssets && isExecutable(fromAssets)) {
      found[name] = fromAssets;
      continue;
    }
    const path = manifest.get(name);
    if (path && isExecutable(path)) found[name] = path;
    else missing.push({ name, path: path ?? fromAssets });
  }
  if (missing.length > 0) throw new MissingBinariesError(missing, manifestFile, manifestFound);
  return found;
}

/** The manifest key of the folder holding prometheus-operator's CRDs (they ship in its Go module). */
export const OPERATOR_CRDS_KEY = 'prometheus-operator-crds';

/**
 * The CRD files of the built prometheus-operator (one YAML file per kind), or a MissingBinariesError-style message
 * saying how to get them.
 */
export function resolveOperatorCrds(env: NodeJS.ProcessEnv = process.env): string[] {
  const file = manifestPath(env);
  let dir: string | undefined;
  try {
    dir = parseManifest(readFileSync(file, 'utf8')).get(OPERATOR_CRDS_KEY);
  } catch {
    dir = undefined;
  }
  let files: string[] = [];
  try {
    if (dir) files = readdirSync(dir).filter((name) => name.endsWith('.yaml'));
  } catch {
    files = [];
  }
  if (!dir || files.length === 0) {
    throw new Error(
      `prometheus-operator's CRDs are missing (${dir ? `${dir} holds no CRD` : `${OPERATOR_CRDS_KEY} is not listed in ${file}`}). ` +
        'Build them with `bash scripts/build-binaries.sh prometheus-operator`.',
    );
  }
  return files.sort().map((name) => join(dir as string, name));
}

/** The manifest key of the folder holding Knative Eventing's config/ (CRDs, roles, ConfigMaps, Deployments). */
export const KNATIVE_EVENTING_CONFIG_KEY = 'knative-eventing-config';

/** Knative Eventing's built commands and the module's config folder, or an error saying how to build them. */
export function resolveKnativeEventing(env: NodeJS.ProcessEnv = process.env): {
  binaries: Record<(typeof KNATIVE_EVENTING_BINARIES)[number], string>;
  configDir: string;
} {
  const binaries = resolveBinaries(KNATIVE_EVENTING_BINARIES, env);
  let dir: string | undefined;
  try {
    dir = parseManifest(readFileSync(manifestPath(env), 'utf8')).get(KNATIVE_EVENTING_CONFIG_KEY);
  } catch {
    dir = undefined;
  }
  let found = false;
  try {
    found = dir !== undefined && readdirSync(join(dir, 'core')).length > 0;
  } catch {
    found = false;
  }
  if (!dir || !found) {
    throw new Error(
      `Knative Eventing's config is missing (${dir ? `${dir}/core does not exist` : `${KNATIVE_EVENTING_CONFIG_KEY} is not listed in ${manifestPath(env)}`}). ` +
        'Build it with `bash scripts/build-binaries.sh knative-eventing`.',
    );
  }
  return { binaries, configDir: dir };
}

// Renders the production Prometheus config, alert rules and Alertmanager config for a timing profile and a place to
// run: reads the production files (source.ts), takes the profile's timings (profile/timing.ts), and writes what
// profile/prometheus.ts, profile/rules.ts and profile/alertmanager.ts make of them.
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, isAbsolute, join } from 'node:path';
import { Document } from 'yaml';
import { type RouterTarget, renderAlertmanagerConfig } from './profile/alertmanager.ts';
import { type DetectionFloor, detectionFloor } from './profile/detection-floor.ts';
import { type LocalPrometheusTargets, renderPrometheusConfig } from './profile/prometheus.ts';
import { renderRules } from './profile/rules.ts';
import { PROFILE_NAMES, type ProfileName, profileTiming, type Timing } from './profile/timing.ts';
import { loadStack, PROMETHEUS_RETENTION_FLAG, type StackSource } from './source.ts';

function yamlWithHeader(value: unknown, header: string): string {
  const doc = new Document(value);
  doc.commentBefore = header;
  return doc.toString({ lineWidth: 0 });
}

export interface RenderOptions {
  profile: ProfileName;
  /** Directory the three files are written to (created if missing). */
  outDir: string;
  /** Addresses and credentials outside the cluster; omit to keep the in-cluster ones. */
  local?: LocalPrometheusTargets;
  /** The router's address and token file; omit to keep the in-cluster router. */
  router?: RouterTarget;
  /** Production files to start from (tests); defaults to the ones in stack/. */
  source?: StackSource;
}

export interface RenderedStack {
  profile: ProfileName;
  timing: Timing;
  prometheusConfig: string;
  rules: string;
  alertmanagerConfig: string;
  /** Flags Prometheus needs besides its storage path and listen address. */
  prometheusArgs: string[];
  /** Flags Alertmanager needs besides its storage path, listen address and cluster settings. */
  alertmanagerArgs: string[];
  detectionFloor: DetectionFloor[];
}

/** Writes prometheus.yml, rules/selfheal.rules.yml and alertmanager.yml for a profile into outDir. */
export async function renderStack(options: RenderOptions): Promise<RenderedStack> {
  if (!PROFILE_NAMES.includes(options.profile)) {
    throw new Error(`unknown profile "${options.profile}"; use one of: ${PROFILE_NAMES.join(', ')}`);
  }
  if (!isAbsolute(options.outDir))
    throw new Error(`outDir must be an absolute path, got "${options.outDir}"`);
  const source = options.source ?? (await loadStack());
  const timing = profileTiming(source, options.profile);
  const files = {
    prometheusConfig: join(options.outDir, 'prometheus.yml'),
    rules: join(options.outDir, 'rules', 'selfheal.rules.yml'),
    alertmanagerConfig: join(options.outDir, 'alertmanager.yml'),
  };
  const header = (file: string) =>
    ` Rendered by stack/profile.ts from ${file} for the ${options.profile} profile${options.local || options.router ? ' with local addresses' : ''}.`;
  const prometheusConfig = renderPrometheusConfig(source, {
    timing,
    rulesFile: files.rules,
    ...(options.local ? { local: options.local } : {}),
  });
  const alertmanagerConfig = renderAlertmanagerConfig(source, {
    timing,
    profile: options.profile,
    ...(options.router ? { router: options.router } : {}),
  });
  await mkdir(dirname(files.rules), { recursive: true });
  await Promise.all([
    writeFile(
      files.prometheusConfig,
      yamlWithHeader(prometheusConfig, header('stack/prometheus/prometheus.yml')),
    ),
    writeFile(files.rules, renderRules(source, timing, options.profile)),
    writeFile(
      files.alertmanagerConfig,
      yamlWithHeader(alertmanagerConfig, header('stack/alertmanager/alertmanager.yml')),
    ),
  ]);
  return {
    profile: options.profile,
    timing,
    ...files,
    prometheusArgs: [`--config.file=${files.prometheusConfig}`, PROMETHEUS_RETENTION_FLAG],
    alertmanagerArgs: [`--config.file=${files.alertmanagerConfig}`],
    detectionFloor: detectionFloor(source, timing),
  };
}

// The Prometheus and Alertmanager configuration the trees ship: current copies of stack/, laid out in the pods
// the way the configuration expects, accepted by promtool and amtool, and pointing at each platform's router.
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, matchesGlob } from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import { parse } from 'yaml';
import { resolveBinaries } from '../devkit/binaries.ts';
import { find, type K8sObject, MANIFESTS_DIR, render, type Tree } from './render.ts';
import { ROUTER_RECEIVER, ROUTER_URLS, renderCopies, ruleFiles } from './sync-config.ts';

const run = promisify(execFile);

interface Volume {
  name: string;
  configMap?: { name: string; items?: { key: string; path: string }[] };
  secret?: { secretName: string; items?: { key: string; path: string }[] };
}
interface PodTemplate {
  spec: {
    containers: { args?: string[]; volumeMounts?: { name: string; mountPath: string }[] }[];
    volumes?: Volume[];
  };
}
type Deployment = K8sObject & { spec: { template: PodTemplate } };
type ConfigMap = K8sObject & { data: Record<string, string> };

/** The ConfigMap a generator made (its name carries a content hash). */
function generated(objects: readonly K8sObject[], prefix: string): ConfigMap {
  const found = objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name.startsWith(`${prefix}-`));
  if (!found) throw new Error(`no generated ConfigMap ${prefix}`);
  return found as ConfigMap;
}

/** Writes what a container sees under a mount of `volume` into `dir` (ConfigMap keys mapped through items). */
function layOut(volume: Volume, configMap: ConfigMap, dir: string): string[] {
  const items = volume.configMap?.items ?? Object.keys(configMap.data).map((key) => ({ key, path: key }));
  for (const { key, path } of items) {
    const content = configMap.data[key];
    if (content === undefined) throw new Error(`volume ${volume.name} maps missing key ${key}`);
    writeFileSync(join(dir, path), content);
  }
  return items.map((i) => i.path);
}

test('the copies of stack/ in manifests/ are current', (t) => {
  for (const [path, content] of renderCopies()) {
    t.is(
      readFileSync(join(MANIFESTS_DIR, path), 'utf8'),
      content,
      `${path} is stale: run node manifests/sync-config.ts`,
    );
  }
});

test('Prometheus sees prometheus.yml with every rule file under rules/, and promtool accepts the config', async (t) => {
  const objects = await render('base');
  const configMap = generated(objects, 'prometheus-config');
  const deployment = find(objects, 'Deployment', 'prometheus') as Deployment;
  const volume = deployment.spec.template.spec.volumes?.find(
    (v) => v.configMap?.name === configMap.metadata.name,
  );
  if (!volume) return t.fail('the Prometheus Deployment does not mount its generated ConfigMap');
  const mount = deployment.spec.template.spec.containers[0]?.volumeMounts?.find(
    (m) => m.name === volume.name,
  );
  t.is(mount?.mountPath, '/etc/prometheus');
  t.true(
    deployment.spec.template.spec.containers[0]?.args?.includes(
      '--config.file=/etc/prometheus/prometheus.yml',
    ),
  );

  const config = parse(configMap.data['prometheus.yml'] ?? '') as { rule_files: string[] };
  const paths = (volume.configMap?.items ?? []).map((i) => i.path);
  for (const file of ruleFiles()) {
    const path = `rules/${file}`;
    t.true(paths.includes(path), `${file} is mounted at ${path}`);
    t.true(
      config.rule_files.some((glob) => matchesGlob(path, glob)),
      `${path} matches rule_files ${config.rule_files}`,
    );
  }

  const dir = mkdtempSync(join(tmpdir(), 'selfheal-prometheus-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, 'rules'));
  layOut(volume, configMap, dir);
  // The built promtool knows kubernetes_sd_configs (Debian's does not). Syntax only: the ServiceAccount token
  // the cAdvisor job reads exists inside the pod, not here.
  const { promtool } = resolveBinaries(['promtool']);
  const { stdout } = await run(promtool, ['check', 'config', '--syntax-only', join(dir, 'prometheus.yml')]);
  t.regex(stdout, /SUCCESS/);
  const rules = await run(promtool, ['check', 'rules', ...ruleFiles().map((f) => join(dir, 'rules', f))]);
  t.regex(rules.stdout, /SUCCESS/);
});

const EXPECTED_ROUTER_URL: Record<Exclude<Tree, 'overlays/openfaas/functions'>, string | undefined> = {
  base: undefined,
  'overlays/openfaas': ROUTER_URLS.openfaas,
  'overlays/knative': ROUTER_URLS.knative,
};

for (const tree of Object.keys(EXPECTED_ROUTER_URL) as (keyof typeof EXPECTED_ROUTER_URL)[]) {
  test(`${tree}: Alertmanager's configuration is valid, posts to the router and finds its token`, async (t) => {
    const objects = await render(tree);
    const configMap = generated(objects, 'alertmanager-config');
    const text = configMap.data['alertmanager.yml'] ?? '';
    const dir = mkdtempSync(join(tmpdir(), 'selfheal-alertmanager-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(join(dir, 'alertmanager.yml'), text);
    const { amtool } = resolveBinaries(['amtool']);
    const { stdout } = await run(amtool, ['check-config', join(dir, 'alertmanager.yml')]);
    t.regex(stdout, /SUCCESS/);

    const config = parse(text) as {
      receivers: {
        name: string;
        webhook_configs?: { url: string; http_config?: { authorization?: { credentials_file?: string } } }[];
      }[];
    };
    const webhook = config.receivers.find((r) => r.name === ROUTER_RECEIVER)?.webhook_configs?.[0];
    const expected = EXPECTED_ROUTER_URL[tree];
    if (expected) t.is(webhook?.url, expected);

    // The token file the webhook reads must be where the Deployment mounts the token Secret.
    const credentials = webhook?.http_config?.authorization?.credentials_file ?? '';
    const deployment = find(objects, 'Deployment', 'alertmanager') as Deployment;
    const { volumes = [], containers } = deployment.spec.template.spec;
    const mounted = (containers[0]?.volumeMounts ?? []).flatMap((mount) => {
      const volume = volumes.find((v) => v.name === mount.name);
      return (volume?.secret?.items ?? []).map((item) => ({
        path: `${mount.mountPath}/${item.path}`,
        secret: volume?.secret?.secretName,
      }));
    });
    t.deepEqual(
      mounted.filter((m) => m.path === credentials),
      [{ path: credentials, secret: 'selfheal-webhook-token' }],
      `credentials_file ${credentials} is the mounted webhook token`,
    );
    const configVolume = volumes.find((v) => v.configMap?.name === configMap.metadata.name);
    t.truthy(configVolume, 'the Deployment mounts the generated configuration');
  });
}

// Binary resolution: the build script's manifest, KUBEBUILDER_ASSETS, and a clear error naming what to build.
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { cacheRoot, MissingBinariesError, resolveBinaries, resolveOperatorCrds } from './binaries.ts';

function tempDir(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'selfheal-binaries-test-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function executable(path: string): string {
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, '#!/bin/sh\n');
  chmodSync(path, 0o755);
  return path;
}

test('the cache folder follows SELFHEAL_CACHE_DIR, then XDG_CACHE_HOME, like the build script', (t) => {
  t.is(cacheRoot({ SELFHEAL_CACHE_DIR: '/c', XDG_CACHE_HOME: '/x' }), '/c');
  t.is(cacheRoot({ XDG_CACHE_HOME: '/x' }), '/x/selfheal');
});

test('binaries listed in the manifest are found when executable', (t) => {
  const cache = tempDir(t);
  const etcd = executable(join(cache, 'bin/etcd-v3/etcd'));
  const kubectl = executable(join(cache, 'bin/k8s/kubectl'));
  writeFileSync(join(cache, 'binaries.env'), `# built\netcd=${etcd}\nkubectl=${kubectl}\n`);
  t.deepEqual(resolveBinaries(['etcd', 'kubectl'], { SELFHEAL_CACHE_DIR: cache }), { etcd, kubectl });
});

test('a missing or non-executable binary is named, with the command that builds it', (t) => {
  const cache = tempDir(t);
  const etcd = executable(join(cache, 'bin/etcd'));
  const notExecutable = join(cache, 'bin/kube-apiserver');
  writeFileSync(notExecutable, '');
  writeFileSync(join(cache, 'binaries.env'), `etcd=${etcd}\nkube-apiserver=${notExecutable}\n`);
  const error = t.throws(
    () => resolveBinaries(['etcd', 'kube-apiserver', 'kube-scheduler'], { SELFHEAL_CACHE_DIR: cache }),
    { instanceOf: MissingBinariesError },
  );
  t.deepEqual(
    error?.missing.map((m) => m.name),
    ['kube-apiserver', 'kube-scheduler'],
  );
  t.regex(error?.message ?? '', /kube-apiserver: .* is not executable/);
  t.regex(error?.message ?? '', /kube-scheduler: not listed in .*binaries\.env/);
  t.regex(error?.message ?? '', /npm run build:binaries/);
});

test('with no manifest at all every binary is reported missing', (t) => {
  const error = t.throws(() => resolveBinaries(['etcd'], { SELFHEAL_CACHE_DIR: tempDir(t) }), {
    instanceOf: MissingBinariesError,
  });
  t.regex(error?.message ?? '', /nothing built yet: .*binaries\.env does not exist/);
  t.regex(error?.message ?? '', /etcd: not listed in/);
});

test('KUBEBUILDER_ASSETS provides etcd, kube-apiserver and kubectl; the rest still come from the manifest', (t) => {
  const cache = tempDir(t);
  const assets = tempDir(t);
  const fromAssets = {
    etcd: executable(join(assets, 'etcd')),
    'kube-apiserver': executable(join(assets, 'kube-apiserver')),
    kubectl: executable(join(assets, 'kubectl')),
  };
  // Only the envtest trio is taken from the assets folder.
  executable(join(assets, 'kube-scheduler'));
  const scheduler = executable(join(cache, 'bin/kube-scheduler'));
  writeFileSync(join(cache, 'binaries.env'), `etcd=/nowhere/etcd\nkube-scheduler=${scheduler}\n`);
  const env = { SELFHEAL_CACHE_DIR: cache, KUBEBUILDER_ASSETS: assets };
  t.deepEqual(resolveBinaries(['etcd', 'kube-apiserver', 'kubectl', 'kube-scheduler'], env), {
    ...fromAssets,
    'kube-scheduler': scheduler,
  });
});

test("prometheus-operator's CRDs are found through the manifest, or named with the command that builds them", (t) => {
  const cache = tempDir(t);
  const crds = join(cache, 'bin/prometheus-operator/crds');
  mkdirSync(crds, { recursive: true });
  writeFileSync(join(crds, 'monitoring.coreos.com_prometheuses.yaml'), 'kind: CustomResourceDefinition\n');
  writeFileSync(join(crds, 'README.md'), '');
  writeFileSync(join(cache, 'binaries.env'), `prometheus-operator-crds=${crds}\n`);
  t.deepEqual(resolveOperatorCrds({ SELFHEAL_CACHE_DIR: cache }), [
    join(crds, 'monitoring.coreos.com_prometheuses.yaml'),
  ]);
  writeFileSync(join(cache, 'binaries.env'), '');
  t.throws(() => resolveOperatorCrds({ SELFHEAL_CACHE_DIR: cache }), {
    message: /not listed in .*binaries\.env.*build-binaries\.sh prometheus-operator/,
  });
});

// A control plane of its own: stop() leaves no process and no file behind, and a failed start says what failed.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { CoreV1Api } from '@kubernetes/client-node';
import test from 'ava';
import { ControlPlaneStartError, startControlPlane } from './control-plane.ts';

/** Processes whose command line mentions `dir` (every component gets its folder in its flags). */
function processesUsing(dir: string): string[] {
  const found: string[] = [];
  for (const pid of readdirSync('/proc').filter((entry) => /^\d+$/.test(entry))) {
    try {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
      if (cmdline.includes(dir)) found.push(`${pid}: ${cmdline.slice(0, 120)}`);
    } catch {
      // Exited while we looked.
    }
  }
  return found;
}

// Serial: each starts a control plane of its own, and the machine is small.
test.serial('stop() leaves no process and no file behind', async (t) => {
  const cluster = await startControlPlane();
  t.teardown(() => cluster.stop());
  const namespaces = await cluster.kubeConfig().makeApiClient(CoreV1Api).listNamespace();
  t.true(namespaces.items.some((ns) => ns.metadata?.name === 'kube-system'));
  t.true(existsSync(cluster.kubeconfigPath));
  const running = processesUsing(cluster.dir);
  t.true(
    running.length >= 4,
    `expected etcd, kube-apiserver, kube-controller-manager and kube-scheduler:\n${running.join('\n')}`,
  );

  await cluster.stop();

  t.deepEqual(processesUsing(cluster.dir), []);
  t.false(existsSync(cluster.dir));
});

test.serial(
  'a component that fails to start is named, with the end of its log, and nothing is left',
  async (t) => {
    const error = await t.throwsAsync(
      startControlPlane({ extraArgs: { 'kube-apiserver': ['--no-such-flag'] } }),
      {
        instanceOf: ControlPlaneStartError,
      },
    );
    t.is(error?.component, 'kube-apiserver');
    t.regex(error?.message ?? '', /^kube-apiserver failed to start: exited with code \d+/);
    t.regex(error?.message ?? '', /unknown flag: --no-such-flag/);
    const dir = error?.dir ?? '';
    t.not(dir, '');
    t.deepEqual(processesUsing(dir), []);
    t.false(existsSync(dir));
  },
);

// kube-state-metrics started against the local control plane reports the pods the alert rules watch.
import { CoreV1Api } from '@kubernetes/client-node';
import test from 'ava';
import { useNamespace } from '../test/helpers/cluster.ts';
import { eventually } from '../test/helpers/wait.ts';
import { startKubeStateMetrics } from './kube-state-metrics.ts';

test('kube-state-metrics exports phase, limits and the opt-in label of a new pod, and stops', async (t) => {
  const { name: namespace, kc, cluster } = await useNamespace(t, 'ksm');
  const ksm = await startKubeStateMetrics(cluster, { namespaces: [namespace] });
  t.teardown(() => ksm.stop());

  await kc.makeApiClient(CoreV1Api).createNamespacedPod({
    namespace,
    body: {
      metadata: { name: 'web-1', labels: { 'selfheal.dev/enabled': 'true', team: 'shop' } },
      spec: {
        containers: [
          { name: 'app', image: 'registry.invalid/app:1', resources: { limits: { memory: '256Mi' } } },
        ],
      },
    },
  });

  const metrics = await eventually('the pod in /metrics', async () => {
    const text = await (await fetch(`${ksm.url}/metrics`)).text();
    return text.includes(`pod="web-1"`) ? text : undefined;
  });
  t.regex(
    metrics,
    new RegExp(
      `kube_pod_status_phase\\{namespace="${namespace}",pod="web-1",uid="[^"]+",phase="Pending"\\} 1`,
    ),
  );
  t.regex(
    metrics,
    new RegExp(
      `kube_pod_container_resource_limits\\{namespace="${namespace}",pod="web-1",uid="[^"]+",container="app",[^}]*resource="memory",unit="byte"\\} 2\\.68435456e\\+08`,
    ),
  );

  // The opt-in label the rules join on, and no other label (only the allow-listed one is exported).
  t.regex(
    metrics,
    new RegExp(
      `kube_pod_labels\\{namespace="${namespace}",pod="web-1",uid="[^"]+",label_selfheal_dev_enabled="true"\\} 1`,
    ),
  );

  await ksm.stop();
  await t.throwsAsync(fetch(`${ksm.url}/metrics`), undefined, 'nothing listens after stop()');
});

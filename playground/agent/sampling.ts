// What /metrics/cadvisor reports: each running container's usage, read from the process table, with its limits.
import type { ContainerSample } from './cadvisor.ts';
import type { NodePods } from './pods.ts';
import { readProcessTable, usageOf } from './proc.ts';

export function containerSamples(pods: NodePods): ContainerSample[] {
  const table = readProcessTable();
  const out: ContainerSample[] = [];
  for (const w of pods.workers()) {
    for (const c of w.containers) {
      const running = c.running;
      if (!running) continue;
      const spec = w.pod.spec?.containers.find((s) => s.name === c.name);
      out.push({
        namespace: w.pod.metadata?.namespace ?? '',
        pod: w.pod.metadata?.name ?? '',
        podUid: w.uid,
        container: c.name,
        image: spec?.image ?? '',
        containerId: running.containerId,
        usage: usageOf(table, running.pid),
        limits: spec?.resources?.limits,
      });
    }
  }
  return out;
}

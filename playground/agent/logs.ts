// Where /containerLogs reads a container's log: its current file (followed while it runs) or its previous one.
import type { LogSource } from './kubelet-server.ts';
import type { NodePods } from './pods.ts';

export function containerLog(
  pods: NodePods,
  namespace: string,
  pod: string,
  container: string,
  previous: boolean,
): LogSource | undefined {
  const c = pods.find(namespace, pod)?.containers.find((x) => x.name === container);
  if (!c) return undefined;
  const path = c.logPath(previous);
  if (!path) return undefined;
  return { path, live: () => !previous && c.running !== undefined && c.logPath() === path };
}

// The kernel's OOM killer: a container whose processes hold more than its memory limit dies with SIGKILL.
import { parseQuantity } from '../../devkit/quantity.ts';
import type { NodePods } from './pods.ts';
import { readProcessTable, usageOf } from './proc.ts';

/** Checks every `everyMs`; returns the stop. */
export function startOomKiller(pods: NodePods, everyMs: number): () => void {
  const timer = setInterval(() => {
    const limited = pods.workers().flatMap((w) =>
      w.containers
        .filter((c) => c.running)
        .map((c) => ({
          c,
          limit: parseQuantity(
            w.pod.spec?.containers.find((s) => s.name === c.name)?.resources?.limits?.memory,
          ),
        }))
        .filter((x) => x.limit !== undefined),
    );
    if (limited.length === 0) return;
    const table = readProcessTable();
    for (const { c, limit } of limited) {
      if (c.running && usageOf(table, c.running.pid).rssBytes > (limit ?? Infinity)) c.oomKill();
    }
  }, everyMs);
  return () => clearInterval(timer);
}

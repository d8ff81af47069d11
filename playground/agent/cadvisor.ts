// Per-container CPU and memory in cAdvisor's metric names and labels, as the kubelet serves them at /metrics/cadvisor.
import { parseQuantity } from '../../devkit/quantity.ts';
import type { Usage } from './proc.ts';

export type ContainerSample = {
  namespace: string;
  pod: string;
  podUid: string;
  container: string;
  image: string;
  /** The runtime's container id (hex), cAdvisor's `name` label. */
  containerId: string;
  usage: Usage;
  limits: Record<string, string> | undefined;
};

const CPU_PERIOD_US = 100_000;

const escapeLabel = (v: string) => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');

function labels(s: ContainerSample, extra: Record<string, string> = {}): string {
  const all: Record<string, string> = {
    container: s.container,
    ...extra,
    id: `/kubepods/pod${s.podUid}/${s.containerId}`,
    image: s.image,
    name: s.containerId,
    namespace: s.namespace,
    pod: s.pod,
  };
  return `{${Object.entries(all)
    .map(([k, v]) => `${k}="${escapeLabel(v)}"`)
    .join(',')}}`;
}

type Family = { name: string; help: string; type: 'counter' | 'gauge'; lines: string[] };

/** The Prometheus text exposition (version 0.0.4) of the samples. */
export function renderCadvisor(samples: ContainerSample[]): string {
  const families: Family[] = [
    {
      name: 'container_cpu_usage_seconds_total',
      help: 'Cumulative cpu time consumed in seconds.',
      type: 'counter',
      lines: [],
    },
    {
      name: 'container_memory_working_set_bytes',
      help: 'Current working set in bytes.',
      type: 'gauge',
      lines: [],
    },
    { name: 'container_memory_rss', help: 'Size of RSS in bytes.', type: 'gauge', lines: [] },
    {
      name: 'container_spec_memory_limit_bytes',
      help: 'Memory limit for the container.',
      type: 'gauge',
      lines: [],
    },
    { name: 'container_spec_cpu_quota', help: 'CPU quota of the container.', type: 'gauge', lines: [] },
    { name: 'container_spec_cpu_period', help: 'CPU period of the container.', type: 'gauge', lines: [] },
  ];
  const [cpu, workingSet, rss, memLimit, cpuQuota, cpuPeriod] = families as [
    Family,
    Family,
    Family,
    Family,
    Family,
    Family,
  ];
  for (const s of samples) {
    const l = labels(s);
    cpu.lines.push(`${cpu.name}${labels(s, { cpu: 'total' })} ${s.usage.cpuSeconds}`);
    workingSet.lines.push(`${workingSet.name}${l} ${s.usage.rssBytes}`);
    rss.lines.push(`${rss.name}${l} ${s.usage.rssBytes}`);
    memLimit.lines.push(`${memLimit.name}${l} ${parseQuantity(s.limits?.memory) ?? 0}`);
    const cpuLimit = parseQuantity(s.limits?.cpu);
    if (cpuLimit !== undefined) {
      cpuQuota.lines.push(`${cpuQuota.name}${l} ${Math.round(cpuLimit * CPU_PERIOD_US)}`);
      cpuPeriod.lines.push(`${cpuPeriod.name}${l} ${CPU_PERIOD_US}`);
    }
  }
  return families
    .filter((f) => f.lines.length > 0)
    .map((f) => `# HELP ${f.name} ${f.help}\n# TYPE ${f.name} ${f.type}\n${f.lines.join('\n')}\n`)
    .join('');
}

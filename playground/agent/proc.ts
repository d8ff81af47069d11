// Reads the process table from /proc: what a container's process tree uses (resident memory, CPU time), and its members.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

function sysconf(name: string, fallback: number): number {
  try {
    const value = Number(execFileSync('getconf', [name], { encoding: 'utf8' }).trim());
    return Number.isFinite(value) && value > 0 ? value : fallback;
  } catch {
    return fallback;
  }
}

export const CLOCK_TICKS_PER_SECOND = sysconf('CLK_TCK', 100);
export const PAGE_SIZE = sysconf('PAGESIZE', 4096);

export type ProcessInfo = {
  pid: number;
  ppid: number;
  session: number;
  /** utime + stime + cutime + cstime: the process's own CPU time and that of its children it has reaped. */
  cpuTicks: number;
  rssBytes: number;
};

/** Parses /proc/<pid>/stat; the command name may hold spaces and parentheses, so fields are read after the last ')'. */
export function parseStat(pid: number, text: string): ProcessInfo | undefined {
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state) of proc(5).
  const num = (field: number) => Number(fields[field - 3]);
  if (fields.length < 22) return undefined;
  return {
    pid,
    ppid: num(4),
    session: num(6),
    cpuTicks: num(14) + num(15) + num(16) + num(17),
    rssBytes: num(24) * PAGE_SIZE,
  };
}

export type ProcessTable = Map<number, ProcessInfo>;

/** One pass over /proc; processes that vanish while it reads are skipped. */
export function readProcessTable(): ProcessTable {
  const table: ProcessTable = new Map();
  for (const name of readdirSync('/proc')) {
    const pid = Number(name);
    if (!Number.isInteger(pid)) continue;
    try {
      const info = parseStat(pid, readFileSync(`/proc/${pid}/stat`, 'utf8'));
      if (info) table.set(pid, info);
    } catch {
      // exited meanwhile
    }
  }
  return table;
}

/**
 * The processes of a container whose first process is `root`: its descendants, and whatever else stayed in the
 * session it leads (a container is started as a session leader, the way a runtime puts it in its own cgroup).
 */
export function containerProcesses(table: ProcessTable, root: number): ProcessInfo[] {
  const members: ProcessInfo[] = [];
  const inTree = new Map<number, boolean>([[root, true]]);
  const belongs = (pid: number, depth = 0): boolean => {
    const known = inTree.get(pid);
    if (known !== undefined) return known;
    const info = table.get(pid);
    const result = info !== undefined && depth < 64 && info.ppid > 1 && belongs(info.ppid, depth + 1);
    inTree.set(pid, result);
    return result;
  };
  for (const info of table.values()) {
    if (info.session === root || belongs(info.pid)) members.push(info);
  }
  return members;
}

export type Usage = { rssBytes: number; cpuSeconds: number; pids: number[] };

export function usageOf(table: ProcessTable, root: number): Usage {
  const members = containerProcesses(table, root);
  let rss = 0;
  let ticks = 0;
  for (const m of members) {
    rss += m.rssBytes;
    ticks += m.cpuTicks;
  }
  const cpuSeconds = Math.round((ticks / CLOCK_TICKS_PER_SECOND) * 1e6) / 1e6;
  return { rssBytes: rss, cpuSeconds, pids: members.map((m) => m.pid) };
}

// Long-running child processes with a log file each, stopped gracefully together, and never left behind on exit.
import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { constants } from 'node:os';
import { join } from 'node:path';

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface ManagedProcess {
  readonly name: string;
  readonly pid: number;
  readonly logPath: string;
  /** Resolves when the process has exited, for whatever reason. */
  readonly exited: Promise<ExitStatus>;
  readonly running: boolean;
  /** The last lines of its log (stdout and stderr). */
  logTail(lines?: number): string;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once it has exited. */
  stop(graceMs?: number): Promise<void>;
}

export interface StartProcessOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Log file name inside the group's folder; default `<name>.log`. */
  logName?: string;
}

export const DEFAULT_GRACE_MS = 5_000;
const PID_FILE = '.pids';

export function describeExit({ code, signal }: ExitStatus): string {
  return signal ? `was killed by ${signal}` : `exited with code ${code}`;
}

export function readLogTail(path: string, lines = 30): string {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return '(no log)';
  }
  const all = text.trimEnd().split('\n');
  return all.slice(-lines).join('\n') || '(empty log)';
}

// Every live group, so an exit or a signal can stop what this process started.
const liveGroups = new Set<ProcessGroup>();
const HANDLED_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

function onExit(): void {
  for (const group of liveGroups) group.killNow();
}

function onSignal(signal: NodeJS.Signals): void {
  // When the program has its own handler it decides how to stop; the exit hook and the watchdog remain the backstop.
  if (process.listenerCount(signal) > 1) return;
  void Promise.allSettled([...liveGroups].map((group) => group.dispose())).finally(() =>
    process.exit(128 + (constants.signals[signal] ?? 1)),
  );
}

function track(group: ProcessGroup): void {
  if (liveGroups.size === 0) {
    process.on('exit', onExit);
    for (const signal of HANDLED_SIGNALS) process.on(signal, onSignal);
  }
  liveGroups.add(group);
}

function untrack(group: ProcessGroup): void {
  liveGroups.delete(group);
  if (liveGroups.size === 0) {
    process.off('exit', onExit);
    for (const signal of HANDLED_SIGNALS) process.off(signal, onSignal);
  }
}

// Kills the group's processes and removes its folder if this Node process dies without doing so (e.g. SIGKILL).
const WATCHDOG = `
parent=$1 dir=$2 remove=$3
while kill -0 "$parent" 2>/dev/null && [ -d "$dir" ]; do sleep 1; done
[ -d "$dir" ] || exit 0
pids=$(cat "$dir/${PID_FILE}" 2>/dev/null)
if [ -n "$pids" ]; then kill -TERM $pids 2>/dev/null; sleep 3; kill -KILL $pids 2>/dev/null; fi
[ "$remove" = 1 ] && rm -rf "$dir"
exit 0
`;

/**
 * Processes that live and die together: logs go to files in `dir`; `dispose()` stops them (last started first) and,
 * when `removeDir` is set, deletes `dir`. Also done on process exit, on SIGINT/SIGTERM/SIGHUP when the program has
 * no handler of its own, and by a detached watchdog if this process is killed outright.
 */
export class ProcessGroup {
  readonly dir: string;
  readonly #removeDir: boolean;
  readonly #processes: ManagedProcess[] = [];
  #watchdogPid: number | undefined;
  #disposing: Promise<void> | undefined;
  #finished = false;

  constructor(dir: string, { removeDir }: { removeDir: boolean }) {
    this.dir = dir;
    this.#removeDir = removeDir;
    this.#writePids();
    const watchdog = spawn(
      'sh',
      ['-c', WATCHDOG, 'watchdog', String(process.pid), dir, removeDir ? '1' : '0'],
      {
        detached: true,
        stdio: 'ignore',
      },
    );
    watchdog.on('error', () => {});
    watchdog.unref();
    this.#watchdogPid = watchdog.pid;
    track(this);
  }

  get processes(): readonly ManagedProcess[] {
    return this.#processes;
  }

  /** Starts `command`; resolves once it is running (rejects if it cannot be executed). */
  async start(name: string, command: string, args: readonly string[], options: StartProcessOptions = {}) {
    if (this.#disposing || this.#finished)
      throw new Error(`cannot start ${name}: its process group was stopped`);
    const logPath = join(this.dir, options.logName ?? `${name}.log`);
    const fd = openSync(logPath, 'a');
    let child: ReturnType<typeof spawn>;
    try {
      // Own process group: a terminal's Ctrl-C reaches only us, and we stop the components in order.
      child = spawn(command, args, {
        cwd: options.cwd ?? this.dir,
        env: options.env ?? process.env,
        stdio: ['ignore', fd, fd],
        detached: true,
      });
    } finally {
      closeSync(fd);
    }
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve);
      child.once('error', (err) => reject(new Error(`cannot run ${name} (${command}): ${err.message}`)));
    });
    child.unref();
    const pid = child.pid as number;
    let running = true;
    const exited = new Promise<ExitStatus>((resolve) => {
      child.once('exit', (code, signal) => {
        running = false;
        this.#writePids();
        resolve({ code, signal });
      });
    });
    const managed: ManagedProcess = {
      name,
      pid,
      logPath,
      exited,
      get running() {
        return running;
      },
      logTail: (lines?: number) => readLogTail(logPath, lines),
      stop: async (graceMs = DEFAULT_GRACE_MS) => {
        if (!running) return;
        signal(pid, 'SIGTERM');
        const timer = setTimeout(() => signal(pid, 'SIGKILL'), graceMs);
        await exited;
        clearTimeout(timer);
      },
    };
    this.#processes.push(managed);
    this.#writePids();
    return managed;
  }

  /**
   * Stops every process (last started first), the watchdog, and removes the folder if the group owns it.
   * Calling it again returns the same promise.
   */
  dispose(graceMs = DEFAULT_GRACE_MS): Promise<void> {
    this.#disposing ??= (async () => {
      for (const proc of [...this.#processes].reverse()) await proc.stop(graceMs);
      this.#finish();
    })();
    return this.#disposing;
  }

  /** Synchronous last resort (process exit), also in the middle of dispose(): SIGKILL everything still running. */
  killNow(): void {
    for (const proc of this.#processes) if (proc.running) signal(proc.pid, 'SIGKILL');
    this.#finish();
  }

  #finish(): void {
    if (this.#finished) return;
    this.#finished = true;
    if (this.#watchdogPid !== undefined) signal(this.#watchdogPid, 'SIGKILL');
    this.#watchdogPid = undefined;
    if (this.#removeDir) rmSync(this.dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 50 });
    else rmSync(join(this.dir, PID_FILE), { force: true });
    untrack(this);
  }

  #writePids(): void {
    if (this.#finished) return;
    const pids = this.#processes.filter((p) => p.running).map((p) => p.pid);
    try {
      writeFileSync(join(this.dir, PID_FILE), `${pids.join(' ')}\n`);
    } catch {
      // The folder is already gone: nothing left to protect.
    }
  }
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // Already gone.
  }
}

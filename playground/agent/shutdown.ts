// What the agent undoes when it stops (or fails to start), last started first, each failure logged and passed over.
export type Cleanup = () => Promise<void> | void;

export class Cleanups {
  readonly #steps: Cleanup[] = [];
  readonly #log: (message: string) => void;

  constructor(log: (message: string) => void) {
    this.#log = log;
  }

  push(step: Cleanup): void {
    this.#steps.push(step);
  }

  async run(): Promise<void> {
    for (const step of this.#steps.reverse())
      await Promise.resolve(step()).catch((err) => this.#log(`stopping: ${err}`));
  }
}

/** Runs `kill` when the process exits, even without a stop: no process the agent started outlives it. */
export function onProcessExit(kill: () => void): Cleanup {
  process.on('exit', kill);
  return () => {
    process.off('exit', kill);
  };
}

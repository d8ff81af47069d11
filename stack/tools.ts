// Finds and runs promtool and amtool: Debian's packaged ones and the current ones built from their Go modules.
import { execFile } from 'node:child_process';
import { builtBinary, isExecutable, manifestPath } from '../devkit/binaries.ts';

export type ToolName = 'promtool' | 'amtool';
export type ToolFlavour = 'debian' | 'built';

export interface Tool {
  name: ToolName;
  flavour: ToolFlavour;
  path: string;
}

const DEBIAN_PATHS: Record<ToolName, string> = { promtool: '/usr/bin/promtool', amtool: '/usr/bin/amtool' };
const DEBIAN_PACKAGES: Record<ToolName, string> = {
  promtool: 'prometheus',
  amtool: 'prometheus-alertmanager',
};
const BUILD_TARGETS: Record<ToolName, string> = { promtool: 'prometheus', amtool: 'alertmanager' };

/** How to get a missing tool, for error messages. */
export function installHint(name: ToolName, flavour: ToolFlavour): string {
  return flavour === 'debian'
    ? `apt-get install ${DEBIAN_PACKAGES[name]}`
    : `bash scripts/build-binaries.sh ${BUILD_TARGETS[name]}`;
}

/** Finds a tool or throws an error that says how to install it. */
export function findTool(name: ToolName, flavour: ToolFlavour, env: NodeJS.ProcessEnv = process.env): Tool {
  const path = flavour === 'debian' ? DEBIAN_PATHS[name] : builtBinary(name, env);
  if (path && isExecutable(path)) return { name, flavour, path };
  const what =
    flavour === 'debian'
      ? `Debian's ${name} (${DEBIAN_PATHS[name]})`
      : `${name} built from its Go module (listed in ${manifestPath(env)})`;
  throw new Error(`${what} is missing; install it with: ${installHint(name, flavour)}`);
}

export interface ToolRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a tool and resolves with its exit code and output (a non-zero exit is a result, not an exception). */
export function runTool(tool: Tool, args: readonly string[], cwd?: string): Promise<ToolRun> {
  return new Promise((resolve, reject) => {
    execFile(tool.path, args, { cwd, timeout: 60_000, maxBuffer: 16 << 20 }, (error, stdout, stderr) => {
      if (error && typeof error.code !== 'number') {
        reject(new Error(`${tool.path} ${args.join(' ')} could not run: ${error.message}`));
        return;
      }
      resolve({ code: error ? Number(error.code) : 0, stdout, stderr });
    });
  });
}

/** One line naming the tool, for test titles and messages. */
export function describeTool(tool: Tool): string {
  return `${tool.flavour} ${tool.name}`;
}

// Starts one selfheal function under faas-js-runtime exactly as its container does:
//   npm run function -- <router|restart-pod|redeploy|scale> [--port N] [--host ADDRESS]
// Configuration comes from the environment (validated first); PORT defaults to 8080, HOST to 0.0.0.0.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import {
  type Env,
  FUNCTION_NAMES,
  type FunctionConfig,
  type FunctionName,
  isFunctionName,
  loadConfig,
} from './lib/config.ts';
import { SelfhealError } from './lib/errors.ts';
import { watchdogLockFile } from './lib/health.ts';
import { createLogger, type Logger } from './lib/log.ts';
import { type FunctionModule, type RunningFunction, startFunction } from './lib/runtime.ts';

// Each function's factory, imported only when that function starts (the router never loads the Kubernetes client),
// handed the configuration loaded once here.
async function createModule(config: FunctionConfig, log: Logger): Promise<FunctionModule> {
  switch (config.fn) {
    case 'router':
      return (await import('./router/index.ts')).routerFunction({ config: () => config, log });
    case 'restart-pod':
      return (await import('./restart-pod/index.ts')).restartPodFunction({ config: () => config, log });
    case 'redeploy':
      return (await import('./redeploy/index.ts')).redeployFunction({ config: () => config, log });
    case 'scale':
      return (await import('./scale/index.ts')).scaleFunction({ config: () => config, log });
  }
}

const USAGE = `usage: npm run function -- <${FUNCTION_NAMES.join('|')}> [--port N] [--host ADDRESS]`;

export class UsageError extends Error {}

export function parseCommandLine(argv: string[], env: Env): { name: FunctionName; env: Env } {
  let parsed: ReturnType<typeof parse>;
  const parse = (args: string[]) =>
    parseArgs({
      args,
      allowPositionals: true,
      options: {
        port: { type: 'string', short: 'p' },
        host: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  try {
    parsed = parse(argv);
  } catch (err) {
    throw new UsageError(`${(err as Error).message}\n${USAGE}`);
  }
  const [name, ...extra] = parsed.positionals;
  if (parsed.values.help) throw new UsageError(USAGE);
  if (!name) throw new UsageError(`which function? ${USAGE}`);
  if (!isFunctionName(name))
    throw new UsageError(
      `unknown function "${name}"; the functions are ${FUNCTION_NAMES.join(', ')}\n${USAGE}`,
    );
  if (extra.length > 0) throw new UsageError(`unexpected argument(s) ${extra.join(' ')}\n${USAGE}`);
  return {
    name,
    env: {
      ...env,
      ...(parsed.values.port !== undefined ? { PORT: parsed.values.port } : {}),
      ...(parsed.values.host !== undefined ? { HOST: parsed.values.host } : {}),
    },
  };
}

// Validates the configuration, builds the function from it and starts it.
export async function runFunction(
  name: FunctionName,
  env: Env,
  { lockFile }: { lockFile?: string } = {},
): Promise<RunningFunction> {
  const config = loadConfig(name, env);
  const log = createLogger(name, config.logLevel);
  const mod = await createModule(config, log);
  return startFunction(mod, {
    name,
    host: config.host,
    port: config.port,
    bodyLimit: config.maxBodyBytes,
    maxInflight: config.maxInflight,
    log,
    runtimeLogLevel: 'warn',
    configDir: join(dirname(fileURLToPath(import.meta.url)), name),
    ...(lockFile ? { lockFile } : {}),
  });
}

async function main(): Promise<void> {
  try {
    const { name, env } = parseCommandLine(process.argv.slice(2), process.env);
    const running = await runFunction(name, env, { lockFile: watchdogLockFile() });
    console.log(`selfheal ${name} listening on ${running.url}`);
  } catch (err) {
    if (err instanceof UsageError || err instanceof SelfhealError) {
      console.error(`selfheal: ${err.message}`);
      process.exit(err instanceof UsageError ? 2 : 1);
    }
    console.error(`selfheal: could not start: ${(err as Error)?.stack ?? err}`);
    process.exit(1);
  }
}

if (import.meta.main) await main();

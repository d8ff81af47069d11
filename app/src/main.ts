// Entry point of the sample app: validate the config, honour a crash-loop marker, listen, shut down on signals.
import { mkdirSync } from 'node:fs';
import { ConfigError, loadConfig } from './config.ts';
import { createLogger } from './log.ts';
import { createApp } from './server.ts';
import { crashLoopMarkerPath, readCrashLoopMarker } from './simulations/crash.ts';

function failConfig(message: string): never {
  process.stderr.write(`selfheal-app: ${message}\n`);
  process.exit(2);
}

let config: ReturnType<typeof loadConfig>;
try {
  config = loadConfig(process.env);
  mkdirSync(config.stateDir, { recursive: true });
} catch (error) {
  if (error instanceof ConfigError) failConfig(error.message);
  failConfig(`invalid configuration: STATE_DIR cannot be created (${(error as Error).message})`);
}

const logger = createLogger({
  level: config.logLevel,
  podName: config.podName,
  podNamespace: config.podNamespace,
});

// A crash loop armed by POST /simulate/crash {"loop": true} survives restarts: only a fresh STATE_DIR (new pod) ends it.
const marker = readCrashLoopMarker(config.stateDir);
if (marker !== undefined) {
  logger.fatal(
    { simulation: 'crash-loop', marker: crashLoopMarkerPath(config.stateDir), ...marker },
    `crash-loop marker present: exiting with code ${marker.exitCode} (a new pod with an empty STATE_DIR cures it)`,
  );
  process.exit(marker.exitCode);
}

process.on('uncaughtException', (error) => {
  logger.fatal({ err: error }, 'uncaught exception');
  process.exit(1);
});
process.on('unhandledRejection', (reason) => {
  logger.fatal({ err: reason }, 'unhandled promise rejection');
  process.exit(1);
});

const app = createApp({ logger, stateDir: config.stateDir, podName: config.podName });

let stopping = false;
async function stop(signal: NodeJS.Signals): Promise<void> {
  if (stopping) {
    // A second Ctrl-C (or signal) means "now".
    logger.warn({ signal }, 'second signal while draining: exiting now');
    process.exit(1);
  }
  stopping = true;
  logger.info({ signal }, 'signal received');
  const result = await app.shutdown({ delayMs: config.shutdownDelayMs, timeoutMs: config.shutdownTimeoutMs });
  if (result === 'drained') {
    logger.info('stopped cleanly: all requests answered');
    process.exit(0);
  }
  logger.error(
    { timeoutMs: config.shutdownTimeoutMs },
    'in-flight requests outlived the grace period: forcing exit',
  );
  process.exit(1);
}
process.on('SIGTERM', (signal) => void stop(signal));
process.on('SIGINT', (signal) => void stop(signal));

try {
  const address = await app.listen(config.port, config.host);
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  logger.info(
    {
      address: address.address,
      port: address.port,
      url: `http://${host}:${address.port}`,
      stateDir: config.stateDir,
    },
    'listening',
  );
} catch (error) {
  logger.fatal(
    { err: error, host: config.host, port: config.port },
    `cannot listen: ${(error as Error).message}`,
  );
  process.exit(1);
}

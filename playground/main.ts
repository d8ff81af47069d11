// `npm start [-- --fast]`: runs the whole self-healing loop locally and shows what it detects and heals until Ctrl-C.
import { parseArgs } from 'node:util';
import { describe, type Observer, observe } from './observe.ts';
import { PLATFORMS, type Platform, type Playground, startPlayground } from './playground.ts';
import { removeState, stateFilePath, writeState } from './state.ts';

const usage = `usage: npm start [-- --fast] [--traffic N] [--platform kubernetes|openfaas-ce] [--monitoring bundled|operator]

  --fast          the accelerated profile: same rules, short scrape/evaluation intervals and for durations
  --traffic N     requests a second to the sample app (default 5; 0 for none)
  --platform P    kubernetes (default): the functions as plain Deployments with their own ServiceAccounts;
                  openfaas-ce: stack.yml as OpenFaaS Community Edition runs it (openfaas-fn, faas-netes' Deployments,
                  the default ServiceAccount, a stand-in for the gateway's /function/<name>)
  --monitoring M  bundled (default): Prometheus and Alertmanager run stack/'s plain configuration;
                  operator: prometheus-operator reconciles selfheal's PrometheusRule, PodMonitors and
                  AlertmanagerConfig, and they run the configuration it generates`;

const MONITORING = ['bundled', 'operator'] as const;
type Monitoring = (typeof MONITORING)[number];

const clock = () => new Date().toISOString().slice(11, 19);
const say = (line: string) => process.stdout.write(`${clock()}  ${line}\n`);

function parse(): { fast: boolean; traffic: number; platform: Platform; monitoring: Monitoring } | undefined {
  try {
    const { values } = parseArgs({
      options: {
        fast: { type: 'boolean', default: false },
        traffic: { type: 'string', default: '5' },
        platform: { type: 'string', default: 'kubernetes' },
        monitoring: { type: 'string', default: 'bundled' },
        help: { type: 'boolean', short: 'h' },
      },
    });
    if (values.help) {
      console.log(usage);
      process.exit(0);
    }
    const traffic = Number(values.traffic);
    if (!Number.isFinite(traffic) || traffic < 0 || traffic > 200) {
      console.error(`--traffic must be a number from 0 to 200\n${usage}`);
      return undefined;
    }
    const platform = values.platform as Platform;
    if (!PLATFORMS.includes(platform)) {
      console.error(`--platform must be one of ${PLATFORMS.join(', ')}\n${usage}`);
      return undefined;
    }
    const monitoring = values.monitoring as Monitoring;
    if (!MONITORING.includes(monitoring)) {
      console.error(`--monitoring must be one of ${MONITORING.join(', ')}\n${usage}`);
      return undefined;
    }
    return { fast: values.fast ?? false, traffic, platform, monitoring };
  } catch (error) {
    console.error(`${(error as Error).message}\n${usage}`);
    return undefined;
  }
}

async function main(): Promise<number> {
  const args = parse();
  if (!args) return 2;
  const profile = args.fast ? 'fast' : 'production';
  const aborting = new AbortController();
  let playground: Playground | undefined;
  let observer: Observer | undefined;
  let stopping: Promise<void> | undefined;

  const shutdown = (signal: string): Promise<void> => {
    stopping ??= (async () => {
      say(`${signal}: stopping every process the playground started …`);
      aborting.abort(new Error(`stopped by ${signal}`));
      await observer?.stop().catch(() => undefined);
      await playground?.stop();
      await removeState();
      say('stopped; nothing left running.');
    })();
    return stopping;
  };
  let exitCode = 0;
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(signal, () => {
      exitCode = 0;
      void shutdown(signal).then(() => process.exit(exitCode));
    });
  }

  say(
    `selfheal playground, ${profile} profile, functions on ${args.platform}, ${args.monitoring} monitoring`,
  );
  try {
    playground = await startPlayground({
      profile,
      platform: args.platform,
      monitoring: args.monitoring,
      trafficPerSecond: args.traffic,
      progress: say,
      signal: aborting.signal,
    });
  } catch (error) {
    if (aborting.signal.aborted) return 0;
    console.error(`\nthe playground could not start: ${(error as Error).message}`);
    await removeState();
    return 1;
  }
  const { state } = playground;
  await writeState(state);

  const functions = Object.entries(state.functionUrls)
    .map(([name, url]) => `    ${name.padEnd(12)} ${url}`)
    .join('\n');
  process.stdout.write(`
  Prometheus     ${state.prometheusUrl}   (alerts: ${state.prometheusUrl}/api/v1/alerts)
  Alertmanager   ${state.alertmanagerUrl}   (alerts: ${state.alertmanagerUrl}/api/v2/alerts)
  sample app     ${state.appUrl}   (${state.appNamespace}/${state.appDeployment}, 2 replicas)
  functions (${state.platform === 'openfaas-ce' ? `on OpenFaaS CE in ${state.functionNamespace}, through the gateway stand-in` : 'through the local service proxy'}):
${functions}
  kubeconfig     export KUBECONFIG=${state.kubeconfig}
  logs           ${state.logDir}
  state          ${stateFilePath()}

  Break something:  npm run scenario -- <memory-leak|crash-loop|errors|not-ready|cpu|bad-release|all>${profile === 'fast' ? ' --fast' : ''}
  or by hand:       curl -X POST <pod address>:3000/simulate/memory-leak   (pod addresses: kubectl get pods -n demo -o wide)

`);
  say(
    `READY: the self-healing loop is armed (${profile} profile). Live feed follows; Ctrl-C stops everything.`,
  );

  observer = await observe({
    kubeConfig: playground.cluster.kubeConfig(),
    prometheusUrl: state.prometheusUrl,
    namespaces: [state.appNamespace],
    alertPollMs: profile === 'fast' ? 1000 : 5000,
    onEvent: (event) => say(describe(event)),
  });
  await new Promise<never>(() => undefined);
  return exitCode;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: Error) => {
    console.error(`the playground failed: ${error.message}`);
    process.exitCode = 1;
  },
);

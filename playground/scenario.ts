// `npm run scenario -- <name|all> [--fast]`: inject failures into the running playground and show them heal.
import { parseArgs } from 'node:util';
import { BAD_RELEASE, runBadRelease } from './bad-release.ts';
import { runScenario, type ScenarioResult } from './run-scenario.ts';
import { type Profile, parseScenarioNames, RELEASE_SCENARIO, SCENARIOS } from './scenarios.ts';
import { PlaygroundNotRunningError, readRunningState } from './state.ts';

const usage = `usage: npm run scenario -- <memory-leak|crash-loop|errors|not-ready|cpu|bad-release|all> [--fast] [--timeout SECONDS]`;

function summary(results: ScenarioResult[]): string {
  const rows = results.map((r) =>
    [
      r.scenario.padEnd(12),
      (r.healed ? 'healed' : 'FAILED').padEnd(7),
      `${r.firingAfterSeconds?.toFixed(0) ?? '-'}s`.padStart(6),
      `${r.actionAfterSeconds?.toFixed(0) ?? '-'}s`.padStart(6),
      `${r.recoveredAfterSeconds?.toFixed(0) ?? '-'}s`.padStart(9),
      `${r.resolvedAfterSeconds?.toFixed(0) ?? '-'}s`.padStart(9),
      r.healed ? '' : r.reason,
    ].join('  '),
  );
  return ['scenario      result   firing  action  recovered  resolved', ...rows].join('\n');
}

async function main(): Promise<number> {
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      allowPositionals: true,
      options: {
        fast: { type: 'boolean', default: false },
        timeout: { type: 'string' },
        help: { type: 'boolean' },
      },
    });
  } catch (error) {
    console.error(`${(error as Error).message}\n${usage}`);
    return 2;
  }
  if (parsed.values.help) {
    console.log(usage);
    return 0;
  }
  let names: ReturnType<typeof parseScenarioNames>;
  try {
    names = parseScenarioNames(parsed.positionals[0]);
  } catch (error) {
    console.error(`${(error as Error).message}\n${usage}`);
    return 2;
  }
  const timeout = parsed.values.timeout === undefined ? undefined : Number(parsed.values.timeout);
  if (timeout !== undefined && !(timeout > 0)) {
    console.error(`--timeout must be a positive number of seconds\n${usage}`);
    return 2;
  }

  const state = await readRunningState();
  const profile: Profile = parsed.values.fast ? 'fast' : 'production';
  if (profile !== state.profile) {
    console.error(
      `the running playground uses the ${state.profile} profile; run the scenario ${state.profile === 'fast' ? 'with' : 'without'} --fast`,
    );
    return 2;
  }
  const results: ScenarioResult[] = [];
  for (const name of names) {
    const common = {
      state,
      profile,
      ...(timeout ? { boundSeconds: timeout } : {}),
      print: (line: string) => console.log(line),
    };
    let result: ScenarioResult;
    if (name === RELEASE_SCENARIO) {
      console.log(
        `\n== ${name}: expect ${BAD_RELEASE.alertname} → ${BAD_RELEASE.chain.join(' → ')} → breaker, SelfhealEscalation (${profile} profile)`,
      );
      result = await runBadRelease(common);
    } else {
      const scenario = SCENARIOS[name];
      console.log(`\n== ${name}: expect ${scenario.alertname} → ${scenario.action} (${profile} profile)`);
      result = await runScenario({ ...common, scenario });
    }
    console.log(result.healed ? `== ${name}: healed` : `== ${name}: NOT healed: ${result.reason}`);
    results.push(result);
  }
  console.log(`\n${summary(results)}`);
  return results.every((r) => r.healed) ? 0 : 1;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: Error) => {
    console.error(
      error instanceof PlaygroundNotRunningError ? error.message : `scenario failed: ${error.message}`,
    );
    process.exitCode = 1;
  },
);

// Runs promtool and amtool over the stack's files and says what they found: shared by the tests and live checks.
import { readFile } from 'node:fs/promises';
import { parse } from 'yaml';
import { z } from 'zod';
import { ROUTER_RECEIVER, STACK_FILES, type StackSource } from './source.ts';
import { runTool, type Tool } from './tools.ts';

export interface CheckResult {
  ok: boolean;
  /** The command line, for messages. */
  command: string;
  /** What the tool printed (stdout and stderr). */
  output: string;
}

async function check(tool: Tool, args: string[], cwd?: string): Promise<CheckResult> {
  const run = await runTool(tool, args, cwd);
  return {
    ok: run.code === 0,
    command: [tool.path, ...args].join(' '),
    output: `${run.stdout}${run.stderr}`.trim(),
  };
}

/**
 * `promtool check config`. `syntaxOnly` skips the files the config refers to (rules, CA, tokens): the production
 * file names in-cluster service account files that exist only in a pod.
 */
export function promtoolCheckConfig(
  tool: Tool,
  file: string,
  options: { syntaxOnly?: boolean } = {},
): Promise<CheckResult> {
  return check(tool, ['check', 'config', ...(options.syntaxOnly ? ['--syntax-only'] : []), file]);
}

export function promtoolCheckRules(tool: Tool, files: readonly string[]): Promise<CheckResult> {
  return check(tool, ['check', 'rules', ...files]);
}

/** `promtool test rules`: every suite must pass. */
export function promtoolTestRules(tool: Tool, suites: readonly string[]): Promise<CheckResult> {
  return check(tool, ['test', 'rules', ...suites]);
}

export function amtoolCheckConfig(tool: Tool, file: string): Promise<CheckResult> {
  return check(tool, ['check-config', file]);
}

/** A label set and the receiver Alertmanager must route it to. */
export interface RouteCase {
  name: string;
  labels: Record<string, string>;
  receiver: string;
}

const RouteCases = z.array(
  z.object({ name: z.string(), labels: z.record(z.string(), z.string()), receiver: z.string() }),
);

/**
 * The route cases of stack/alertmanager/tests/routes.yml plus one per alert rule: the labels the rule gives its
 * alert (with a sample namespace and pod) must reach the router.
 */
export async function loadRouteCases(
  source: StackSource,
  file: string = STACK_FILES.routeTests,
): Promise<RouteCase[]> {
  const parsed = RouteCases.safeParse(parse(await readFile(file, 'utf8')));
  if (!parsed.success) throw new Error(`${file} is not as expected:\n${z.prettifyError(parsed.error)}`);
  const fromRules = source.rules.map((rule) => ({
    name: `the ${rule.alert} rule's alert goes to the router`,
    labels: { alertname: rule.alert, ...rule.labels, namespace: 'shop', pod: 'web-1' },
    receiver: ROUTER_RECEIVER,
  }));
  return [...parsed.data, ...fromRules];
}

/** `amtool config routes test`: does the label set reach exactly `receiver`? */
export function amtoolRoutesTest(tool: Tool, configFile: string, routeCase: RouteCase): Promise<CheckResult> {
  // Quoted values, so that empty values and special characters reach amtool intact.
  const labels = Object.entries(routeCase.labels).map(([name, value]) => `${name}=${JSON.stringify(value)}`);
  return check(tool, [
    'config',
    'routes',
    'test',
    `--config.file=${configFile}`,
    `--verify.receivers=${routeCase.receiver}`,
    ...labels,
  ]);
}

/** Runs every route case; resolves with the ones that went elsewhere. */
export async function failingRouteCases(
  tool: Tool,
  configFile: string,
  cases: readonly RouteCase[],
): Promise<{ routeCase: RouteCase; result: CheckResult }[]> {
  const results = await Promise.all(
    cases.map(async (routeCase) => ({
      routeCase,
      result: await amtoolRoutesTest(tool, configFile, routeCase),
    })),
  );
  return results.filter(({ result }) => !result.ok);
}

// Writes the promtool rule test suites for a profile's rules: same series and checks, `for` boundaries moved.
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { isMap, isScalar, isSeq, parseDocument, type YAMLMap } from 'yaml';
import { formatDuration, parseDuration } from './duration.ts';
import { rewordFor } from './profile/rules.ts';
import type { Timing } from './profile/timing.ts';

/**
 * Test groups named "for boundary: ..." hold two checks of one alert, one evaluation apart: the last evaluation at
 * which the alert is still pending and the first at which it fires. That pair pins the production `for`; every
 * other check holds for any shorter `for` too, since each one looks at a state that has lasted long enough.
 */
export const FOR_BOUNDARY_PREFIX = 'for boundary';

/** The suite files (*.yml) of a directory, sorted. */
export async function listRuleTestSuites(dir: string): Promise<string[]> {
  const names = (await readdir(dir)).filter((name) => name.endsWith('.yml')).sort();
  return names.map((name) => join(dir, name));
}

function fail(file: string, message: string): never {
  throw new Error(`${basename(file)}: ${message}`);
}

function timeOf(check: YAMLMap, file: string): number {
  const text = check.get('eval_time');
  if (typeof text !== 'string') fail(file, 'every check needs an eval_time such as 1m30s');
  return parseDuration(text);
}

/**
 * The suite text for rules with other `for` durations: rule_files points at `rulesFile`, each for-boundary pair
 * moves to the first evaluation at or after onset + the new `for` (onset = the production firing time minus the
 * production `for`), and expected descriptions state the new `for`. The suite's evaluation interval stays, so the
 * input series mean the same.
 */
export function retimeRuleTestSuite(
  text: string,
  file: string,
  options: { rulesFile: string; productionFor: Record<string, number>; targetFor: Record<string, number> },
): string {
  const doc = parseDocument(text);
  if (doc.errors.length > 0) fail(file, doc.errors[0]?.message ?? 'not valid YAML');
  doc.set('rule_files', [resolve(options.rulesFile)]);
  const evaluationText = doc.get('evaluation_interval');
  const evaluation = parseDuration(typeof evaluationText === 'string' ? evaluationText : '1m');
  const tests = doc.get('tests');
  if (!isSeq(tests)) fail(file, 'no tests');
  for (const group of tests.items) {
    if (isMap(group)) rewordExpectedAnnotations(group, options.productionFor, options.targetFor);
  }
  for (const group of tests.items) {
    if (!isMap(group)) continue;
    const name = String(group.get('name') ?? '');
    if (!name.startsWith(FOR_BOUNDARY_PREFIX)) continue;
    const checks = group.get('alert_rule_test');
    if (!isSeq(checks) || checks.items.length !== 2 || !checks.items.every(isMap)) {
      fail(
        file,
        `"${name}" must hold exactly two alert checks: the last pending one and the first firing one`,
      );
    }
    const [pending, firing] = checks.items as [YAMLMap, YAMLMap];
    const alert = String(firing.get('alertname'));
    const pendingAlerts = pending.get('exp_alerts');
    const firingAlerts = firing.get('exp_alerts');
    if (pending.get('alertname') !== alert || (isSeq(pendingAlerts) && pendingAlerts.items.length > 0)) {
      fail(file, `"${name}": the first check must expect no ${alert} alert`);
    }
    if (!isSeq(firingAlerts) || firingAlerts.items.length === 0) {
      fail(file, `"${name}": the second check must expect the ${alert} alert`);
    }
    const firesAt = timeOf(firing, file);
    if (timeOf(pending, file) !== firesAt - evaluation) {
      fail(file, `"${name}": the two checks must be one evaluation (${formatDuration(evaluation)}) apart`);
    }
    const productionFor = options.productionFor[alert];
    const targetFor = options.targetFor[alert];
    if (productionFor === undefined || targetFor === undefined) fail(file, `no rule named ${alert}`);
    const onset = firesAt - productionFor;
    const newFiresAt = onset + Math.ceil(targetFor / evaluation) * evaluation;
    pending.set('eval_time', formatDuration(newFiresAt - evaluation));
    firing.set('eval_time', formatDuration(newFiresAt));
  }
  return doc.toString({ lineWidth: 0 });
}

function rewordExpectedAnnotations(
  group: YAMLMap,
  productionFor: Record<string, number>,
  targetFor: Record<string, number>,
): void {
  const checks = group.get('alert_rule_test');
  if (!isSeq(checks)) return;
  for (const check of checks.items) {
    if (!isMap(check)) continue;
    const alert = String(check.get('alertname'));
    const from = productionFor[alert];
    const to = targetFor[alert];
    const alerts = check.get('exp_alerts');
    if (from === undefined || to === undefined || !isSeq(alerts)) continue;
    for (const expected of alerts.items) {
      const annotations = isMap(expected) ? expected.get('exp_annotations') : undefined;
      if (!isMap(annotations)) continue;
      for (const pair of annotations.items) {
        if (isScalar(pair.value) && typeof pair.value.value === 'string') {
          pair.value.value = rewordFor(pair.value.value, from, to);
        }
      }
    }
  }
}

/** Writes the suites of `suitesDir` retimed for `timing`'s rules into outDir; returns the written files. */
export async function writeRuleTestSuites(options: {
  suitesDir: string;
  outDir: string;
  rulesFile: string;
  production: Timing;
  target: Timing;
}): Promise<string[]> {
  await mkdir(options.outDir, { recursive: true });
  const written: string[] = [];
  for (const file of await listRuleTestSuites(options.suitesDir)) {
    const text = retimeRuleTestSuite(await readFile(file, 'utf8'), file, {
      rulesFile: options.rulesFile,
      productionFor: options.production.for,
      targetFor: options.target.for,
    });
    const out = join(options.outDir, basename(file));
    await writeFile(out, text);
    written.push(out);
  }
  return written;
}

// The detection floor: how long the pipeline itself takes to tell the router of a fault, per alert and profile, and
// the table of it for the README.
import { formatDuration } from '../duration.ts';
import type { StackSource } from '../source.ts';
import { profileTiming, type Timing } from './timing.ts';

/** The delays the pipeline itself adds before the router hears of a fault, per alert. */
export interface DetectionFloor {
  alert: string;
  action: string;
  scrapeInterval: number;
  evaluationInterval: number;
  for: number;
  groupWait: number;
  /** scrape + evaluation + for + group_wait, in seconds. */
  total: number;
}

/**
 * The detection floor: a fault shows in the next scrape, the next rule evaluation sees it, the alert waits its
 * `for`, and Alertmanager waits group_wait before the first notification of a new group (Prometheus sends an
 * alert with startsAt = the moment it fired, so group_wait is never skipped). The time the fault itself needs to
 * meet the expression (four restarts, a one-minute rate window filling up) comes on top, and an alert that joins a
 * group already notified (same alert name and namespace) waits for the group's next flush, up to group_interval,
 * instead of group_wait.
 */
export function detectionFloor(source: StackSource, timing: Timing): DetectionFloor[] {
  return source.rules.map((rule) => {
    const forSeconds = timing.for[rule.alert] ?? rule.for;
    return {
      alert: rule.alert,
      action: rule.labels.action ?? '',
      scrapeInterval: timing.scrapeInterval,
      evaluationInterval: timing.evaluationInterval,
      for: forSeconds,
      groupWait: timing.groupWait,
      total: timing.scrapeInterval + timing.evaluationInterval + forSeconds + timing.groupWait,
    };
  });
}

/** A Markdown table of the detection floor of both profiles, for the README. */
export function detectionFloorTable(source: StackSource): string {
  const production = detectionFloor(source, profileTiming(source, 'production'));
  const fast = detectionFloor(source, profileTiming(source, 'fast'));
  const cell = (row: DetectionFloor) =>
    `${formatDuration(row.scrapeInterval)} + ${formatDuration(row.evaluationInterval)} + ${formatDuration(row.for)} + ${formatDuration(row.groupWait)} = **${formatDuration(row.total)}**`;
  const lines = [
    '| alert | action | production (scrape + evaluation + for + group_wait) | fast |',
    '|---|---|---|---|',
    ...production.map(
      (row, i) => `| ${row.alert} | ${row.action} | ${cell(row)} | ${cell(fast[i] as DetectionFloor)} |`,
    ),
  ];
  return lines.join('\n');
}

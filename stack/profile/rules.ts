// The rule file of a profile: production's expressions verbatim, each `for` and the description stating it changed.
import { isMap, isScalar, isSeq, parseDocument } from 'yaml';
import { durationInWords, formatDuration } from '../duration.ts';
import type { StackSource } from '../source.ts';
import type { ProfileName, Timing } from './timing.ts';

/** How annotations state an alert's `for`; they must, so that a profile with another `for` can say so too. */
export function forPhrase(seconds: number): string {
  return `for more than ${durationInWords(seconds)}`;
}

/** An annotation text with its `for` phrase restated for another `for`. */
export function rewordFor(text: string, from: number, to: number): string {
  return text.replaceAll(forPhrase(from), forPhrase(to));
}

/**
 * The rule file of a profile: production verbatim; otherwise each `for` (and the description stating it) changed
 * and nothing else, so the expressions stay byte for byte those of production.
 */
export function renderRules(source: StackSource, timing: Timing, profile: ProfileName): string {
  if (profile === 'production') return source.rulesText;
  const production = Object.fromEntries(source.rules.map((rule) => [rule.alert, rule.for]));
  const doc = parseDocument(source.rulesText);
  const groups = doc.get('groups');
  if (!isSeq(groups)) throw new Error('the rule file has no groups');
  for (const group of groups.items) {
    const rules = isMap(group) ? group.get('rules') : undefined;
    if (!isSeq(rules)) continue;
    for (const rule of rules.items) {
      if (!isMap(rule)) continue;
      const alert = rule.get('alert');
      if (typeof alert !== 'string' || !rule.has('for')) continue;
      const from = production[alert] as number;
      const to = timing.for[alert] ?? from;
      rule.set('for', formatDuration(to));
      const description = rule.getIn(['annotations', 'description']);
      if (typeof description !== 'string' || !description.includes(forPhrase(from))) {
        throw new Error(
          `the description of ${alert} must say "${forPhrase(from)}" so that other profiles can restate it`,
        );
      }
      const annotations = rule.get('annotations');
      if (isMap(annotations)) {
        for (const pair of annotations.items) {
          // Changing the scalar in place keeps its quoting style.
          if (isScalar(pair.value) && typeof pair.value.value === 'string') {
            pair.value.value = rewordFor(pair.value.value, from, to);
          }
        }
      }
    }
  }
  doc.commentBefore = [
    ` Rendered by stack/profile.ts for the ${profile} profile from stack/prometheus/rules/selfheal.rules.yml:`,
    ' the same expressions; each `for`, and the description stating it, shortened.',
    ...(doc.commentBefore ? [doc.commentBefore] : []),
  ].join('\n');
  return doc.toString({ lineWidth: 0 });
}

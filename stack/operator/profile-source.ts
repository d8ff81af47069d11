// The stack source with a profile's timings applied, so the operator resources of the fast profile evaluate and route
// as fast as the plain fast stack does: the same expressions, shorter intervals and `for` durations.
import { formatDuration } from '../duration.ts';
import { renderAlertmanagerConfig } from '../profile/alertmanager.ts';
import { renderRules } from '../profile/rules.ts';
import { type ProfileName, profileTiming } from '../profile/timing.ts';
import { readAlertRules, type StackSource } from '../source.ts';

export function profileSource(source: StackSource, profile: ProfileName): StackSource {
  if (profile === 'production') return source;
  const timing = profileTiming(source, profile);
  const rulesText = renderRules(source, timing, profile);
  return {
    prometheusConfig: {
      ...source.prometheusConfig,
      global: {
        ...source.prometheusConfig.global,
        scrape_interval: formatDuration(timing.scrapeInterval),
        evaluation_interval: formatDuration(timing.evaluationInterval),
      },
    },
    rulesText,
    rules: readAlertRules(rulesText, `${profile} rules`),
    alertmanagerConfig: renderAlertmanagerConfig(source, { timing, profile }),
  };
}

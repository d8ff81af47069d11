// alertmanager.yml for a profile: its route timings, and for a local run the router's address and token file.
import { formatDuration } from '../duration.ts';
import {
  type AlertmanagerConfig,
  type AlertmanagerRoute,
  ROUTER_RECEIVER,
  type StackSource,
} from '../source.ts';
import { checkFile, checkUrl } from './addresses.ts';
import type { ProfileName, Timing } from './timing.ts';

/** The router as Alertmanager reaches it. */
export interface RouterTarget {
  url: string;
  tokenFile: string;
}

/** alertmanager.yml for a profile; with `router`, delivering to a router at another address. */
export function renderAlertmanagerConfig(
  source: StackSource,
  options: { timing: Timing; profile: ProfileName; router?: RouterTarget },
): AlertmanagerConfig {
  const config = structuredClone(source.alertmanagerConfig);
  if (options.profile !== 'production') {
    const { timing } = options;
    const retime = (route: AlertmanagerRoute, isRoot: boolean) => {
      if (isRoot || route.group_wait) route.group_wait = formatDuration(timing.groupWait);
      if (isRoot || route.group_interval) route.group_interval = formatDuration(timing.groupInterval);
      if (isRoot || route.repeat_interval) route.repeat_interval = formatDuration(timing.repeatInterval);
      for (const child of route.routes ?? []) retime(child, false);
    };
    retime(config.route, true);
  }
  const router = options.router;
  if (!router) return config;
  const url = checkUrl(router.url, 'router.url', ['http:', 'https:']);
  const receiver = config.receivers.find((candidate) => candidate.name === ROUTER_RECEIVER);
  const webhooks = receiver?.webhook_configs ?? [];
  if (webhooks.length !== 1) {
    throw new Error(`alertmanager.yml must have a ${ROUTER_RECEIVER} receiver with exactly one webhook`);
  }
  const webhook = webhooks[0] as Record<string, unknown>;
  webhook.url = url.href;
  const httpConfig = (webhook.http_config ?? {}) as Record<string, unknown>;
  webhook.http_config = {
    ...httpConfig,
    authorization: { type: 'Bearer', credentials_file: checkFile(router.tokenFile, 'router.tokenFile') },
  };
  return config;
}

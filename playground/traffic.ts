// A steady, light stream of requests to the sample app, so request-based alerts have traffic to judge.
export interface TrafficStats {
  sent: number;
  ok: number;
  serverErrors: number;
  failed: number;
}

export interface Traffic {
  stats(): TrafficStats;
  stop(): void;
}

/** Sends `perSecond` GET requests a second to `url` until stopped; never throws. */
export function startTraffic(url: string, perSecond: number): Traffic {
  const stats: TrafficStats = { sent: 0, ok: 0, serverErrors: 0, failed: 0 };
  const send = async (): Promise<void> => {
    stats.sent += 1;
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(2000) });
      await response.arrayBuffer();
      if (response.status >= 500) stats.serverErrors += 1;
      else stats.ok += 1;
    } catch {
      stats.failed += 1;
    }
  };
  const timer = setInterval(() => void send(), Math.max(10, Math.round(1000 / perSecond)));
  timer.unref();
  return {
    stats: () => ({ ...stats }),
    stop: () => clearInterval(timer),
  };
}

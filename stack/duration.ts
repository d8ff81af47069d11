// Prometheus/Alertmanager duration strings ("1m30s", "4h") to seconds and back.

const UNIT_SECONDS: Record<string, number> = {
  y: 365 * 24 * 3600,
  w: 7 * 24 * 3600,
  d: 24 * 3600,
  h: 3600,
  m: 60,
  s: 1,
  ms: 0.001,
};

const DURATION = /^(?:\d+(?:y|w|d|h|ms|m|s))+$/;
const PART = /(\d+)(y|w|d|h|ms|m|s)/g;

/** Seconds in a duration such as `1m30s`; throws a plain message on anything else. */
export function parseDuration(text: string): number {
  if (text === '0') return 0;
  if (!DURATION.test(text)) throw new Error(`"${text}" is not a duration such as 15s, 2m or 1h30m`);
  let seconds = 0;
  for (const [, amount, unit] of text.matchAll(PART)) {
    seconds += Number(amount) * (UNIT_SECONDS[unit as string] as number);
  }
  return seconds;
}

/** The shortest duration string for whole seconds: 90 → `1m30s`, 14400 → `4h`. */
export function formatDuration(seconds: number): string {
  if (!Number.isInteger(seconds) || seconds < 0) {
    throw new Error(`${seconds} s is not a whole, non-negative number of seconds`);
  }
  if (seconds === 0) return '0s';
  let rest = seconds;
  let text = '';
  for (const unit of ['h', 'm', 's']) {
    const size = UNIT_SECONDS[unit] as number;
    const amount = Math.floor(rest / size);
    if (amount > 0) text += `${amount}${unit}`;
    rest -= amount * size;
  }
  return text;
}

/** A duration as an on-call human reads it: 60 → "1 minute", 120 → "2 minutes", 12 → "12 seconds". */
export function durationInWords(seconds: number): string {
  const [amount, unit] =
    seconds >= 3600 && seconds % 3600 === 0
      ? [seconds / 3600, 'hour']
      : seconds >= 60 && seconds % 60 === 0
        ? [seconds / 60, 'minute']
        : [seconds, 'second'];
  return `${amount} ${unit}${amount === 1 ? '' : 's'}`;
}

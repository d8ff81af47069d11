// Kubernetes resource quantities ("250m", "128Mi", "1.5", "1e3") as numbers of base units (cores, bytes).

const SUFFIX: Readonly<Record<string, number>> = {
  '': 1,
  m: 1e-3,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};

/** A quantity in base units; a number is taken as it is; undefined when it is not a quantity. */
export function parseQuantity(q: string | number | undefined): number | undefined {
  if (q === undefined) return undefined;
  if (typeof q === 'number') return q;
  const match = /^[+]?(\d+(?:\.\d*)?|\.\d+)(.*)$/.exec(q.trim());
  if (!match) return undefined;
  const unit = match[2] ?? '';
  const factor = SUFFIX[unit] ?? (/^[eE][+-]?\d+$/.test(unit) ? 10 ** Number(unit.slice(1)) : undefined);
  return factor === undefined ? undefined : Number(match[1]) * factor;
}

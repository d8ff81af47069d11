// Prometheus relabel rules (prometheus.yml's snake_case) as prometheus-operator's RelabelConfig (camelCase).
import { z } from 'zod';

const RelabelRule = z.strictObject({
  source_labels: z.array(z.string()).optional(),
  separator: z.string().optional(),
  target_label: z.string().optional(),
  regex: z.string().optional(),
  modulus: z.number().int().optional(),
  replacement: z.string().optional(),
  action: z.string().optional(),
});

/** prometheus-operator's RelabelConfig: the same fields, named as its CRDs name them. */
export interface OperatorRelabelConfig {
  sourceLabels?: string[];
  separator?: string;
  targetLabel?: string;
  regex?: string;
  modulus?: number;
  replacement?: string;
  action?: string;
}

/**
 * The same relabel rule in the operator's form. Strict: a field the operator has no name for would be lost, so it is
 * an error rather than silently dropped.
 */
export function toOperatorRelabel(rule: unknown, where: string): OperatorRelabelConfig {
  const parsed = RelabelRule.safeParse(rule);
  if (!parsed.success) {
    throw new Error(
      `${where}: a relabel rule prometheus-operator cannot express:\n${z.prettifyError(parsed.error)}`,
    );
  }
  const r = parsed.data;
  return {
    ...(r.source_labels ? { sourceLabels: r.source_labels } : {}),
    ...(r.separator !== undefined ? { separator: r.separator } : {}),
    ...(r.target_label !== undefined ? { targetLabel: r.target_label } : {}),
    ...(r.regex !== undefined ? { regex: r.regex } : {}),
    ...(r.modulus !== undefined ? { modulus: r.modulus } : {}),
    ...(r.replacement !== undefined ? { replacement: r.replacement } : {}),
    ...(r.action !== undefined ? { action: r.action } : {}),
  };
}

/** The relabel rules of a scrape job in the operator's form. */
export function toOperatorRelabels(rules: readonly unknown[], where: string): OperatorRelabelConfig[] {
  return rules.map((rule, index) => toOperatorRelabel(rule, `${where}, relabel rule ${index + 1}`));
}

// Kubernetes value formats shared by the schemas: names, label keys and values, resource quantities.
import { z } from 'zod';
import { parseQuantity } from '../../devkit/quantity.ts';

/** RFC 1123 label (names of most objects, namespaces, and DNS labels). */
export const dnsLabel = z
  .string()
  .max(63)
  .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'must be a lower-case RFC 1123 label');

/** RFC 1035 label: what Knative requires of a Service name and OpenFaaS of a function name. */
export const dns1035Label = z
  .string()
  .max(63)
  .regex(/^[a-z]([-a-z0-9]*[a-z0-9])?$/, 'must be a lower-case RFC 1035 label (starts with a letter)');

const qualifiedName = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const dnsSubdomain = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** A label or annotation key: optional DNS-subdomain prefix, then a name of at most 63 characters. */
export const qualifiedKey = z.string().refine((key) => {
  const slash = key.lastIndexOf('/');
  const [prefix, name] = slash >= 0 ? [key.slice(0, slash), key.slice(slash + 1)] : [undefined, key];
  if (prefix !== undefined && (prefix.length > 253 || !dnsSubdomain.test(prefix))) return false;
  return name.length <= 63 && qualifiedName.test(name);
}, 'must be a qualified name (prefix/name)');

export const labelValue = z
  .string()
  .max(63)
  .regex(/^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/, 'must be a valid label value');

export const labels = z.record(qualifiedKey, labelValue);
export const annotations = z.record(qualifiedKey, z.string());

/** A resource quantity as the API server parses it (e.g. 500m, 0.5, 128Mi, 1G). */
export const quantity = z
  .string()
  .regex(
    /^[+]?(\d+(\.\d*)?|\.\d+)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei|[eE][+-]?\d+)?$/,
    'must be a resource quantity',
  );

/** Parses a CPU or memory quantity into cores or bytes, to compare requests with limits. */
export function quantityValue(text: string): number {
  const value = parseQuantity(text);
  if (value === undefined) throw new Error(`not a quantity: ${text}`);
  return value;
}

/** What every object carries: apiVersion, kind and metadata with a name. */
export const objectMeta = z.object({
  name: dnsLabel,
  namespace: dnsLabel.optional(),
  labels: labels.optional(),
  annotations: annotations.optional(),
});

/** A reference to an object, as Knative's KReference (duckv1) spells it. */
export const kReference = z.strictObject({
  apiVersion: z.string().min(1),
  kind: z.string().min(1),
  name: dnsLabel,
  namespace: dnsLabel.optional(),
});

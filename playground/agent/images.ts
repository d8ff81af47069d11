// Maps container images to the local commands that play them (playground/images.yaml), like an image's entrypoint.
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { z } from 'zod';

export const IMAGES_FILE = new URL('../images.yaml', import.meta.url);

const imageSchema = z.object({
  command: z.array(z.string()).min(1),
  args: z.array(z.string()).default([]),
  env: z.record(z.string(), z.string()).default({}),
});
const fileSchema = z.object({ images: z.record(z.string(), imageSchema) });

export type ImageEntry = z.infer<typeof imageSchema>;
export type ImageTable = Record<string, ImageEntry>;
export type ImageInput = { command: string[]; args?: string[]; env?: Record<string, string> };

/** Reads an images file; a malformed file is a clear error naming the file and the problem. */
export function loadImageTable(file: URL | string = IMAGES_FILE): ImageTable {
  let raw: unknown;
  try {
    raw = parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new Error(`cannot read image table ${String(file)}: ${(err as Error).message}`);
  }
  const parsed = fileSchema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
    throw new Error(`invalid image table ${String(file)}: ${problems.join('; ')}`);
  }
  return parsed.data.images;
}

export function imageTable(entries: Record<string, ImageInput>): ImageTable {
  const table: ImageTable = {};
  for (const [repo, e] of Object.entries(entries)) table[repo] = imageSchema.parse(e);
  return table;
}

/** The repository part of an image reference: `ghcr.io/x/app:1.2@sha256:..` → `ghcr.io/x/app`. */
export function imageRepository(image: string): string {
  const withoutDigest = image.split('@')[0] ?? image;
  const lastSlash = withoutDigest.lastIndexOf('/');
  const lastColon = withoutDigest.lastIndexOf(':');
  // A colon before the last slash belongs to a registry port, not a tag.
  return lastColon > lastSlash ? withoutDigest.slice(0, lastColon) : withoutDigest;
}

export type ResolvedCommand = { file: string; args: string[]; env: Record<string, string> };

/**
 * The process a container runs, with Docker's entrypoint/cmd rules: the pod's `command` replaces the image's
 * command and args, the pod's `args` replace the image's args. `node` is the Node.js running the agent.
 * Returns undefined for an image the table does not know.
 */
export function resolveCommand(
  table: ImageTable,
  container: { image?: string; command?: string[]; args?: string[] },
): ResolvedCommand | undefined {
  const entry = table[imageRepository(container.image ?? '')];
  if (!entry) return undefined;
  const argv = container.command?.length
    ? [...container.command, ...(container.args ?? [])]
    : [...entry.command, ...(container.args?.length ? container.args : entry.args)];
  const [first = '', ...rest] = argv;
  return { file: first === 'node' ? process.execPath : first, args: rest, env: entry.env };
}

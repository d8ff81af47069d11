// Turns the environment a deployment gives a function into one the function's own config loader can read here:
// every *_FILE variable is pointed at a temporary file standing in for the mounted Secret.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface LocalEnv {
  env: Record<string, string>;
  /** The mounted paths the *_FILE variables named. */
  secretPaths: string[];
  cleanup: () => void;
}

export function withLocalSecretFiles(env: Record<string, string | number | boolean>): LocalEnv {
  const dir = mkdtempSync(join(tmpdir(), 'selfheal-secrets-'));
  const local: Record<string, string> = {};
  const secretPaths: string[] = [];
  for (const [key, value] of Object.entries(env)) {
    if (!key.endsWith('_FILE')) {
      local[key] = String(value);
      continue;
    }
    const file = join(dir, key);
    writeFileSync(file, `token-for-${key}\n`);
    local[key] = file;
    secretPaths.push(String(value));
  }
  return { env: local, secretPaths, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

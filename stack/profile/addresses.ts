// Addresses and files handed in for a local run, checked before they are written into a configuration.
import { resolve } from 'node:path';

export function checkUrl(text: string, what: string, protocols: readonly string[]): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new Error(`${what} "${text}" is not a URL`);
  }
  if (!protocols.includes(url.protocol)) {
    throw new Error(`${what} "${text}" must start with ${protocols.map((p) => `${p}//`).join(' or ')}`);
  }
  return url;
}

export function checkFile(path: string, what: string): string {
  if (!path) throw new Error(`${what} is empty`);
  return resolve(path);
}

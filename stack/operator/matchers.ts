// Alertmanager route matchers (`action=~".+"`) as prometheus-operator's AlertmanagerConfig matchers.

export type MatchType = '=' | '!=' | '=~' | '!~';

export interface OperatorMatcher {
  name: string;
  matchType: MatchType;
  value: string;
}

// A label name, an operator, and a value that is either double-quoted (with \" and \\ escapes) or bare.
const MATCHER = /^\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*(?:"((?:[^"\\]|\\.)*)"|([^"\s,{}]*))\s*$/;

/** One matcher of a route's `matchers` list; throws on anything else. */
export function parseMatcher(text: string): OperatorMatcher {
  const match = MATCHER.exec(text);
  if (!match) throw new Error(`"${text}" is not an Alertmanager matcher such as action=~".+"`);
  const [, name, matchType, quoted, bare] = match;
  const value = quoted !== undefined ? quoted.replace(/\\(.)/g, '$1') : (bare ?? '');
  return { name: name as string, matchType: matchType as MatchType, value };
}

/**
 * Reads `iptables-save` output. Rules are normalised (packet counters and `-m comment` dropped,
 * whitespace collapsed) so they compare with the rules meshlet renders; each rule also keeps its
 * saved spec verbatim, which is what a `-D CHAIN spec` line needs to delete it.
 */

/** One rule of a saved table. */
export interface SavedRule {
  readonly chain: string;
  /** 1-based position in its chain (what `-I CHAIN N` takes). */
  readonly position: number;
  /** The rule after `-A CHAIN `, as saved (comments included): valid after `-D CHAIN `. */
  readonly spec: string;
  /** `-A CHAIN ...` without counters and comments, single-spaced. */
  readonly normalized: string;
  /** The chain or target after `-j` / `-g`, when there is one. */
  readonly target?: string;
}

/** One table of `iptables-save` output. */
export interface SavedTable {
  /** False when the output held no such table (then everything else is empty). */
  readonly found: boolean;
  /** Declared chain names, in save order. */
  readonly chains: readonly string[];
  /** Rules per chain, in chain order; chains without rules are absent. */
  readonly rules: ReadonlyMap<string, readonly SavedRule[]>;
}

/** Parses the `*table` section (default `nat`) of `iptables-save` output. */
export function parseSave(text: string, table = 'nat'): SavedTable {
  const chains: string[] = [];
  const rules = new Map<string, SavedRule[]>();
  let inTable = false;
  let found = false;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    if (line.startsWith('*')) {
      inTable = line.slice(1) === table;
      found ||= inTable;
      continue;
    }
    if (!inTable) continue;
    if (line === 'COMMIT') {
      inTable = false;
    } else if (line.startsWith(':')) {
      chains.push(line.slice(1).split(/\s+/)[0] ?? '');
    } else {
      const rule = parseRuleLine(line);
      if (rule === undefined) continue;
      const inChain = rules.get(rule.chain) ?? [];
      inChain.push({ ...rule, position: inChain.length + 1 });
      rules.set(rule.chain, inChain);
    }
  }
  return { found, chains, rules };
}

function parseRuleLine(line: string): Omit<SavedRule, 'position'> | undefined {
  const body = line.replace(/^\[\d+:\d+\]\s+/, '');
  const match = /^-A\s+(\S+)\s*(.*)$/.exec(body);
  if (match === null) return undefined;
  const chain = match[1] ?? '';
  const spec = match[2] ?? '';
  const tokens = stripComments(tokenize(spec));
  const targetAt = tokens.findIndex((tok) => tok === '-j' || tok === '-g');
  const target = targetAt >= 0 ? tokens[targetAt + 1] : undefined;
  const rule = {
    chain,
    spec,
    normalized: ['-A', chain, ...tokens].join(' '),
  };
  return target === undefined ? rule : { ...rule, target };
}

/**
 * Splits a rule into its tokens, keeping each token's text as written: a double-quoted token
 * (with backslash escapes, as iptables-save writes comments) stays one token, quotes included.
 */
export function tokenize(spec: string): string[] {
  const tokens: string[] = [];
  let current = '';
  let quoted = false;
  for (let i = 0; i < spec.length; i += 1) {
    const ch = spec[i] ?? '';
    if (quoted && ch === '\\' && i + 1 < spec.length) {
      current += ch + (spec[i + 1] ?? '');
      i += 1;
    } else if (ch === '"') {
      quoted = !quoted;
      current += ch;
    } else if (!quoted && /\s/.test(ch)) {
      if (current !== '') tokens.push(current);
      current = '';
    } else {
      current += ch;
    }
  }
  if (current !== '') tokens.push(current);
  return tokens;
}

/** Drops `-m comment` and every `--comment X` pair: comments never change what a rule does. */
function stripComments(tokens: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < tokens.length; i += 1) {
    const tok = tokens[i];
    if (tok === '-m' && tokens[i + 1] === 'comment') i += 1;
    else if (tok === '--comment') i += 1;
    else if (tok !== undefined) out.push(tok);
  }
  return out;
}

/**
 * `iptables-save` output reduced to what the kernel does: comment and header lines (they carry
 * timestamps) dropped, counters dropped from chain policies and rules, trailing spaces trimmed.
 * Two snapshots of the same rules compare equal as strings.
 */
export function normalizeSaveText(text: string): string {
  const lines: string[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    lines.push(line.replace(/^\[\d+:\d+\]\s+/, '').replace(/^(:\S+\s+\S+)\s+\[\d+:\d+\]$/, '$1'));
  }
  return lines.join('\n');
}

/**
 * Regular expressions from configuration (route matches) run against every request the agent
 * proxies, on attacker-chosen input (paths, headers). JavaScript's engine backtracks, so a
 * pattern such as `(a+)+$` takes exponential time on `aaaa…b`: a route could stall the data
 * path. Envoy avoids this with RE2; meshlet refuses what makes backtracking explode and what
 * RE2 refuses too: a repeated group holding a quantifier or an alternation (`(a+)+`,
 * `(a|aa)+`: a character class or a bounded count says the same safely), backreferences and
 * lookaround. Conservative: some harmless patterns such as `(foo|bar)+` are refused too.
 */

/** Longest pattern accepted: the Gateway API's own cap on a path match value. */
export const MAX_REGEX_CHARS = 1024;

/** How a quantifier at `i` repeats: 'unbounded' (`*`, `+`, `{n,}`), 'bounded' (`?`, `{n}`, `{n,m}`) or none. */
function quantifierAt(p: string, i: number): { kind: 'unbounded' | 'bounded'; end: number } | undefined {
  const c = p[i];
  if (c === '*' || c === '+') return { kind: 'unbounded', end: i + 1 };
  if (c === '?') return { kind: 'bounded', end: i + 1 };
  if (c !== '{') return undefined;
  const m = /^\{(\d+)(,(\d*))?\}/.exec(p.slice(i));
  if (m === null) return undefined;
  const unbounded = m[2] !== undefined && (m[3] === undefined || m[3] === '');
  const many = m[2] !== undefined && !unbounded && Number(m[3]) > 1;
  return { kind: unbounded || many ? 'unbounded' : 'bounded', end: i + m[0].length };
}

/** The index after a character class that opens at `i` (`[...]`, escapes inside skipped). */
function classEnd(p: string, i: number): number {
  let j = i + 1;
  if (p[j] === '^') j++;
  if (p[j] === ']') j++;
  for (; j < p.length; j++) {
    if (p[j] === '\\') j++;
    else if (p[j] === ']') return j + 1;
  }
  return p.length;
}

/** Why a group structure can backtrack exponentially, or undefined. */
function nestedQuantifier(p: string): string | undefined {
  const stack: boolean[] = [false];
  for (let i = 0; i < p.length; ) {
    const c = p[i] as string;
    if (c === '\\') {
      if (/^\\([1-9]|k<)/.test(p.slice(i))) return 'backreferences are not allowed';
      i += 2;
    } else if (c === '[') {
      i = classEnd(p, i);
    } else if (c === '(') {
      if (/^\(\?(=|!|<=|<!)/.test(p.slice(i))) return 'lookahead and lookbehind are not allowed';
      stack.push(false);
      i++;
    } else if (c === ')') {
      const inner = stack.length > 1 ? (stack.pop() as boolean) : false;
      const q = quantifierAt(p, i + 1);
      if (inner && q?.kind === 'unbounded') {
        return `nested quantifiers or alternation in a repeated group (like "(a+)+" or "(a|aa)+") can take exponential time; near "${p.slice(0, q.end).slice(-30)}"`;
      }
      if (inner || q?.kind === 'unbounded') stack[stack.length - 1] = true;
      i = q === undefined ? i + 1 : q.end;
    } else if (c === '|') {
      // Overlapping alternatives repeated backtrack like a nested quantifier.
      stack[stack.length - 1] = true;
      i++;
    } else {
      const q = quantifierAt(p, i);
      if (q?.kind === 'unbounded') stack[stack.length - 1] = true;
      i = q === undefined ? i + 1 : q.end;
    }
  }
  return undefined;
}

/**
 * Why `pattern` may not be used as a route's regular expression (too long, does not compile,
 * or can backtrack exponentially), or undefined when it is safe.
 */
export function regexProblem(pattern: string): string | undefined {
  if (pattern.length > MAX_REGEX_CHARS) return `longer than ${MAX_REGEX_CHARS} characters (${pattern.length})`;
  try {
    new RegExp(pattern);
  } catch (err) {
    return `does not compile: ${(err as Error).message}`;
  }
  return nestedQuantifier(pattern);
}

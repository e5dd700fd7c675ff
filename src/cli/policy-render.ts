/**
 * `meshlet policy explain`'s table: for each destination workload, the verdict line first
 * (ALLOWED or DENIED, and by what), what was evaluated, then every policy that selects the
 * workload with a ✔ or ✖ per rule and, under a rule that did not match, the fields that failed:
 * the traffic's value against the policy's values. Pure text from an {@link ExplainResult}
 * (the same whether it was computed here or by the agent).
 */
import type { ExplainResult, ExplainTarget } from '../mesh/authz/explain-query.js';
import type { AuthzFieldTrace, AuthzPolicyTrace, AuthzRuleTrace, AuthzVerdict } from '../mesh/authz/types.js';
import { renderFields } from './table.js';

/** Policy values listed before "… and N more": a line a person reads, not a dump (`-o yaml` has all). */
const MAX_VALUES_SHOWN = 6;
/** The fields block holds sentences (notes, reasons): never cut, whatever the terminal. */
const FIELDS_WIDTH = Number.MAX_SAFE_INTEGER;

/** The whole answer as text, one block per destination workload. */
export function renderExplanation(result: ExplainResult): string {
  const blocks = result.targets.map((t) => renderTarget(result, t));
  if (result.targets.length > 1) {
    const denied = result.targets.filter((t) => !t.explanation.verdict.allowed).length;
    blocks.push(`${result.targets.length} destination workloads: ${result.targets.length - denied} allowed, ${denied} denied\n`);
  }
  return blocks.join('\n');
}

/** `ALLOWED by ALLOW demo/web rules[1]`, `DENIED by DENY ...`, or the reason when no rule decided. */
export function verdictLine(v: AuthzVerdict): string {
  const word = v.allowed ? 'ALLOWED' : 'DENIED';
  const by = v.decidedBy === undefined ? v.reason : `by ${v.decidedBy.action} ${v.decidedBy.policy} rules[${v.decidedBy.rule}]`;
  const deferred = v.deferred === true ? ' (for the connection: each request is evaluated again)' : '';
  return `${word}  ${by}${deferred}`;
}

function renderTarget(result: ExplainResult, t: ExplainTarget): string {
  const e = t.explanation;
  const s = result.source;
  const fields: Array<[string, string]> = [
    ['source', sourceText(result)],
    ['destination', `${t.workload} ${t.address}:${t.port}${t.service === undefined ? '' : ` (Service ${t.service}:${t.servicePort ?? ''})`} on ${t.node || '?'}`],
    ['evaluated', evaluated(t)],
  ];
  if (e.verdict.audits.length > 0) fields.push(['audit', e.verdict.audits.map((a) => `${a.policy} rules[${a.rule}]`).join(', ')]);
  for (const n of [...s.notes, ...t.notes]) fields.push(['note', n]);
  let out = `${verdictLine(e.verdict)}\n${renderFields(fields, { maxWidth: FIELDS_WIDTH }).replace(/^(?=.)/gm, '  ')}`;
  if (e.policies.length === 0) return `${out}  (no AuthorizationPolicy selects ${t.workload})\n`;
  out += '\n';
  for (const p of e.policies) out += renderPolicy(p);
  return out;
}

/** The query, then the identity and address it resolved to (each once). */
function sourceText(result: ExplainResult): string {
  const s = result.source;
  const parts = [s.query];
  if (s.identity === undefined) parts.push('no identity (plaintext)');
  else if (s.identity !== s.query) parts.push(s.identity);
  if (s.address !== undefined && s.address !== s.query) parts.push(s.address);
  return parts.join('  ');
}

/** The mode and, for a request, its method, path and host. */
function evaluated(t: ExplainTarget): string {
  const r = t.attributes.request;
  const what = r === undefined ? t.mode : `request ${r.method} ${r.path} host ${r.host}`;
  const headers = r === undefined ? '' : Object.entries(r.headers).map(([k, v]) => ` ${k}: ${String(v)}`).join(',');
  const sni = t.attributes.sni === undefined ? '' : ` sni ${t.attributes.sni}`;
  return `${what}${headers === '' ? '' : ` headers${headers}`}${sni} (port protocol ${t.protocol})`;
}

function renderPolicy(p: AuthzPolicyTrace): string {
  const outcome = p.matched ? `matched rules[${p.matchedRule ?? '?'}]` : p.rules.length === 0 ? 'no rules' : 'no rule matched';
  let out = `  ${p.action.padEnd(5)}  ${p.policy}  (${p.selectedBy}, ${p.apiVersion})  ${outcome}${p.note === undefined ? '' : `: ${p.note}`}\n`;
  for (const r of p.rules) out += renderRule(r);
  return out;
}

function renderRule(r: AuthzRuleTrace): string {
  let out = `    ${r.matched ? '✔' : '✖'} rules[${r.index}]\n`;
  // A matched rule's fields all matched, except L7 ones a connection mode could not know.
  for (const f of r.fields) if (f.matched !== true) out += `        ${renderField(r.index, f)}\n`;
  return out;
}

/** `✖ from[0].source.principals: spiffe://… vs [cluster.local/ns/a/sa/b]`. */
export function renderField(rule: number, f: AuthzFieldTrace): string {
  const mark = f.matched === 'unknown' ? '?' : '✖';
  const where = f.field.startsWith(`rules[${rule}].`) ? f.field.slice(`rules[${rule}].`.length) : f.field;
  const shown = f.values.slice(0, MAX_VALUES_SHOWN).map((v) => JSON.stringify(v));
  if (f.values.length > MAX_VALUES_SHOWN) shown.push(`… and ${f.values.length - MAX_VALUES_SHOWN} more`);
  const actual = f.actual === undefined ? '(none)' : JSON.stringify(f.actual);
  return `${mark} ${where}: ${actual} vs [${shown.join(', ')}]${f.note === undefined ? '' : `; ${f.note}`}`;
}

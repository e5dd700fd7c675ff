/**
 * The admin token of a node's agent, read inside its pod: `cat <token file>` in the agent
 * container through the Kubernetes exec API (client-node's `Exec`), which is what the docs
 * told operators to type by hand (`kubectl exec ... -- cat /run/meshlet/admin-token`). Whoever
 * may exec into the agent pod may read the token anyway; the CLI adds no new way in
 * (docs/sre-cli.md, "Trust"). The pod's answer is bounded and checked before it becomes an
 * HTTP header.
 */
import { Writable } from 'node:stream';
import { Exec, type KubeConfig, type V1Status } from '@kubernetes/client-node';
import type { AdminToken } from '../admin-client.js';
import { AGENT_CONTAINER, forbidden, nodeAgentError, type AgentPod } from './agent-pod.js';

/** The token is 64 hex characters; anything much longer is not a token file. */
const MAX_TOKEN_BYTES = 512;
/** A bearer token: visible ASCII without spaces (it goes into an HTTP header as it is). */
const TOKEN_SHAPE = /^[\x21-\x7e]+$/;
/** `cat` of a small file answers at once; 15 s covers a loaded kubelet and API server. */
const EXEC_TIMEOUT_MS = 15_000;

/**
 * Reads the admin token of the agent in `pod` (its `--admin-token-file`).
 * @throws MESHLET_ERR_NODE_AGENT: forbidden (pods/exec), the file unreadable, not a token, no answer.
 */
export async function readPodToken(kc: KubeConfig, pod: AgentPod): Promise<AdminToken> {
  const file = pod.admin.tokenFile;
  const where = `${pod.namespace}/${pod.name}:${file}`;
  const hint = 'pass --admin-token-file with a copy of the token to skip the exec';
  const out = bounded();
  const err = bounded();
  let status: V1Status | undefined;
  const done = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(nodeAgentError(`reading the admin token ${where}: no answer within ${EXEC_TIMEOUT_MS / 1000} s`)), EXEC_TIMEOUT_MS);
    new Exec(kc)
      .exec(pod.namespace, pod.name, AGENT_CONTAINER, ['cat', file], out.stream, err.stream, null, false, (s) => {
        status = s;
      })
      .then(
        (ws) => (ws as unknown as { on(e: 'close', f: () => void): unknown }).on('close', () => {
          clearTimeout(timer);
          resolve();
        }),
        (e: unknown) => {
          clearTimeout(timer);
          const message = (e as { message?: unknown } | null)?.message;
          if (typeof message === 'string' && /Unexpected server response: 403/.test(message)) reject(forbidden('create', 'pods/exec', `in namespace ${pod.namespace} (to read the admin token; ${hint})`, e));
          else reject(nodeAgentError(`reading the admin token ${where}: exec failed: ${typeof message === 'string' ? message : String(e)}`, e));
        },
      );
  });
  await done;
  if (status?.status !== 'Success') {
    const why = err.text().trim() || status?.message || 'the exec ended without a status';
    throw nodeAgentError(`reading the admin token ${where} failed: ${why} (${hint})`);
  }
  if (out.overflow) throw nodeAgentError(`${where} is larger than ${MAX_TOKEN_BYTES} bytes: not an admin token file`);
  const token = out.text().trim();
  if (token === '') throw nodeAgentError(`${where} is empty (the agent writes it at start: is it running with this --admin-token-file?)`);
  if (!TOKEN_SHAPE.test(token)) throw nodeAgentError(`${where} does not hold a token (not one word of visible ASCII)`);
  return { file: where, token };
}

/** A sink that keeps the first {@link MAX_TOKEN_BYTES} bytes and notes whether more came. */
function bounded(): { stream: Writable; text: () => string; overflow: boolean } {
  const chunks: Buffer[] = [];
  let size = 0;
  const sink = {
    overflow: false,
    text: (): string => Buffer.concat(chunks).toString('utf8'),
    stream: new Writable({
      write(chunk: Buffer, _enc, cb) {
        if (size + chunk.length > MAX_TOKEN_BYTES) sink.overflow = true;
        else chunks.push(chunk);
        size += chunk.length;
        cb();
      },
    }),
  };
  return sink;
}

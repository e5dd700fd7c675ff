/**
 * HAProxy configurations of the bench, rendered as text (pure):
 *
 * - the **pair**, HAProxy's version of meshlet's job in TCP mode: on node1 plaintext in,
 *   mutual TLS out; on node2 mutual TLS in, plaintext out to the server pod; `verify required`
 *   against the mesh CA on both sides, TLS version, cipher suite and key-exchange group pinned
 *   to what meshlet's tunnel negotiates;
 * - the **origin**: HAProxy in HTTP mode answering every request with a fixed body, the C
 *   HTTP server of the wrk scenarios (it runs in both server pods).
 *
 * Both proxies of the pair log one line per connection (`option tcplog`), as meshlet's agents
 * write one access-log line per connection: the same job includes the same bookkeeping.
 *
 * @module
 */

/** TLS parameters both proxies pin. */
export interface PinnedTls {
  /** OpenSSL name of the version, e.g. `TLSv1.3`. */
  readonly version: string;
  /** IANA/OpenSSL TLS 1.3 suite name, e.g. `TLS_AES_256_GCM_SHA384`. */
  readonly cipherSuite: string;
  /** Key-exchange group, e.g. `X25519` (pinned on the accepting side, which chooses). */
  readonly group: string;
}

/** One forwarded port of the pair. */
export interface PairPort {
  readonly name: string;
  /** Port the client dials on node1, and the server's port in the server pod. */
  readonly port: number;
  /** Port node2's HAProxy accepts TLS on. */
  readonly tlsPort: number;
}

/** Inputs of {@link renderPairConfig}. */
export interface PairConfigInput {
  readonly role: 'client-side' | 'server-side';
  readonly threads: number;
  readonly maxConnections: number;
  readonly tls: PinnedTls;
  readonly ports: readonly PairPort[];
  /** node1's address (client side binds it). */
  readonly frontAddress: string;
  /** node2's address (server side binds it, client side dials it). */
  readonly backAddress: string;
  /** Server pod address (server side dials it). */
  readonly serverAddress: string;
  /** PEM with this proxy's certificate chain and private key. */
  readonly certKeyFile: string;
  /** PEM of the mesh CA. */
  readonly caFile: string;
}

/**
 * The key-exchange group HAProxy can pin for `group`. Node.js 24's OpenSSL (3.5) negotiates
 * the hybrid post-quantum group X25519MLKEM768, which the HAProxy of the bench host (2.6 on
 * OpenSSL 3.0) does not know: it is pinned to X25519, the classical half of the hybrid. The
 * group costs only at the handshake (the record cipher is pinned the same), and the fixture
 * writes the difference into the report's notes. Node.js 22 (OpenSSL 3.5 too) negotiates the
 * same hybrid but names it `unknown` (`getEphemeralKeyInfo` knows no hybrid groups): pinned the
 * same way, since HAProxy refuses a curves list it cannot parse.
 */
export function haproxyGroup(group: string): string {
  if (group === 'unknown') return 'X25519';
  return /MLKEM/i.test(group) && /X25519/i.test(group) ? 'X25519' : group;
}

/** The `global` section: threads, connection cap, logging to stdout and, for the pair, the pinned TLS. */
export function globalSection(threads: number, maxConnections: number, tls: PinnedTls | undefined): string[] {
  const lines = [
    'global',
    `  nbthread ${threads}`,
    `  maxconn ${maxConnections}`,
    // stdout goes to a file the harness reads; no syslog daemon in a lab namespace.
    '  log stdout format raw local0',
  ];
  if (tls !== undefined) {
    const ver = `ssl-min-ver ${tls.version} ssl-max-ver ${tls.version}`;
    lines.push(
      `  ssl-default-bind-options ${ver}`,
      `  ssl-default-bind-ciphersuites ${tls.cipherSuite}`,
      `  ssl-default-bind-curves ${haproxyGroup(tls.group)}`,
      `  ssl-default-server-options ${ver}`,
      `  ssl-default-server-ciphersuites ${tls.cipherSuite}`,
    );
  }
  return lines;
}

/**
 * Timeouts: a minute of idleness before HAProxy closes a connection, longer than any bench
 * run holds one (meshlet has no idle timeout on application connections).
 */
const DEFAULTS_TCP = ['defaults', '  mode tcp', '  log global', '  option tcplog', '  timeout connect 5s', '  timeout client 60s', '  timeout server 60s'];

/** The configuration of one proxy of the HAProxy pair. */
export function renderPairConfig(input: PairConfigInput): string {
  const lines = [...globalSection(input.threads, input.maxConnections, input.tls), '', ...DEFAULTS_TCP, `  maxconn ${input.maxConnections}`];
  const tlsArgs = `ssl crt ${input.certKeyFile} ca-file ${input.caFile} verify required`;
  for (const p of input.ports) {
    lines.push('', `listen ${p.name}`);
    if (input.role === 'client-side') {
      lines.push(`  bind ${input.frontAddress}:${p.port}`, `  server peer ${input.backAddress}:${p.tlsPort} ${tlsArgs}`);
    } else {
      lines.push(`  bind ${input.backAddress}:${p.tlsPort} ${tlsArgs}`, `  server app ${input.serverAddress}:${p.port}`);
    }
  }
  return `${lines.join('\n')}\n`;
}

/** Inputs of {@link renderOriginConfig}. */
export interface OriginConfigInput {
  readonly port: number;
  /** A second port speaking HTTP/2 with prior knowledge (h2c), for the L7 scenarios' h2load. */
  readonly h2cPort?: number;
  /** File whose content is every answer's body. */
  readonly bodyFile: string;
  readonly maxConnections: number;
}

/**
 * HAProxy as an HTTP/1.1 origin (and h2c on `h2cPort`): one thread, keep-alive, every request
 * answered 200 with the body file; `Connection: close` requests get the answer and a close.
 */
export function renderOriginConfig(input: OriginConfigInput): string {
  return `${[
    ...globalSection(1, input.maxConnections, undefined),
    '',
    'defaults',
    '  mode http',
    '  timeout connect 5s',
    '  timeout client 60s',
    '  timeout server 60s',
    '  timeout http-request 10s',
    `  maxconn ${input.maxConnections}`,
    '',
    'frontend origin',
    `  bind :${input.port}`,
    ...(input.h2cPort === undefined ? [] : [`  bind :${input.h2cPort} proto h2`]),
    `  http-request return status 200 content-type text/plain file ${input.bodyFile}`,
  ].join('\n')}\n`;
}

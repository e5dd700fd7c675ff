/**
 * The **HAProxy HTTP pair**, HAProxy's version of meshlet's L7 job, rendered as text (pure):
 * on node1 HTTP/1.1 or h2c in (`mode http`), each request balanced on its own over the
 * server endpoints and sent as an HTTP/2 stream on a pooled mutual-TLS connection to node2's
 * HAProxy (`alpn h2`, `http-reuse always`: requests of many client connections share few
 * TLS connections, as meshlet's requests share one tunnel session); node2 ends the TLS and
 * sends each request to the server pod over kept-alive plaintext connections (HTTP/1.1, or
 * h2c for the h2c port). TLS as the TCP pair pins it (same certificates, version, suite,
 * group, `verify required` on both sides: `haproxy-config.ts`).
 *
 * The same bookkeeping as the agents at L7: one log line per request (`option httplog`),
 * `X-Forwarded-For` added (`option forwardfor`) and an `X-Request-ID` set on every request,
 * as meshlet sets `x-forwarded-for` and `x-request-id`.
 *
 * @module
 */

import { globalSection, type PinnedTls } from './haproxy-config.js';

/** One L7 port of the pair. */
export interface HttpPairPort {
  readonly name: string;
  /** Port the client dials on node1. */
  readonly frontPort: number;
  /** Port node2's HAProxy accepts the pair's TLS on. */
  readonly tlsPort: number;
  /** The server's port in the server pod. */
  readonly serverPort: number;
  /** What the client and the server speak on this port: HTTP/1.1, or HTTP/2 with prior knowledge. */
  readonly protocol: 'http1' | 'h2c';
}

/** Inputs of {@link renderHttpPairConfig}. */
export interface HttpPairConfigInput {
  readonly role: 'client-side' | 'server-side';
  readonly threads: number;
  readonly maxConnections: number;
  readonly tls: PinnedTls;
  readonly ports: readonly HttpPairPort[];
  /** node1's address (client side binds it). */
  readonly frontAddress: string;
  /** node2's address (server side binds it, client side dials it). */
  readonly backAddress: string;
  /** Server endpoints (server side balances over them per request). */
  readonly serverAddresses: readonly string[];
  /** PEM with this proxy's certificate chain and private key. */
  readonly certKeyFile: string;
  /** PEM of the mesh CA. */
  readonly caFile: string;
}

/**
 * Timeouts as the TCP pair's (a minute idle, longer than any run); `http-keep-alive` keeps a
 * client's idle connection between requests as long, as meshlet keeps it 120 s.
 */
const DEFAULTS_HTTP = [
  'defaults',
  '  mode http',
  '  log global',
  '  option httplog',
  '  timeout connect 5s',
  '  timeout client 60s',
  '  timeout server 60s',
  '  timeout http-request 60s',
  '  timeout http-keep-alive 60s',
];

/**
 * Per-request balancing (meshlet's default is least request with two choices; HAProxy's
 * `leastconn` counts a server's outstanding streams) and connection reuse across clients
 * (`always`: any idle or multiplexed server connection serves any request, as meshlet's
 * pooled tunnel session and upstream pools do).
 */
const BACKEND_COMMON = ['  balance leastconn', '  http-reuse always'];

function clientSide(input: HttpPairConfigInput, p: HttpPairPort, tlsArgs: string): string[] {
  return [
    '',
    `frontend ${p.name}`,
    `  bind ${input.frontAddress}:${p.frontPort}${p.protocol === 'h2c' ? ' proto h2' : ''}`,
    '  option forwardfor',
    // An HTTP/2 response has no reason phrase; HAProxy sends `HTTP/1.1 200 ` and h2load's
    // HTTP/1.1 parser counts that as a failed request (wrk and curl take it). Every answer of
    // the origin is 200, so naming it costs one rule per response.
    ...(p.protocol === 'http1' ? ['  http-response set-status 200 reason OK if { status 200 }'] : []),
    '  unique-id-format %{+X}o\\ %ci:%cp_%fi:%fp_%Ts_%rt:%pid',
    '  unique-id-header X-Request-ID',
    `  default_backend ${p.name}-peer`,
    '',
    `backend ${p.name}-peer`,
    ...BACKEND_COMMON,
    // HTTP/2 over mTLS between the proxies whatever the client spoke: many requests per TLS connection.
    `  server peer ${input.backAddress}:${p.tlsPort} ${tlsArgs} alpn h2`,
  ];
}

function serverSide(input: HttpPairConfigInput, p: HttpPairPort, tlsArgs: string): string[] {
  const servers = input.serverAddresses.map((a, i) => `  server app${i + 1} ${a}:${p.serverPort}${p.protocol === 'h2c' ? ' proto h2' : ''}`);
  return ['', `frontend ${p.name}`, `  bind ${input.backAddress}:${p.tlsPort} ${tlsArgs} alpn h2,http/1.1`, `  default_backend ${p.name}-app`, '', `backend ${p.name}-app`, ...BACKEND_COMMON, ...servers];
}

/** The configuration of one proxy of the HAProxy HTTP pair. */
export function renderHttpPairConfig(input: HttpPairConfigInput): string {
  const lines = [...globalSection(input.threads, input.maxConnections, input.tls), '', ...DEFAULTS_HTTP, `  maxconn ${input.maxConnections}`];
  const tlsArgs = `ssl crt ${input.certKeyFile} ca-file ${input.caFile} verify required`;
  for (const p of input.ports) lines.push(...(input.role === 'client-side' ? clientSide(input, p, tlsArgs) : serverSide(input, p, tlsArgs)));
  return `${lines.join('\n')}\n`;
}

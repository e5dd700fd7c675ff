/**
 * CONNECT requests at the tunnel server: the `:authority` a peer sends (`parseAuthority`) and
 * the `Forwarded` header it may add (`forwardedFor`, for the access log). Both read bytes an
 * authenticated but untrusted peer chose.
 */
import fc from 'fast-check';
import { isIP } from 'node:net';
import { forwardedFor, hostPort, parseAuthority } from '../../../src/mesh/address.js';
import { textCodec, typedValueCodec } from '../corpus.js';
import { holds, noThrow, same } from '../expect.js';
import { property, type FuzzTarget } from '../fuzz-property.js';

/** The characters an authority is made of, and a few it must refuse. */
const AUTHORITY_TOKENS = ['[', ']', ':', '.', '::', '%', '0', '1', '9', 'f', 'F', 'ffff', '127', '255', '256', '65535', '65536', '00080', ' ', '\t', 'x', '@', '/', '#', '\u0000', '١'];

function port(): fc.Arbitrary<number> {
  return fc.oneof(fc.integer({ min: 1, max: 65535 }), fc.constantFrom(1, 80, 443, 15000, 15008, 65535));
}

function anyPortText(): fc.Arbitrary<string> {
  return fc.oneof(port().map(String), fc.constantFrom('0', '65536', '99999', '-1', '', '1e3', '0x50', '080', '+80', ' 80'), fc.string({ maxLength: 6 }));
}

function ip(): fc.Arbitrary<string> {
  return fc.oneof(fc.ipV4(), fc.ipV6(), fc.ipV4Extended(), fc.constantFrom('::', '::1', '::ffff:127.0.0.1', '0.0.0.0', '127.0.0.1', '169.254.169.254'));
}

/** Authorities from their parts, valid or nearly so, and free text. */
function authority(): fc.Arbitrary<string> {
  return fc.oneof(
    fc.tuple(ip(), anyPortText()).map(([a, p]) => `${a}:${p}`),
    fc.tuple(ip(), anyPortText()).map(([a, p]) => `[${a}]:${p}`),
    fc.tuple(fc.array(fc.constantFrom(...AUTHORITY_TOKENS), { maxLength: 16 })).map(([parts]) => parts.join('')),
    fc.string({ maxLength: 64 }),
    fc.string({ unit: 'binary', maxLength: 32 }),
  );
}

function checkAuthority(input: string): void {
  const target = noThrow(() => parseAuthority(input), 'parseAuthority');
  if (target === undefined) return;
  holds(isIP(target.address) !== 0, `parseAuthority(${JSON.stringify(input)}) gave address ${JSON.stringify(target.address)}, which is not an IP address`);
  holds(Number.isInteger(target.port) && target.port >= 1 && target.port <= 65535, `port ${target.port} out of range`);
  same(parseAuthority(hostPort(target.address, target.port)), target, 'the authority of a parsed target parses to itself');
}

function checkRoundTrip([address, p]: readonly [string, number]): void {
  same(parseAuthority(hostPort(address, p)), { address, port: p }, `parseAuthority(hostPort(${address}, ${p}))`);
  // The outbound side sends `for="<source>"`; the inbound side logs what it reads back.
  same(forwardedFor(`for="${hostPort(address, p)}"`), hostPort(address, p), 'forwardedFor reads back what outbound wrote');
}

/** The characters `forwardedFor` may return. */
const FORWARDED_RESULT = /^[0-9a-fA-F.:[\]]+$/;

function forwardedHeader(): fc.Arbitrary<string | string[] | undefined> {
  const one = fc.oneof(
    fc.tuple(ip(), port()).map(([a, p]) => `for="${hostPort(a, p)}"`),
    fc.tuple(fc.constantFrom('for=', 'For=', ';for=', ', for=', 'by=', 'proto=http;for='), fc.string({ maxLength: 40 })).map(([k, v]) => k + v),
    fc.string({ maxLength: 200 }),
  );
  return fc.oneof(one, fc.array(one, { maxLength: 3 }), fc.constant(undefined));
}

function checkForwarded(header: string | string[] | undefined): void {
  const value = noThrow(() => forwardedFor(header), 'forwardedFor');
  if (value === undefined) return;
  holds(FORWARDED_RESULT.test(value), `forwardedFor gave ${JSON.stringify(value)}`);
  holds(value.length <= 128, `forwardedFor gave ${value.length} characters`);
}

/** The tunnel server's CONNECT parsing. */
export function tunnelHeadersTarget(): FuzzTarget {
  return {
    name: 'tunnel-headers',
    description: 'CONNECT :authority (parseAuthority) and Forwarded (forwardedFor) at the tunnel server',
    properties: [
      property({
        name: 'authority',
        weight: 4,
        arbitrary: authority(),
        check: checkAuthority,
        codec: textCodec('.txt'),
        seeds: () => ['198.18.1.2:8080', '[2001:db8::1]:443', '[::ffff:198.18.1.2]:80'],
      }),
      property({
        name: 'authority-round-trip',
        weight: 2,
        arbitrary: fc.tuple(ip().filter((a) => isIP(a) !== 0), port()),
        check: checkRoundTrip,
        codec: typedValueCodec<readonly [string, number]>(),
        seeds: () => [['198.18.1.2', 8080] as const, ['2001:db8::1', 443] as const],
      }),
      property({
        name: 'forwarded',
        weight: 2,
        arbitrary: forwardedHeader(),
        check: checkForwarded,
        codec: typedValueCodec<string | string[] | undefined>(),
        seeds: () => ['for="198.18.1.2:40000"', 'for="[2001:db8::1]:40000"'],
      }),
    ],
  };
}

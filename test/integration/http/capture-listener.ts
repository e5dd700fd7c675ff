/**
 * The capture listener of the in-process HTTP rigs: a loopback server that hands each accepted
 * socket, paused, to the outbound proxy, as the iptables capture does in a node. Closed (with
 * `alsoDestroy`, e.g. the L7 layer) when the test ends.
 */
import { once } from 'node:events';
import net, { type AddressInfo, type Socket } from 'node:net';
import type { OutboundProxy } from '../../../src/agent/proxy/outbound.js';

/** Starts the listener; resolves with its port. */
export async function captureListener(t: { teardown(fn: () => void): void }, outbound: OutboundProxy, alsoDestroy?: { destroy(): void }): Promise<number> {
  const capture = net.createServer({ pauseOnConnect: true, allowHalfOpen: true }, (s: Socket) => outbound.onConnection(s));
  capture.listen(0, '127.0.0.1');
  await once(capture, 'listening');
  t.teardown(() => {
    alsoDestroy?.destroy();
    capture.close();
  });
  return (capture.address() as AddressInfo).port;
}

/**
 * A stand-in worker for worker-pool tests: answers `init` with malformed messages first, then
 * a well-formed `bound`, and exits on `destroy`. Not a test itself (no `.test` in its name).
 */
const send = (m: unknown): void => void process.send?.(m);
process.on('message', (msg: { type?: string }) => {
  if (msg.type === 'init') {
    send('not an object');
    send({ type: 'bound', outbound: 'x' });
    send({ type: 'need-credentials', id: -1, identity: 'a' });
    send({ type: 'need-credentials', id: 1 });
    send({ type: 'answer', id: 'x' });
    send({ type: 'launch-missiles' });
    const a = { address: '127.0.0.1', family: 'IPv4', port: 1 };
    send({ type: 'bound', outbound: [a], inbound: [a], tunnel: a });
  } else if (msg.type === 'destroy' || msg.type === 'drain') {
    process.send?.({ type: 'drained', drained: 0, forced: false }, () => process.exit(0));
  }
});
process.on('disconnect', () => process.exit(1));

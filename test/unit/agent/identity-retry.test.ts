/**
 * Issue 9, finding 10: while the signer (the controller) fails, an identity's issuance retries
 * with a growing, jittered backoff and one RSA key, reused by every retry until it is issued;
 * callers asking in between are answered at once, without a signing call.
 */
import t from 'tap';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { IdentityManager, type CertificateSigner } from '../../../src/agent/identity/manager.js';
import { isMeshletError } from '../../../src/mesh/errors.js';
import { newCa } from '../ca/ca-fixture.js';
import { captureLogs } from '../controller/auth/auth-fixtures.js';
import { waitFor } from '../../helpers/wait-for.js';

const ID = 'spiffe://cluster.local/ns/demo/sa/web';

/** A signer that fails while `down`, recording every CSR it was sent. */
async function flakySigner(t: { teardown(fn: () => unknown): void }): Promise<CertificateSigner & { down: boolean; csrs: string[] }> {
  const ca = await newCa(t);
  const signer = {
    down: true,
    csrs: [] as string[],
    async sign(csrPem: string, identity: string) {
      signer.csrs.push(csrPem);
      if (signer.down) throw new Error('connect ECONNREFUSED 127.0.0.1:15012');
      return { chainPem: ca.sign(csrPem, { identity }).chainPem, trustBundlePem: ca.trustBundlePem };
    },
  };
  return signer;
}

t.test('retries back off, jittered, up to the ceiling, with one key; the retry that works uses it', async (t) => {
  const signer = await flakySigner(t);
  const logs = captureLogs();
  // random 0.5: each delay is 3/4 of its base, so the sequence is exact.
  const issuedKeys: string[] = [];
  const ids = new IdentityManager({
    signer,
    logger: logs.logger,
    retryBackoff: { initialMs: 20, maxMs: 160, random: () => 0.5 },
    onIssued: (_creds, keyPem) => issuedKeys.push(keyPem),
  });
  t.teardown(() => ids.close());
  await t.rejects(ids.reconcile(new Set([ID])), /ECONNREFUSED/);
  await waitFor('seven failed attempts', () => signer.csrs.length >= 7, { timeoutMs: 30_000 });
  signer.down = false;
  await waitFor('the certificate', () => ids.get(ID) !== undefined, { timeoutMs: 30_000 });

  const delays = logs.lines.filter((l) => l['msg'] === 'certificate not issued; retrying with backoff').map((l) => l['retryInMs']);
  t.same(delays.slice(0, 7), [15, 30, 60, 120, 120, 120, 120], 'doubling from 15 ms to the 120 ms ceiling (3/4 of 20..160)');
  t.equal(ids.keysGenerated, 1, 'one RSA key for every attempt');
  t.equal(new Set(signer.csrs).size, 1, 'the same CSR every time');
  t.equal(ids.failures, signer.csrs.length - 1, 'every attempt but the last failed');
  t.equal(issuedKeys.length, 1);
  const cert = new X509Certificate(ids.get(ID)?.chainPem ?? '');
  t.equal(cert.checkPrivateKey(createPrivateKey(issuedKeys[0] ?? '')), true, 'the certificate is for the one key');
});

t.test('between attempts, ensure() answers at once with the last failure and calls nobody', async (t) => {
  const signer = await flakySigner(t);
  const logs = captureLogs();
  const ids = new IdentityManager({ signer, logger: logs.logger, retryBackoff: { initialMs: 60_000, maxMs: 60_000, random: () => 0 } });
  t.teardown(() => ids.close());
  await t.rejects(ids.ensure(ID), /ECONNREFUSED/);
  for (let i = 0; i < 100; i++) {
    const err = await ids.ensure(ID).then(() => undefined, (e: unknown) => e);
    if (!isMeshletError(err, 'MESHLET_ERR_CERT') || !/next attempt in \d+ ms/.test(err.message)) {
      t.fail(`call ${i}: expected a MESHLET_ERR_CERT naming the next attempt, got ${String(err)}`);
      break;
    }
  }
  t.equal(signer.csrs.length, 1, 'one signing call for 101 asks');
  t.equal(ids.keysGenerated, 1);
});

t.test('a renewal makes a new key once, then reuses it across its own retries', async (t) => {
  const signer = await flakySigner(t);
  signer.down = false;
  const logs = captureLogs();
  const ids = new IdentityManager({ signer, logger: logs.logger, retryBackoff: { initialMs: 10, maxMs: 40, random: () => 0.5 } });
  t.teardown(() => ids.close());
  await ids.reconcile(new Set([ID]));
  t.equal(ids.keysGenerated, 1);
  // Renew now, through the same path the half-life timer takes.
  signer.down = true;
  (ids as unknown as { setTimer(identity: string, ms: number): void }).setTimer(ID, 0);
  await waitFor('three failed renewals', () => signer.csrs.length >= 4, { timeoutMs: 30_000 });
  t.equal(ids.keysGenerated, 2, 'one new key for the renewal');
  t.equal(new Set(signer.csrs.slice(1)).size, 1, 'its retries send the same CSR');
  t.not(ids.get(ID), undefined, 'the current certificate stays in use meanwhile');
  signer.down = false;
  const before = ids.get(ID)?.serial;
  await waitFor('the renewed certificate', () => ids.get(ID)?.serial !== before, { timeoutMs: 30_000 });
  t.equal(ids.keysGenerated, 2);
});

t.test('retryFailedNow(): the signer is back, a failed issuance is tried at once, not after its backoff', async (t) => {
  const signer = await flakySigner(t);
  const logs = captureLogs();
  // A backoff the test would time out on: only retryFailedNow() can issue the certificate.
  const ids = new IdentityManager({ signer, logger: logs.logger, retryBackoff: { initialMs: 600_000, maxMs: 600_000, random: () => 0 } });
  t.teardown(() => ids.close());
  t.equal(ids.retryFailedNow(), 0, 'nothing failed yet: nothing to retry');
  await t.rejects(ids.reconcile(new Set([ID])), /ECONNREFUSED/);
  signer.down = false;
  t.equal(ids.retryFailedNow(), 1, 'the failed identity is tried again');
  t.equal(ids.retryFailedNow(), 0, 'an attempt under way is not started twice');
  await waitFor('the certificate', () => ids.get(ID) !== undefined, { timeoutMs: 30_000 });
  t.equal(signer.csrs.length, 2, 'one failed call, one that worked');
  t.equal(ids.keysGenerated, 1, 'the retry used the same key');
  t.equal(ids.retryFailedNow(), 0, 'issued: nothing to retry');
});

t.test('retryFailedNow() leaves an identity no longer wanted alone, and keeps the backoff when the signer fails again', async (t) => {
  const signer = await flakySigner(t);
  const logs = captureLogs();
  const ids = new IdentityManager({ signer, logger: logs.logger, retryBackoff: { initialMs: 600_000, maxMs: 600_000, random: () => 0 } });
  t.teardown(() => ids.close());
  await t.rejects(ids.reconcile(new Set([ID])), /ECONNREFUSED/);
  t.equal(ids.retryFailedNow(), 1);
  await waitFor('the second failure', () => ids.failures === 2, { timeoutMs: 30_000 });
  t.equal(signer.csrs.length, 2, 'still down: one more call, then the backoff holds');
  await ids.reconcile(new Set());
  t.equal(ids.retryFailedNow(), 0, 'a departed identity is not asked for');
  t.equal(signer.csrs.length, 2);
});

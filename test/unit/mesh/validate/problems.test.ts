import t from 'tap';
import { isMeshletError } from '../../../../src/mesh/errors.js';
import { DEFAULT_MAX_PROBLEMS, Problems } from '../../../../src/mesh/validate/problems.js';

t.test('lines are path: message; report renders a field path; setting shows the value', async (t) => {
  const p = new Problems();
  t.equal(p.empty, true);
  p.add('cluster.workloads[3].uid', 'must not be empty');
  p.report(['spec', 'ports', 1, 'name'], 'required');
  p.setting('--bind', 'nope', 'must be an IP address');
  t.same(p.lines, ['cluster.workloads[3].uid: must not be empty', 'spec.ports[1].name: required', '--bind="nope": must be an IP address']);
  t.equal(p.total, 3);
  t.equal(p.empty, false);
});

t.test('past the cap only the count grows, and the error says how many more', async (t) => {
  const p = new Problems(3);
  for (let i = 0; i < 10; i++) p.add(`f${i}`, 'bad');
  t.same(p.lines, ['f0: bad', 'f1: bad', 'f2: bad']);
  t.equal(p.total, 10);
  const err = p.toError('MESHLET_ERR_CONFIG_INVALID', 'invalid agent configuration');
  t.equal(err.code, 'MESHLET_ERR_CONFIG_INVALID');
  t.equal(err.message, 'invalid agent configuration:\n  f0: bad\n  f1: bad\n  f2: bad\n  ... and 7 more');
  t.same(err.details, ['f0: bad', 'f1: bad', 'f2: bad']);
});

t.test('the default cap holds an attacker-sized input to a bounded list', async (t) => {
  const p = new Problems();
  for (let i = 0; i < 100_000; i++) p.add(`items[${i}]`, 'bad');
  t.equal(p.lines.length, DEFAULT_MAX_PROBLEMS);
  t.equal(p.total, 100_000);
  t.match(p.toError('MESHLET_ERR_LAB', 'x').message, /\.\.\. and 99900 more$/);
});

t.test('throwIfAny throws only when something was recorded', async (t) => {
  const p = new Problems();
  p.throwIfAny('MESHLET_ERR_LAB', 'lab.yaml: invalid lab topology');
  p.report(['topology', 'name'], 'is required');
  let caught: unknown;
  try {
    p.throwIfAny('MESHLET_ERR_LAB', 'lab.yaml: invalid lab topology');
  } catch (err) {
    caught = err;
  }
  t.equal(isMeshletError(caught, 'MESHLET_ERR_LAB'), true);
  t.equal((caught as Error).message, 'lab.yaml: invalid lab topology:\n  topology.name: is required');
});

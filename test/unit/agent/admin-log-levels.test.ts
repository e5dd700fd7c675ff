/** LogLevels: component loggers kept, levels changed for all or one, bad input refused. */
import t from 'tap';
import { pino } from 'pino';
import { LogLevels } from '../../../src/agent/admin/log-levels.js';

t.test('levels change for all components or one, and children are made once', async (t) => {
  const levels = new LogLevels(pino({ level: 'info' }));
  const outbound = levels.child('outbound');
  t.equal(levels.child('outbound'), outbound, 'one child per component');
  levels.child('inbound');
  levels.set('debug');
  t.equal(levels.root.level, 'debug');
  t.equal(outbound.level, 'debug', 'an existing child follows a global change');
  levels.set('error', 'inbound');
  t.same(levels.levels(), { root: 'debug', components: { inbound: 'error', outbound: 'debug' } });
  t.equal(outbound.isLevelEnabled('debug'), true);
  t.equal(levels.child('inbound').isLevelEnabled('warn'), false);
});

t.test('an unknown level or component is refused and changes nothing', async (t) => {
  const levels = new LogLevels(pino({ level: 'info' }));
  levels.child('outbound');
  t.throws(() => levels.set('loud'), { code: 'MESHLET_ERR_CONFIG_INVALID', message: /level="loud"/ });
  t.throws(() => levels.set('debug', 'nope'), { code: 'MESHLET_ERR_CONFIG_INVALID', message: /component="nope".*known: outbound/ });
  t.same(levels.levels(), { root: 'info', components: { outbound: 'info' } });
});

/**
 * `/ui/tap.js`: the page's live feed, a `GET /tap` read with fetch() streaming, one NDJSON line
 * at a time. Bounded: the page keeps the last events only, a line longer than any event the
 * agent sends ends the stream, each stream lasts at most a few minutes and is then reopened
 * (with a growing pause after failures), and the stream closes when the page goes away.
 */
export const TAP_JS = String.raw`
import { AuthError, openStream } from '/ui/api.js';

/** The agent's longest event is a few KiB (strings capped at 2,048 characters). */
const MAX_LINE = 65536;
/** Each stream is reopened after this long: an agent restart or a lost stream shows within it. */
const STREAM_SECONDS = 300;
const RETRY_MIN_MS = 1000;
const RETRY_MAX_MS = 30000;

export class TapFeed {
  /**
   * onEvent(e) for each traffic event; onStatus(text, cls) for the stream's state;
   * onAuth(err) when the token is refused (the feed stops).
   */
  constructor(onEvent, onStatus, onAuth) {
    this.onEvent = onEvent;
    this.onStatus = onStatus;
    this.onAuth = onAuth;
    this.stopped = false;
    this.ctrl = undefined;
    this.dropped = 0;
  }

  start() { void this.loop(); }

  stop() {
    this.stopped = true;
    if (this.ctrl !== undefined) this.ctrl.abort();
  }

  async loop() {
    let retry = RETRY_MIN_MS;
    while (!this.stopped) {
      try {
        const ended = await this.once();
        if (ended) retry = RETRY_MIN_MS;
      } catch (err) {
        // Stopped: an answer that arrives late is of a token the page no longer uses.
        if (this.stopped) return;
        if (err instanceof AuthError) { this.stopped = true; this.onAuth(err); return; }
        this.onStatus('stream failed: ' + err.message + '; again in ' + Math.round(retry / 1000) + ' s', 'bad');
      }
      await new Promise((r) => setTimeout(r, retry));
      retry = Math.min(retry * 2, RETRY_MAX_MS);
    }
  }

  /** One stream, read to its end; true when it ended normally. */
  async once() {
    this.ctrl = new AbortController();
    const res = await openStream('tap', '?duration=' + STREAM_SECONDS, this.ctrl.signal);
    if (res.status === 429) throw new Error('the agent serves its maximum of tap streams');
    if (!res.ok || res.body === null) throw new Error('HTTP ' + res.status);
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let rest = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return true;
      rest += value;
      let nl;
      while ((nl = rest.indexOf('\n')) >= 0) {
        this.line(rest.slice(0, nl));
        rest = rest.slice(nl + 1);
      }
      if (rest.length > MAX_LINE) {
        this.ctrl.abort();
        throw new Error('a line longer than ' + MAX_LINE + ' characters');
      }
    }
  }

  line(text) {
    if (text.trim() === '') return;
    const e = JSON.parse(text);
    if (e.type === 'tap.start') this.onStatus('streaming from ' + e.processes + ' data-path process(es)', 'ok');
    else if (e.type === 'tap.end') this.onStatus('stream ended (' + e.reason + '), reopening', e.reason === 'duration' ? 'muted' : 'warn');
    else if (e.type === 'tap.dropped') {
      this.dropped += Number(e.count) || 0;
      this.onStatus('streaming; ' + this.dropped + ' event(s) dropped by the agent (rate cap)', 'warn');
    } else this.onEvent(e);
  }
}
`;

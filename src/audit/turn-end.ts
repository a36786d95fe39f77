// Work for the end of the current event-loop turn, after the poll phase has delivered every read
// of the turn: the store's write of the turn's records (store.ts). setImmediate does that, at
// the price of one more entry into JavaScript from the event loop per turn (about 1 µs). Under
// load the check phase already calls into JavaScript for each TLS write completion (TLSWrap
// finishes every write through a native immediate, which runs before the JavaScript ones), so
// the relay's completion handler (relay-leg.ts) runs the pending work there and cancels the
// immediate; with no such completion in the turn, the immediate runs it as before.

let pending: Array<() => void> = [];
let immediate: NodeJS.Immediate | null = null;
let carried = false; // a write completion has been asked to run the pending work
const enabled = process.env['PGSEAL_TURN_HOOK'] !== '0';

/** atTurnEnd runs fn once at the end of the current event-loop turn, after every callback already pending in this turn's poll phase. */
export function atTurnEnd(fn: () => void): void {
  pending.push(fn);
  if (immediate === null) {
    immediate = setImmediate(runPending);
    carried = enabled && carrierInFlight();
  }
}

let carrierInFlight: () => boolean = () => false;

/**
 * setCarrierSource lets the relay offer a write it already started this turn, whose completion
 * has not run yet, as the carrier of newly scheduled work; source returns true if it armed one.
 */
export function setCarrierSource(source: () => boolean): void {
  carrierInFlight = source;
}

/**
 * claimTurnEndCarrier tells a write whether its completion should run the pending end-of-turn
 * work (true at most once per pending turn-end): the relay reports most completions to
 * JavaScript only when it needs them (relay-leg.ts), so one write per turn is asked to.
 */
export function claimTurnEndCarrier(): boolean {
  if (immediate === null || carried || !enabled) return false;
  carried = true;
  return true;
}

/**
 * runTurnEndNow runs the pending end-of-turn work now. Call it only from a callback that runs
 * after the turn's reads (a write completion); one that arrives earlier (an asynchronous write
 * finishing in the poll phase) only makes the work run sooner, which costs batching, not order.
 */
export function runTurnEndNow(): void {
  if (immediate === null || !enabled) return;
  clearImmediate(immediate);
  runPending();
}

function runPending(): void {
  immediate = null;
  // Work scheduled while these run goes to a new immediate, or to the next completion that runs
  // the hook (possibly in the same check phase): later, never interleaved with these.
  const fns = pending;
  pending = [];
  callEach(fns, undefined);
}

/** callEach calls every fn with arg even if one throws; the first error is rethrown after all ran. */
export function callEach<T>(fns: ReadonlyArray<(arg: T) => void>, arg: T): void {
  let failure: { thrown: unknown } | null = null;
  for (const fn of fns) {
    try {
      fn(arg);
    } catch (thrown) {
      failure ??= { thrown };
    }
  }
  if (failure !== null) throw failure.thrown;
}

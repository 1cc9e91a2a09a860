// Every wait in the tests derives from one setting, so a slow or loaded machine needs one knob, not
// a hunt through files. Tests wait for states and events; these are only how long before they give up.

/** How long a test waits for any one state or event (a frame, a row, a page change): `TEST_WAIT_MS`, default 30 s. */
export const WAIT_MS = Number(process.env.TEST_WAIT_MS) || 30_000;

/** A test or a hook (starting a stack, several waits in a row). */
export const TEST_MS = 4 * WAIT_MS;

/**
 * A test that runs a whole measurement (the quick bench, a small soak): 15 min at the default, as the
 * quick bench alone took 4.5-5 min with the machine's load average at 15-20.
 */
export const LONG_TEST_MS = 30 * WAIT_MS;

/**
 * How much longer than its template Timeout a function of the chat app may run in a test (3x at the
 * default): the local runtime's Timeout runs on the wall clock, which a loaded machine stretches.
 */
export const FUNCTION_TIMEOUT_SCALE = WAIT_MS / 10_000;

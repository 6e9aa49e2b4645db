/**
 * Runs before every test file: after each test, one turn of the event loop. A file of synchronous
 * tests otherwise runs start to end without one (awaiting a test that returned yields only to
 * microtasks), and the test worker cannot read the runner's answers meanwhile: past 60 seconds its
 * calls to the runner time out, and the run fails with an error no test made.
 */
import { afterEach } from "vitest"

afterEach(() => new Promise<void>((resolve) => setImmediate(resolve)))

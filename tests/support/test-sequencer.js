// Longest files first, so that the two workers finish together instead of one running the quick bench
// alone at the end. Jest orders by the durations it cached from earlier runs, and by file size when it has
// none (a fresh clone): size says little here (the quick bench's file is small), so the files known to take
// longest start first, in this order, and jest's order follows for the rest.
const { relative } = require('node:path');
const Sequencer = require('@jest/test-sequencer').default;

/** The longest files, longest first (a fresh clone's `npm test`, 2026-11-28, load average 4-7). */
const LONGEST = [
  'tests/e2e/bench.test.ts',
  'tests/e2e/page-outbox.test.ts',
  'tests/e2e/fanout-scale.test.ts',
  'tests/e2e/browser.test.ts',
  'tests/e2e/chat-protocol.test.ts',
  'tests/integration/handlers.test.ts',
  'tests/e2e/sign-in.test.ts',
  'tests/e2e/load.test.ts',
  'tests/e2e/security.test.ts',
];

class LongestFirstSequencer extends Sequencer {
  sort(tests) {
    const rank = (test) => {
      const index = LONGEST.indexOf(relative(test.context.config.rootDir, test.path));
      return index === -1 ? LONGEST.length : index;
    };
    const ranks = new Map(tests.map((test) => [test, rank(test)]));
    const byJest = super.sort([...tests]);
    return byJest.sort((a, b) => ranks.get(a) - ranks.get(b));
  }
}

module.exports = LongestFirstSequencer;

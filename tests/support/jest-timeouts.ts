import { TEST_MS } from './timeouts';

// Every test file's default for tests and hooks (jest's own default, 5 s, is far too short here).
jest.setTimeout(TEST_MS);

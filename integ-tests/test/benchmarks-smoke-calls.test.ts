// Benchmarks of the calls shard at smoke size (integ-tests/src/bench-smoke.ts says how and why).
import { smokeCoverageTest, smokeTests } from '../src/bench-smoke.js';

smokeCoverageTest();
smokeTests('calls');

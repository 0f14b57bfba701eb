// Benchmarks of the ivr shard at smoke size (integ-tests/src/bench-smoke.ts says how and why).
import { smokeTests } from '../src/bench-smoke.js';

smokeTests('ivr');

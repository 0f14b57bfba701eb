/** `sipms`: the command line around placeCall (the bundle bin/sipms.mjs runs). */

import { FLAG_OF, parseArgs } from './args.js';
import { CallOptionsError } from './errors.js';
import { EXIT, exitCodeOf } from './exit-codes.js';
import { CALL_HELP, GENERAL_HELP, VERSION } from './help.js';
import { placeCall } from './place-call.js';
import { formatResult } from './report.js';

export interface Io {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  env: Readonly<Record<string, string | undefined>>;
}

const processIo: Io = {
  stdout: (t) => process.stdout.write(t),
  stderr: (t) => process.stderr.write(t),
  env: process.env,
};

/** Runs one command line; resolves with the exit code. */
export async function main(argv: readonly string[], io: Io = processIo): Promise<number> {
  let json = argv.includes('--json');
  try {
    const command = parseArgs(argv, io.env);
    if (command.kind === 'help') {
      io.stdout(command.topic === 'call' ? CALL_HELP : GENERAL_HELP);
      return EXIT.ok;
    }
    if (command.kind === 'version') {
      io.stdout(`${VERSION}\n`);
      return EXIT.ok;
    }
    json = command.json;
    // Ctrl-C (or a CI runner's SIGTERM) hangs the call up properly; a second one leaves at once.
    const abort = new AbortController();
    const onSignal = () => {
      if (abort.signal.aborted) process.exit(EXIT.interrupted);
      abort.abort();
    };
    process.on('SIGINT', onSignal).on('SIGTERM', onSignal);
    try {
      const result = await placeCall({ ...command.options, signal: abort.signal });
      io.stdout(json ? `${JSON.stringify(result, null, 2)}\n` : formatResult(result));
      return exitCodeOf(result, abort.signal.aborted);
    } finally {
      process.off('SIGINT', onSignal).off('SIGTERM', onSignal);
    }
  } catch (err) {
    if (err instanceof CallOptionsError) {
      const option = FLAG_OF[err.field] ?? err.field;
      io.stderr(`sipms: ${option}: ${err.reason}\n`);
      if (json) io.stdout(`${JSON.stringify({ error: { code: 'bad_option', option, message: err.reason } })}\n`);
      return EXIT.usage;
    }
    io.stderr(`sipms: ${(err as Error).stack ?? String(err)}\n`);
    if (json) io.stdout(`${JSON.stringify({ error: { code: 'failed', message: (err as Error).message } })}\n`);
    return EXIT.failed;
  }
}

/** The texts of `sipms --help` and `sipms call --help`. */

export const VERSION = '0.1.0';

export const GENERAL_HELP = `sipms ${VERSION}: call your SIP Mediaserver voice app from a terminal or a CI job

Usage:
  sipms call <number-or-sip-uri> [options]   place a real SIP call and print its outcome and callbacks
  sipms call --help                          the options of a call
  sipms --version

Example:
  sipms call +4930123456 --dtmf "1@2s,23#@5.5s" --record heard.wav \\
    --api-url http://127.0.0.1:8080 --api-key "$SIPMS_API_KEY"
`;

export const CALL_HELP = `Usage: sipms call <number-or-sip-uri> [options]

Calls a number (or SIP user part) of your tenant, or a SIP URI, through the deployment's SIP server, sends
the keys and audio you ask for, records what it hears, hangs up, and prints the result and (with an API
URL and key) the call's callbacks from the session journal.

Options:
  --server host[:port]    SIP address of the deployment (default 127.0.0.1:5060; env SIPMS_SIP_SERVER).
                          Every request goes there; a number is called as sip:<number>@<server>.
  --transport udp|tcp     SIP transport (default udp)
  --from <uri|user>       the caller, a SIP URI or a user name (default sip:sipms-cli@<local address>)
  --dtmf "1@2s,23#@5.5s"  keys to press, each group at a time after the answer, sent as RFC 4733
                          events (100 ms per key, 100 ms apart); may be given more than once
  --play file.wav         audio to send from the answer on (any PCM/float/G.711 WAV; sent as PCMU 8 kHz)
  --record out.wav        write what the caller hears (8 kHz mono 16-bit WAV) from the answer on
  --hangup-after 10s      hang up this long after the answer (default 30s); the far end may hang up first
  --ring-timeout 30s      give up (CANCEL) without a final response after this long (default 30s)
  --api-url <url>         the control-plane API (env SIPMS_API_URL), with --api-key (env SIPMS_API_KEY):
  --api-key <key>         print the call's session journal as a timeline (found by its SIP Call-ID)
  --journal-timeout 10s   how long to wait for the journal to be complete (default 10s)
  --json                  print the result as one JSON object (stdout) instead of text
  -h, --help              this text

Durations: 10s, 5.5s, 500ms, 2m; a bare number is seconds.

Exit codes:
  0    answered, and ended normally (the far end hung up, or --hangup-after)
  1    the answered call ended abnormally (session timer, far end unreachable), or an unexpected error
  2    bad options (the error names the option); nothing was sent
  3    rejected with a SIP error response (4xx/5xx/6xx); the status is printed
  4    not answered within --ring-timeout, or no response from the server at all
  5    the server could not be reached (connection refused, network error)
  6    --api-url/--api-key given, but the call's journal could not be read
  130  interrupted (Ctrl-C): the call was hung up or cancelled
`;

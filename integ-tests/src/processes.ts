import { readdirSync, readFileSync } from 'node:fs';

/** One line of /proc/<pid>/stat, the fields tests and benchmarks use. */
export interface ProcStat {
  pid: number;
  ppid: number;
  comm: string;
  /** Start time since boot (ticks): with the pid, tells a process from a later one with the same pid. */
  start: number;
  /** utime + stime (ticks). */
  ticks: number;
  /** cutime + cstime: children this process has waited for (ticks). */
  childTicks: number;
}

function exitedMeanwhile(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  return code === 'ENOENT' || code === 'ESRCH';
}

/** /proc/<pid>/stat, or undefined when the process is gone. */
export function readStat(pid: number): ProcStat | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch (err) {
    if (exitedMeanwhile(err)) return undefined; // exited between the listing and the read
    throw err;
  }
  // comm is in parentheses and may hold spaces: the fields after the last ')' start with field 3 (state).
  const close = text.lastIndexOf(')');
  const f = text
    .slice(close + 2)
    .trim()
    .split(' ');
  const n = (field: number) => Number(f[field - 3]);
  return {
    pid,
    ppid: n(4),
    comm: text.slice(text.indexOf('(') + 1, close),
    start: n(22),
    ticks: n(14) + n(15),
    childTicks: n(16) + n(17),
  };
}

/** The process's command line with spaces between its arguments, or '' when it is gone. */
export function readCmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
  } catch (err) {
    if (exitedMeanwhile(err)) return '';
    throw err;
  }
}

/** Every process on the machine now. */
export function allProcesses(): ProcStat[] {
  const out: ProcStat[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const st = readStat(Number(name));
    if (st) out.push(st);
  }
  return out;
}

/** The direct children of `parent`, with their command lines. */
export function childrenOf(parent: number): { pid: number; cmdline: string }[] {
  return allProcesses()
    .filter((p) => p.ppid === parent)
    .map((p) => ({ pid: p.pid, cmdline: readCmdline(p.pid) }));
}

/**
 * CPU ticks (utime + stime) of the media node processes and rtpengine under `root` (this process by default):
 * a benchmark counts its own stack, not another stack running on the machine.
 */
export function stackCpuTicks(root = process.pid): { media: number; rtpengine: number } {
  const out = { media: 0, rtpengine: 0 };
  const processes = allProcesses();
  const mine = new Set([root]);
  // Parents come before their children often but not always: repeat until no process joins.
  for (let grew = true; grew; ) {
    grew = false;
    for (const st of processes) {
      if (!mine.has(st.pid) && mine.has(st.ppid)) {
        mine.add(st.pid);
        grew = true;
      }
    }
  }
  for (const st of processes) {
    if (!mine.has(st.pid)) continue;
    if (st.comm === 'rtpengine') out.rtpengine += st.ticks;
    else if (/media-node\/main\.mjs|media-node\/src\/main\.ts/.test(readCmdline(st.pid))) out.media += st.ticks;
  }
  return out;
}

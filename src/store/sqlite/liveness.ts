/**
 * Proof that the process which leased operations on a shared SQLite file is gone: the same host, and no
 * process with its pid, or one that started at another time (the pid was reused, as it is for pid 1 when a
 * container restarts). Anything it can't prove (another host, no /proc) counts as alive: the lease then
 * runs out as before, which is slow but never runs a live worker's operation twice.
 */
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';

export interface ProcessIdentity {
  host: string;
  pid: number;
  /** Start time in clock ticks since boot (/proc/<pid>/stat field 22); null where there is no /proc. */
  start: string | null;
}

export function thisProcess(): ProcessIdentity {
  return { host: hostname(), pid: process.pid, start: processStart(process.pid) };
}

/** Field 22 of /proc/<pid>/stat; the command name (field 2) may hold spaces and ')', so count from the last ')'. */
export function processStart(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[19] ?? null; // field 3 is fields[0]
  } catch {
    return null;
  }
}

export function provenDead(id: ProcessIdentity): boolean {
  if (id.host !== hostname()) return false;
  try {
    process.kill(id.pid, 0); // signal 0: only checks that the process exists
  } catch (error) {
    // EPERM: it exists (another user's). ESRCH: no such process.
    if ((error as NodeJS.ErrnoException).code === 'ESRCH') return true;
  }
  if (id.start === null) return false;
  const now = processStart(id.pid);
  return now !== null && now !== id.start;
}

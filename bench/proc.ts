/** A process's CPU time from /proc (Linux): what bench/cpu.ts and bench/run.ts weigh requests with. */
import { readFileSync } from 'node:fs';

const TICKS_PER_SECOND = 100; // USER_HZ on Linux

/** Seconds of CPU (user + system) the process `pid` has used so far; NaN where /proc is missing. */
export function cpuSeconds(pid: number): number {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return Number.NaN;
  }
  // Fields after the command (which may hold spaces) start after the last ')': utime is 14th, stime 15th.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
}

/**
 * Seconds of CPU this (virtual) machine's host took from it so far, all CPUs together: "steal" in
 * /proc/stat. A run during which it grows is a run on a busy host. NaN where /proc is missing.
 */
export function stealSeconds(): number {
  try {
    const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/);
    return Number(cpu[8]) / TICKS_PER_SECOND;
  } catch {
    return Number.NaN;
  }
}

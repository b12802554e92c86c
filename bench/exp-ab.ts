import { spawnSync } from 'node:child_process';
import { createDatabase, startPostgres } from '../test/support/postgres.js';
const db = await startPostgres({ durable: true });
const [system, n, window, rounds] = [
  process.argv[2] ?? 'longrun-postgres',
  process.argv[3] ?? '20000',
  process.argv[4] ?? '3',
  Number(process.argv[5] ?? 3),
];
const res: Record<string, number[]> = {};
for (let r = 0; r < rounds; r++) {
  for (const repo of r % 2 ? ['/work/main', '/work/wt-base'] : ['/work/wt-base', '/work/main']) {
    const url = system.includes('sqlite')
      ? ''
      : await createDatabase(db.url, `ab_${r}_${repo.length}_${Date.now()}`);
    const out = spawnSync(
      process.execPath,
      ['--import', 'tsx', `${repo}/bench/engine.ts`, system, n, '100', url, window],
      { cwd: `${repo}/bench`, encoding: 'utf8' },
    );
    const line = out.stdout.trim().split('\n').at(-1)!;
    try {
      (res[repo] ??= []).push(Math.round(JSON.parse(line).opsPerSec));
    } catch {
      console.log(out.stderr.slice(0, 500));
    }
    console.log(repo, line.slice(0, 80));
  }
}
console.log(res);
await db.stop();
process.exit(0);

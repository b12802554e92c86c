/**
 * Finds a Chromium for the browser tests (playwright-core drives it; it brings no browser of its own):
 * $CHROMIUM_PATH, else the system's (/usr/bin/chromium, Debian's package), else the headless build shipped
 * in the @sparticuz/chromium npm package (test/binaries/package.json, installed by the test run on first
 * need), unpacked once per version and user into the temp dir.
 * LONGRUN_TEST_BINARIES picks a side (test/support/binaries.ts).
 */
import { execFile } from 'node:child_process';
import { createReadStream, createWriteStream, existsSync, readFileSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, rename, rm, stat, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { createBrotliDecompress } from 'node:zlib';
import { BINARIES_VARIABLE, binaryPreference, resolveInTestBinaries } from './binaries.js';

const execFileAsync = promisify(execFile);

export interface ChromiumBinary {
  executablePath: string;
  /** Extra command-line flags this build needs. */
  args: string[];
  /** Extra environment for the browser process (libraries or fonts the machine lacks). */
  env: Record<string, string>;
  /** A line for humans: source, version and path. */
  description: string;
}

const SYSTEM_PATHS = ['/usr/bin/chromium', '/usr/bin/chromium-browser'];
const NPM_PACKAGE = '@sparticuz/chromium';

/**
 * Whether findChromium() takes the npm copy: forced by LONGRUN_TEST_BINARIES=npm, or (auto) the machine
 * has no Chromium and names none. The test run installs test/binaries only then.
 */
export function usesNpmChromium(): boolean {
  const preference = binaryPreference();
  if (preference !== 'auto') return preference === 'npm';
  return !process.env.CHROMIUM_PATH && !SYSTEM_PATHS.some((path) => existsSync(path));
}

export async function findChromium(): Promise<ChromiumBinary> {
  if (usesNpmChromium()) return npmChromium();
  const explicit = process.env.CHROMIUM_PATH;
  if (explicit) {
    if (!existsSync(explicit)) throw new Error(`CHROMIUM_PATH is ${explicit}, which does not exist`);
    return { executablePath: explicit, args: [], env: {}, description: `CHROMIUM_PATH (${explicit})` };
  }
  const system = SYSTEM_PATHS.find((path) => existsSync(path));
  if (system) return { executablePath: system, args: [], env: {}, description: `system (${system})` };
  throw new Error(`no system Chromium (looked for ${SYSTEM_PATHS.join(', ')}; ${BINARIES_VARIABLE}=system)`);
}

async function npmChromium(): Promise<ChromiumBinary> {
  let packageJson: string;
  try {
    // The package's exports hide package.json; its entry sits in build/{esm,cjs}/, two levels down.
    packageJson = join(dirname(resolveInTestBinaries(NPM_PACKAGE)), '..', '..', 'package.json');
  } catch {
    throw new Error(
      `no Chromium: neither a system one nor ${NPM_PACKAGE} in test/binaries/node_modules (the test run ` +
        `installs it on first need; or run npm install in test/binaries)`,
    );
  }
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    throw new Error(`${NPM_PACKAGE} ships Linux x64 only; install Chromium and set CHROMIUM_PATH`);
  }
  const packageDir = dirname(packageJson);
  const { version } = JSON.parse(readFileSync(packageJson, 'utf8')) as { version: string };
  const dir = await unpacked(packageDir, version);
  const env: Record<string, string> = {};
  // The package carries the few libraries a bare machine may lack (NSS, expat); only use them then, so a
  // machine's own, maintained copies win.
  if (await missingLibraries(join(dir, 'chromium'))) {
    env.LD_LIBRARY_PATH = [join(dir, 'al2023', 'lib'), process.env.LD_LIBRARY_PATH].filter(Boolean).join(':');
  }
  // Likewise fonts: a machine without fontconfig's configuration gets the package's fonts.
  if (!existsSync('/etc/fonts/fonts.conf')) env.FONTCONFIG_FILE = join(dir, 'fonts.conf');
  return {
    executablePath: join(dir, 'chromium'),
    // A headless-shell build for containers: no zygote process (it needs the sandbox we switch off).
    args: ['--no-zygote'],
    env,
    description: `npm ${NPM_PACKAGE}@${version} (${join(dir, 'chromium')})`,
  };
}

/**
 * The unpacked browser for this package version and user: reused when a complete one exists, else
 * unpacked into a staging dir and renamed into place, so a concurrent or interrupted run never sees half a
 * browser. Per user, and checked to be ours, because the temp dir is shared and what is there gets run.
 */
async function unpacked(packageDir: string, version: string): Promise<string> {
  const uid = process.getuid?.() ?? 0;
  const dir = join(tmpdir(), `longrun-chromium-${version}-${uid}`);
  if (await ours(dir, uid)) return dir;
  await rm(dir, { recursive: true, force: true }).catch(() => {});
  const staging = await mkdtemp(join(tmpdir(), 'longrun-chromium-unpack-'));
  try {
    const bin = join(packageDir, 'bin');
    await pipeline(
      createReadStream(join(bin, 'chromium.br')),
      createBrotliDecompress(),
      createWriteStream(join(staging, 'chromium'), { mode: 0o755 }),
    );
    // swiftshader: software GL beside the executable, where Chromium looks for it.
    await untar(packageDir, join(bin, 'swiftshader.tar.br'), staging);
    await untar(packageDir, join(bin, 'fonts.tar.br'), join(staging, 'fonts'));
    await untar(packageDir, join(bin, 'al2023.tar.br'), join(staging, 'al2023'));
    await writeFile(
      join(staging, 'fonts.conf'),
      `<?xml version="1.0"?>\n<fontconfig><dir>${dir}/fonts</dir><cachedir>${dir}/fonts-cache</cachedir></fontconfig>\n`,
    );
    await chmod(staging, 0o755);
    await rename(staging, dir);
  } catch (error) {
    await rm(staging, { recursive: true, force: true });
    // Lost a race to a concurrent run that unpacked the same version: use theirs.
    if (await ours(dir, uid)) return dir;
    throw error;
  }
  return dir;
}

async function ours(dir: string, uid: number): Promise<boolean> {
  try {
    const info = await stat(dir);
    return info.uid === uid && (info.mode & 0o022) === 0 && existsSync(join(dir, 'chromium'));
  } catch {
    return false;
  }
}

/** Unpacks a .tar.br with the tar reader @sparticuz/chromium itself depends on (tar-fs). */
async function untar(packageDir: string, archive: string, target: string): Promise<void> {
  const { extract } = createRequire(join(packageDir, 'package.json'))('tar-fs') as {
    extract: (dir: string, options: object) => NodeJS.WritableStream;
  };
  await mkdir(target, { recursive: true });
  // chown: false, or running as root would hand the files to the archive's owner ids.
  await pipeline(createReadStream(archive), createBrotliDecompress(), extract(target, { chown: false }));
}

async function missingLibraries(executable: string): Promise<boolean> {
  try {
    const { stdout } = await execFileAsync('ldd', [executable]);
    return /not found/.test(stdout);
  } catch {
    return true;
  }
}

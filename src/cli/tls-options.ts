/**
 * `longrun serve` TLS options: `--tls-cert FILE --tls-key FILE` (your certificate), or `--tls` (a
 * development certificate made once in the data directory). With TLS on, the server speaks HTTP/2 and
 * HTTP/1.1 (ALPN) and its generated URLs are https://.
 */
import { Option, type Command } from 'commander';
import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import type { TlsOptions } from '../longrun.js';
import { loadOrCreateDevCertificate } from './dev-cert.js';

export interface TlsFlags {
  tls?: boolean;
  tlsCert?: string;
  tlsKey?: string;
}

export function addTlsOptions(command: Command): Command {
  return command
    .addOption(
      new Option('--tls-cert <file>', 'PEM certificate (chain) to serve HTTPS and HTTP/2 with').env(
        'LONGRUN_TLS_CERT',
      ),
    )
    .addOption(new Option('--tls-key <file>', 'PEM private key of --tls-cert').env('LONGRUN_TLS_KEY'))
    .option('--tls', 'serve HTTPS with a self-signed development certificate for localhost (made once)');
}

export interface ResolvedTls {
  tls: TlsOptions;
  /** The development certificate's file, when `--tls` made or reused one. */
  devCertFile?: string;
}

/** The TLS settings the flags ask for, undefined for plain HTTP; a usage error names the option. */
export async function tlsFrom(flags: TlsFlags, dataDir: string): Promise<ResolvedTls | undefined> {
  if (flags.tls && (flags.tlsCert || flags.tlsKey)) {
    throw new Error(
      '--tls makes a development certificate; give either --tls or --tls-cert/--tls-key, not both.',
    );
  }
  if (flags.tls) {
    const dev = await loadOrCreateDevCertificate(dataDir);
    return { tls: { cert: dev.cert, key: dev.key }, devCertFile: dev.certFile };
  }
  if (!flags.tlsCert && !flags.tlsKey) return undefined;
  if (!flags.tlsCert)
    throw new Error('--tls-key needs --tls-cert (LONGRUN_TLS_CERT): the certificate to serve.');
  if (!flags.tlsKey)
    throw new Error("--tls-cert needs --tls-key (LONGRUN_TLS_KEY): the certificate's private key.");
  const tls = { cert: readPem('--tls-cert', flags.tlsCert), key: readPem('--tls-key', flags.tlsKey) };
  try {
    createSecureContext(tls);
  } catch (e) {
    throw new Error(`--tls-cert/--tls-key: not a usable certificate and key pair (${(e as Error).message}).`);
  }
  return { tls };
}

function readPem(option: string, file: string): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new Error(
      `${option}: can't read ${file} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}).`,
    );
  }
  if (!text.includes('-----BEGIN ')) throw new Error(`${option}: ${file} is not a PEM file.`);
  return text;
}

/**
 * `longrun serve --tls`: a self-signed certificate for localhost, 127.0.0.1 and ::1, made once and kept in
 * the data directory next to the dev signing key (src/auth/dev-key.ts), so clients trust it once
 * (`NODE_EXTRA_CA_CERTS=<cert file>`) and keep trusting it across restarts. Made in-process with
 * @peculiar/x509 over WebCrypto: a user's machine may have no `openssl`.
 */
import { randomUUID, X509Certificate } from 'node:crypto';
import { mkdir, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeOnce } from '../auth/dev-key.js';

/** The key and the certificate together (0600): the unit written atomically. */
export const DEV_TLS_KEY_FILE_NAME = 'tls-dev-key.pem';
/** The certificate alone, for clients to trust. */
export const DEV_TLS_CERT_FILE_NAME = 'tls-dev-cert.pem';
const VALID_DAYS = 825; // the longest validity Apple's TLS clients accept for a server certificate

export interface DevCertificate {
  key: string;
  cert: string;
  certFile: string;
  keyFile: string;
}

/** Loads the development certificate from `dataDir`, making it on first use (or when it has expired). */
export async function loadOrCreateDevCertificate(dataDir: string): Promise<DevCertificate> {
  const keyFile = join(dataDir, DEV_TLS_KEY_FILE_NAME);
  const certFile = join(dataDir, DEV_TLS_CERT_FILE_NAME);
  let pair = await readPair(keyFile);
  if (!pair || expired(pair.cert)) {
    await mkdir(dataDir, { recursive: true });
    if (pair) await unlink(keyFile).catch(() => undefined);
    await writeOnce(keyFile, await generate(), 0o600);
    pair = await readPair(keyFile);
    if (!pair) throw new Error(`The development TLS certificate ${keyFile} could not be created.`);
  }
  // The certificate file is derived from the key file; rewritten whenever it differs.
  const current = await readFile(certFile, 'utf8').catch(() => undefined);
  if (current !== pair.cert) {
    const temp = `${certFile}.${process.pid}.${randomUUID()}.tmp`;
    await writeFile(temp, pair.cert, { mode: 0o644 });
    await rename(temp, certFile);
  }
  return { ...pair, certFile, keyFile };
}

async function generate(): Promise<string> {
  // Loaded here only: @peculiar/x509 needs the reflect-metadata polyfill, which nothing else should pay for.
  await import('reflect-metadata');
  const x509 = await import('@peculiar/x509');
  const webcrypto = globalThis.crypto;
  const algorithm = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
  const keys = await webcrypto.subtle.generateKey(algorithm, true, ['sign', 'verify']);
  const notBefore = new Date(Date.now() - 60_000);
  const cert = await x509.X509CertificateGenerator.createSelfSigned(
    {
      serialNumber: Buffer.from(webcrypto.getRandomValues(new Uint8Array(16)))
        .toString('hex')
        .replace(/^[89a-f]/, '1'),
      name: 'CN=localhost, O=longrun development',
      notBefore,
      notAfter: new Date(notBefore.getTime() + VALID_DAYS * 86_400_000),
      signingAlgorithm: algorithm,
      keys,
      extensions: [
        new x509.SubjectAlternativeNameExtension([
          { type: 'dns', value: 'localhost' },
          { type: 'ip', value: '127.0.0.1' },
          { type: 'ip', value: '::1' },
        ]),
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      ],
    },
    webcrypto,
  );
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey)).toString('base64');
  const keyPem = `-----BEGIN PRIVATE KEY-----\n${pkcs8.replace(/.{1,64}/g, '$&\n')}-----END PRIVATE KEY-----\n`;
  return keyPem + cert.toString('pem') + '\n';
}

/** Writes under a temporary name, then links into place: when two processes start at once, one file wins. */
async function readPair(file: string): Promise<{ key: string; cert: string } | undefined> {
  let content: string;
  try {
    content = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  const key = /-----BEGIN PRIVATE KEY-----[\s\S]+?-----END PRIVATE KEY-----\n/.exec(content)?.[0];
  const cert = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n/.exec(content)?.[0];
  // A damaged file is reported, never silently replaced: clients may trust the certificate it holds.
  if (!key || !cert) {
    throw new Error(
      `The development TLS file ${file} holds no key and certificate; delete it to make a new one.`,
    );
  }
  return { key, cert };
}

function expired(certPem: string): boolean {
  return Date.parse(new X509Certificate(certPem).validTo) <= Date.now() + 86_400_000;
}

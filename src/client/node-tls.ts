/**
 * Node.js only (kept out of the client's browser-safe modules): a `fetch` that trusts extra certificate
 * authorities, for a server whose certificate the system doesn't trust, such as `longrun serve --tls`'s
 * self-signed development certificate. Pass it as the client's `fetch`:
 *
 *   createClient({ baseUrl, fetch: fetchTrusting(readFileSync('tls-dev-cert.pem')) })
 *
 * The system's authorities stay trusted too, so the same client still reaches public servers.
 */
import { rootCertificates } from 'node:tls';
import { Agent, fetch as undiciFetch, setGlobalDispatcher } from 'undici';

type Pem = string | Buffer | readonly (string | Buffer)[];

export function fetchTrusting(ca: Pem): typeof fetch {
  const dispatcher = trustingAgent(ca);
  return ((input: string | URL | Request, init?: RequestInit) =>
    undiciFetch(input as never, { ...(init as object), dispatcher } as never)) as unknown as typeof fetch;
}

/**
 * Makes every `fetch` of this process (Node's built-in one included: it shares undici's global
 * dispatcher) trust `ca` besides the system's authorities: for command-line tools.
 */
export function trustGlobally(ca: Pem): void {
  setGlobalDispatcher(trustingAgent(ca));
}

function trustingAgent(ca: Pem): Agent {
  const extra = (Array.isArray(ca) ? ca : [ca]).map((c: string | Buffer) =>
    typeof c === 'string' ? c : c.toString('utf8'),
  );
  if (extra.length === 0 || extra.some((c) => !c.includes('-----BEGIN CERTIFICATE-----'))) {
    throw new TypeError('`ca` must be one or more PEM certificates (-----BEGIN CERTIFICATE-----).');
  }
  return new Agent({ connect: { ca: [...rootCertificates, ...extra] } });
}

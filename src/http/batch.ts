/**
 * JSON batching, as Graph does it: `POST /{version}/$batch` with
 * `{"requests":[{"id","method","url","headers"?,"body"?,"dependsOn"?}]}`, at most 20 requests, answered
 * `200 {"responses":[{"id","status","headers","body"}]}` in request order.
 *
 * Each request runs through this same app (`app.inject`), so it meets exactly the routes, auth and errors a
 * direct request meets; the batch's own `Authorization` applies to every request (a request's own is
 * ignored), and its `client-request-id` unless a request names its own. `url` is relative to the version
 * root, with or without a leading slash. Requests without `dependsOn` run concurrently; one with
 * `dependsOn` (earlier ids only) runs after those, and gets `424 Failed Dependency` if any of them did not
 * succeed (2xx).
 *
 * A step's url is resolved the way a browser would (WHATWG URL, against `http://x/{version}/`) and the result
 * must stay under the version root and not be `$batch` again; control characters are refused first, since
 * URL parsing silently drops tabs and newlines (`/.\t./metrics` would otherwise become `/metrics`). A step
 * runs inside a batch context (batch-context.ts): event streams refuse to start there, `Prefer: wait` is
 * capped at MAX_BATCH_WAIT_SECONDS, and when the batch's client goes away every running step is aborted and
 * no further step starts.
 *
 * Bodies follow the OData JSON batch format: JSON media types carry JSON, `text/*` a string, anything else
 * a base64 string. A request body without a Content-Type is JSON; given as a string, it is base64-encoded
 * JSON (what Microsoft Graph's TypeScript SDK sends).
 */
import { randomUUID } from 'node:crypto';
import { Value } from '@sinclair/typebox/value';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { GraphError, badRequest } from '../model/errors.js';
import { API_VERSIONS, type ApiVersion } from '../model/types.js';
import { runInBatch } from './batch-context.js';
import { parsePrefer } from './prefer.js';
import { BATCH_REQUEST, MAX_BATCH_REQUESTS } from './schemas.js';
import type { Security } from './security.js';
import { INNER_ORIGIN_HEADER, innerOrigin, origin } from './urls.js';

interface BatchStep {
  id: string;
  method: string;
  url: string;
  headers?: Record<string, string>;
  body?: unknown;
  dependsOn?: string[];
}

export interface BatchResponseStep {
  id: string;
  status: number;
  headers: Record<string, string>;
  body?: unknown;
}

const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);
/** Request headers a step can't set: the batch's own connection and credentials decide these. */
const DROPPED_REQUEST_HEADERS = new Set([
  'authorization',
  INNER_ORIGIN_HEADER,
  'host',
  'content-length',
  'transfer-encoding',
  'connection',
]);
/** Response headers that describe the inner HTTP exchange, not the response. */
const DROPPED_RESPONSE_HEADERS = new Set([
  'connection',
  'keep-alive',
  'transfer-encoding',
  'content-length',
  'date',
]);

/**
 * The longest `Prefer: wait` a step may ask for. The whole batch answers only when its slowest step has,
 * and 20 held steps per batch would multiply what one connection can hold open; a client that wants a long
 * wait sends that read on its own.
 */
export const MAX_BATCH_WAIT_SECONDS = 5;
/** C0 and C1 controls and DEL: URL parsing drops some (tab, CR, LF) and trims others, so none may pass. */
// eslint-disable-next-line no-control-regex -- finding control characters is the point
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f-\u009f]/;

const isJsonType = (type: string) => /^application\/(?:[\w.+-]*\+)?json\b/i.test(type);
const isTextType = (type: string) => /^text\//i.test(type);

export interface BatchOptions {
  security: Security;
}

/** Registers `POST /v1.0/$batch` and `POST /beta/$batch`. */
export function batchRoutes(app: FastifyInstance, options: BatchOptions): void {
  for (const version of API_VERSIONS) {
    app.post(`/${version}/$batch`, async (request, reply) => {
      await options.security.authenticate(request.headers.authorization); // 401 for the whole batch
      const steps = checkBatch(request.body);
      // The client leaving (the response closes before it was finished) aborts the steps still running.
      const abandoned = new AbortController();
      const onClose = () => {
        if (!reply.raw.writableFinished) abandoned.abort();
      };
      reply.raw.once('close', onClose);
      let responses: BatchResponseStep[];
      try {
        responses = await runInBatch({ signal: abandoned.signal }, () =>
          runBatch(app, request, version, steps, abandoned.signal),
        );
      } finally {
        reply.raw.off('close', onClose);
      }
      return reply.code(200).type('application/json').send(JSON.stringify({ responses }));
    });
  }
}

/** Validates the body: its shape, the number of requests, unique ids, dependencies on earlier ids. */
function checkBatch(body: unknown): BatchStep[] {
  if (!Value.Check(BATCH_REQUEST, body)) {
    const first = Value.Errors(BATCH_REQUEST, body).First();
    const where = first?.path ? ` at '${first.path}'` : '';
    throw badRequest(
      `The batch body must be {"requests":[{"id","method","url","headers"?,"body"?,"dependsOn"?}]}: ${first?.message ?? 'invalid'}${where}.`,
    );
  }
  const steps = (body as { requests: BatchStep[] }).requests;
  if (steps.length === 0) throw badRequest('The batch holds no requests.');
  if (steps.length > MAX_BATCH_REQUESTS) {
    throw badRequest(`A batch holds at most ${MAX_BATCH_REQUESTS} requests; this one has ${steps.length}.`);
  }
  const seen = new Set<string>();
  for (const step of steps) {
    if (seen.has(step.id)) throw badRequest(`The request id '${step.id}' is used twice in the batch.`);
    for (const dep of step.dependsOn ?? []) {
      if (!seen.has(dep)) {
        throw badRequest(
          `The request '${step.id}' depends on '${dep}', which is not an earlier request of the batch.`,
        );
      }
    }
    if (!METHODS.has(step.method.toUpperCase())) {
      throw badRequest(`The request '${step.id}' has the method '${step.method}', which can't be batched.`);
    }
    seen.add(step.id);
  }
  return steps;
}

async function runBatch(
  app: FastifyInstance,
  outer: FastifyRequest,
  version: ApiVersion,
  steps: BatchStep[],
  signal: AbortSignal,
): Promise<BatchResponseStep[]> {
  const results = new Map<string, Promise<BatchResponseStep>>();
  for (const step of steps) {
    const dependencies = (step.dependsOn ?? []).map((id) => results.get(id)!);
    results.set(
      step.id,
      (async () => {
        const done = await Promise.all(dependencies);
        if (signal.aborted) {
          // Never sent (its client is gone); 499 is what proxies log for a request its client abandoned.
          return errorStep(
            step,
            outer,
            new GraphError(499, 'clientClosedRequest', 'The batch was abandoned.'),
          );
        }
        const failed = done.find((r) => r.status < 200 || r.status > 299);
        if (failed) {
          return errorStep(
            step,
            outer,
            new GraphError(424, 'failedDependency', `The request '${failed.id}' this one depends on failed.`),
          );
        }
        try {
          return await runStep(app, outer, version, step, signal);
        } catch (error) {
          if (error instanceof GraphError) return errorStep(step, outer, error);
          if (signal.aborted) return abandonedStep(step, outer); // the inject was aborted: not a failure
          outer.log.error({ err: error, batchRequest: step.id }, 'batch request failed');
          return errorStep(
            step,
            outer,
            new GraphError(500, 'generalException', 'The request failed unexpectedly.'),
          );
        }
      })(),
    );
  }
  return Promise.all(steps.map((s) => results.get(s.id)!));
}

async function runStep(
  app: FastifyInstance,
  outer: FastifyRequest,
  version: ApiVersion,
  step: BatchStep,
  signal: AbortSignal,
): Promise<BatchResponseStep> {
  const target = stepTarget(step.url, version);

  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(step.headers ?? {})) {
    const lower = name.toLowerCase();
    if (!DROPPED_REQUEST_HEADERS.has(lower)) headers[lower] = value;
  }
  const authorization = outer.headers.authorization;
  if (authorization) headers.authorization = authorization;
  const clientRequestId = outer.headers['client-request-id'];
  if (typeof clientRequestId === 'string' && headers['client-request-id'] === undefined) {
    headers['client-request-id'] = clientRequestId;
  }
  // Absolute URLs in responses (Location, nextLink) name the origin the batch was sent to.
  headers.host = outer.host;
  headers[INNER_ORIGIN_HEADER] = innerOrigin(origin(outer, undefined));

  const wait = parsePrefer(headers.prefer).wait;
  if (wait !== undefined && wait > MAX_BATCH_WAIT_SECONDS) {
    throw badRequest(
      `A request in a batch can wait at most ${MAX_BATCH_WAIT_SECONDS} seconds (Prefer: wait=${wait}); send a longer wait as a request of its own.`,
    );
  }

  let payload: string | Buffer | undefined;
  if (step.body !== undefined) {
    const type = headers['content-type'];
    if (type === undefined) {
      headers['content-type'] = 'application/json';
      payload = typeof step.body === 'string' ? Buffer.from(step.body, 'base64') : JSON.stringify(step.body);
    } else if (isJsonType(type)) {
      payload = JSON.stringify(step.body);
    } else if (typeof step.body === 'string') {
      payload = isTextType(type) ? step.body : Buffer.from(step.body, 'base64');
    } else {
      throw badRequest(`The body of request '${step.id}' must be a string for the Content-Type '${type}'.`);
    }
  }

  const response = await app.inject({
    method: step.method.toUpperCase() as 'GET',
    url: target,
    headers,
    payload,
    signal,
  });

  const out: BatchResponseStep = { id: step.id, status: response.statusCode, headers: {} };
  for (const [name, value] of Object.entries(response.headers)) {
    if (value === undefined || DROPPED_RESPONSE_HEADERS.has(name)) continue;
    out.headers[name] = Array.isArray(value) ? value.join(', ') : String(value);
  }
  if (response.rawPayload.length > 0) {
    const type = out.headers['content-type'] ?? '';
    if (isJsonType(type)) {
      try {
        out.body = JSON.parse(response.body);
      } catch {
        out.body = response.body;
      }
    } else if (isTextType(type)) {
      out.body = response.body;
    } else {
      out.body = response.rawPayload.toString('base64');
    }
  }
  return out;
}

/**
 * The path and query a step's url stands for, resolved against the version root as a URL parser would; it
 * must stay under `/{version}/` and must not name `$batch` (in any spelling the router might accept:
 * percent-encoded, another case, `;` parameters, trailing slashes).
 */
function stepTarget(given: string, version: ApiVersion): string {
  if (CONTROL_CHARACTERS.test(given)) {
    throw badRequest('The url of a batch request must not contain control characters (tab, newline, ...).');
  }
  if (given.trim() !== given) {
    throw badRequest(`The url '${given}' must not start or end with spaces.`);
  }
  if (given.includes('\\')) throw badRequest(`The url '${given}' must not contain backslashes.`);
  if (/^\/\/|^\/?[a-z][a-z0-9+.-]*:\/\//i.test(given)) {
    throw badRequest(`The url '${given}' must be relative to /${version}, e.g. '/operations/{id}'.`);
  }
  const root = `/${version}/`;
  const base = new URL(`http://x${root}`);
  let resolved: URL;
  try {
    resolved = new URL(given.startsWith('/') ? given.slice(1) : given, base);
  } catch {
    throw badRequest(`The url '${given}' is not a valid relative url.`);
  }
  if (resolved.origin !== base.origin || !resolved.pathname.startsWith(root)) {
    throw badRequest(`The url '${given}' must stay under /${version}/, e.g. '/operations/{id}'.`);
  }
  const rest = resolved.pathname.slice(root.length);
  checkPath(rest, given);
  const first = decodeURIComponent(rest.split('/', 1)[0]).split(';', 1)[0].toLowerCase();
  if (first === '$batch') throw badRequest('A batch cannot contain another $batch.');
  // The query as given (the parser's percent-encoding of quotes and spaces would change nothing for the
  // routes, but the step should reach them as it was written); no fragment.
  const beforeHash = given.split('#', 1)[0];
  const q = beforeHash.indexOf('?');
  return resolved.pathname + (q < 0 ? '' : beforeHash.slice(q));
}

/**
 * No `.`/`..` segments may remain (percent-encoded ones the router would decode), and the path must be
 * valid percent-encoding.
 */
function checkPath(path: string, given: string): void {
  for (const segment of path.split('/')) {
    let decoded: string;
    try {
      decoded = decodeURIComponent(segment);
    } catch {
      throw badRequest(`The url '${given}' is not valid percent-encoding.`);
    }
    if (decoded === '.' || decoded === '..') {
      throw badRequest(`The url '${given}' must not contain '.' or '..' segments.`);
    }
  }
}

/** A step whose batch's client is gone: never sent; 499 is what proxies log for an abandoned request. */
function abandonedStep(step: BatchStep, outer: FastifyRequest): BatchResponseStep {
  return errorStep(step, outer, new GraphError(499, 'clientClosedRequest', 'The batch was abandoned.'));
}

/** A step answered without running it (a failed dependency, a url that can't be run), in Graph's envelope. */
function errorStep(step: BatchStep, outer: FastifyRequest, error: GraphError): BatchResponseStep {
  const own = Object.entries(step.headers ?? {}).find(([name]) => name.toLowerCase() === 'client-request-id');
  const clientRequestId = own ? own[1] : outer.headers['client-request-id'];
  const requestId = randomUUID();
  const innerError: Record<string, string> = {
    date: new Date().toISOString().slice(0, 19),
    'request-id': requestId,
  };
  if (typeof clientRequestId === 'string') innerError['client-request-id'] = clientRequestId;
  const body: Record<string, unknown> = { code: error.code, message: error.message };
  if (error.options.target) body.target = error.options.target;
  body.innerError = innerError;
  return {
    id: step.id,
    status: error.status,
    headers: { 'content-type': 'application/json', 'request-id': requestId, ...error.options.headers },
    body: { error: body },
  };
}

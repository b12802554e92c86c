/**
 * Runs a Graph action: checks the caller and the body synchronously (nothing is created on a 400), then
 * creates the operation bound to the built-in scenario and answers `202 Accepted` with the operation's
 * absolute `Location` and `Operation-Location` and a `Retry-After`.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { SecretBox } from '../../service/secret-box.js';
import { SITE_CREATION_SCOPE, family as familyDef } from '../../families/families.js';
import { GraphError } from '../../model/errors.js';
import { concreteTypesFor, type ApiVersion } from '../../model/types.js';
import {
  hashBody,
  type CallContext,
  type CollectionRef,
  type OperationService,
} from '../../service/operation-service.js';
import { encodeSegment } from '../urls.js';
import { tokenize } from '../resolve.js';
import type { Caller, Security } from '../security.js';
import type { ActionDefinition, PreparedOperation } from './action.js';
import { ACTIONS } from './definitions.js';
import { SCENARIO_HANDLER } from '../../engine/scenarios/scenario-handler.js';

export interface MatchedAction {
  action: ActionDefinition;
  params: Record<string, string>;
}

/** The action a path names (any method), or undefined. */
export function matchAction(rawPath: string, version: ApiVersion): MatchedAction[] {
  const tokens = tokenize(rawPath);
  const matches: MatchedAction[] = [];
  for (const action of ACTIONS) {
    if (!action.versions.includes(version) || action.segments.length !== tokens.length) continue;
    const params: Record<string, string> = {};
    const ok = action.segments.every((seg, i) => {
      const tok = tokens[i];
      if (seg.startsWith(':')) {
        if (tok.args || tok.text === '') return false;
        params[seg.slice(1)] = tok.text;
        return true;
      }
      return !tok.isKey && !tok.args && tok.text === seg;
    });
    if (ok) matches.push({ action, params });
  }
  return matches;
}

export interface RunActionOptions {
  service: OperationService;
  security: Security;
  version: ApiVersion;
  caller: Caller;
  serviceRoot: string;
  retryAfterSeconds: number;
  secrets: SecretBox;
}

export async function runAction(
  request: FastifyRequest,
  reply: FastifyReply,
  { action, params }: MatchedAction,
  o: RunActionOptions,
): Promise<FastifyReply> {
  if (action.userParam)
    params[action.userParam] = await o.security.canonicalUserKey(o.caller, params[action.userParam]);
  o.security.authorize(o.caller, 'write', {
    family: action.family,
    userKey: action.userParam ? params[action.userParam] : undefined,
    permissions: action.permissions,
    action: action.name,
  });
  const prepared = action.prepare({
    version: o.version,
    params,
    body: request.body,
    caller: o.caller,
    serviceRoot: o.serviceRoot,
  });
  const ref = collectionOf(prepared, o.caller, o.version);
  const ctx: CallContext = { actor: o.caller.actor, includeUnknownEnumMembers: false };
  const idempotencyKey = idempotencyKeyOf(request.headers['idempotency-key']);
  const { record, created } = await o.service.start(
    ref,
    {
      type: prepared.type,
      handler: SCENARIO_HANDLER,
      input: {
        scenario: prepared.scenario,
        result: prepared.result,
        // Kept for replays, sealed: the database never holds a generated password in the clear.
        sealedResponseBody: prepared.responseBody ? o.secrets.seal(prepared.responseBody) : null,
      },
      id: prepared.id,
      derivedId: prepared.reuseActive,
      props: prepared.props,
      idempotencyKey,
      requestHash: hashBody({ method: request.method, url: request.raw.url, body: request.body ?? null }),
    },
    ctx,
  );

  // A replay answers with the body the first request got (resetPassword's generated password), unsealed;
  // one sealed under another key (a node with another data key) is answered without it.
  const body = created ? prepared.responseBody : replayedBody(record.input, o.secrets);
  return sendAccepted(reply, operationUrl(o.serviceRoot, prepared, record.id), o.retryAfterSeconds, body);
}

/**
 * The answer of every action that starts an operation (the built-in ones and the library's own):
 * `202 Accepted`, the operation's absolute URL as `Location` and `Operation-Location`, and `Retry-After`.
 */
export function sendAccepted(
  reply: FastifyReply,
  location: string,
  retryAfterSeconds: number,
  body?: Record<string, unknown> | null,
): FastifyReply {
  reply.header('Location', location).header('Operation-Location', location);
  reply.header('Retry-After', String(retryAfterSeconds));
  if (body) return reply.code(202).type('application/json').send(JSON.stringify(body));
  return reply.code(202).send();
}

function replayedBody(input: unknown, secrets: SecretBox): Record<string, unknown> | undefined {
  const sealed = (input as { sealedResponseBody?: unknown } | null)?.sealedResponseBody;
  if (typeof sealed !== 'string') return undefined;
  return secrets.open(sealed) as Record<string, unknown> | undefined;
}

function collectionOf(prepared: PreparedOperation, caller: Caller, version: ApiVersion): CollectionRef {
  if (prepared.collection === 'siteCreation') {
    const sites = familyDef('sites');
    return {
      tenantId: caller.tenantId,
      scope: SITE_CREATION_SCOPE,
      family: sites,
      types: concreteTypesFor(sites.declaredType, version),
    };
  }
  const { template, params } = prepared.collection;
  const fam = familyDef(prepared.collection.family);
  return {
    tenantId: caller.tenantId,
    scope: template.scope(params),
    family: fam,
    types: concreteTypesFor(fam.declaredType, version),
  };
}

/** The absolute URL of the operation, in the form Graph uses for that action. */
function operationUrl(serviceRoot: string, prepared: PreparedOperation, id: string): string {
  const quoted = `'${encodeURIComponent(id.replace(/'/g, "''"))}'`;
  if (prepared.collection === 'siteCreation')
    return `${serviceRoot}/sites/getOperationStatus(operationId=${quoted})`;
  const { template, params } = prepared.collection;
  const path = template.segments
    .map((s) => (s.startsWith(':') ? encodeURIComponent(params[s.slice(1)]) : s))
    .join('/');
  return prepared.keyForm === 'parentheses'
    ? `${serviceRoot}/${path}(${quoted})`
    : `${serviceRoot}/${path}/${encodeSegment(id)}`;
}

/** The Idempotency-Key header (1 to 255 characters), or undefined. */
export function idempotencyKeyOf(value: string | string[] | undefined): string | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  if (v === undefined) return undefined;
  if (v.length === 0 || v.length > 255) {
    throw new GraphError(400, 'invalidRequest', 'The Idempotency-Key header must have 1 to 255 characters.');
  }
  return v;
}

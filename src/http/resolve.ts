/**
 * Turns a request path into the family collection it addresses. Hand-written rather than left to the
 * router because Graph's URLs carry OData key syntax the router can't express: ids are opaque and may
 * hold `:` `,` `=` `'` `(`, and both `/operations/{id}` and `/operations('{id}')` address one operation,
 * as `/users/{id}` and `/users('{id}')` address one user; `getOperationStatus(operationId='…')` is a
 * function call in a path segment.
 */
import {
  FAMILIES,
  SITE_CREATION_SCOPE,
  family,
  type CollectionTemplate,
  type FamilyDef,
} from '../families/families.js';
import { badRequest } from '../model/errors.js';
import type { ApiVersion } from '../model/types.js';

export type Target =
  | { kind: 'collection' }
  | { kind: 'count' }
  | { kind: 'item'; id: string }
  | { kind: 'itemAction'; id: string; action: string }
  | { kind: 'collectionAction'; action: string };

export interface ResolvedPath {
  family: FamilyDef;
  template: CollectionTemplate | null;
  params: Record<string, string>;
  scope: string;
  /** OData context path of the collection, or of the function for getOperationStatus. */
  contextPath: string;
  target: Target;
  /** True for beta's `sites/getOperationStatus(operationId='…')`. */
  isFunction: boolean;
}

/** A path token: a literal segment, or a key written in parentheses (`operations('x')` → 'operations', key x). */
interface Token {
  text: string;
  isKey: boolean;
  args?: Record<string, string>;
}

const KEYED_NAMES = new Set(['users', 'sites', 'lists', 'operations', 'engagementAsyncOperations']);
const KEY_FORM = /^([A-Za-z][A-Za-z0-9]*)\('((?:[^']|'')*)'\)$/s;
const FUNCTION_FORM = /^getOperationStatus\(operationId='((?:[^']|'')*)'\)$/s;
const ITEM_ACTIONS = new Set(['cancel', 'events', 'history']);
const COLLECTION_ACTIONS = new Set(['events']);

export function tokenize(rawPath: string): Token[] {
  const parts = rawPath.split('/');
  if (parts.length > 1 && parts[parts.length - 1] === '') parts.pop(); // one trailing slash
  const tokens: Token[] = [];
  for (const part of parts) {
    let text: string;
    try {
      text = decodeURIComponent(part);
    } catch {
      throw badRequest(`The path segment '${part}' is not valid percent-encoding.`);
    }
    if (text.includes('\u0000')) throw badRequest('Paths must not contain NUL characters.');
    const fn = FUNCTION_FORM.exec(text);
    if (fn) {
      tokens.push({ text: 'getOperationStatus', isKey: false, args: { operationId: unquote(fn[1]) } });
      continue;
    }
    const keyed = KEY_FORM.exec(text);
    if (keyed && KEYED_NAMES.has(keyed[1])) {
      tokens.push({ text: keyed[1], isKey: false }, { text: unquote(keyed[2]), isKey: true });
      continue;
    }
    tokens.push({ text, isKey: false });
  }
  return tokens;
}

const unquote = (s: string) => s.replace(/''/g, "'");

/**
 * Resolves the part of the path after `/v1.0` or `/beta`. `me` is the caller's user key (their object id),
 * or undefined when the caller has none. Returns undefined when no family serves the path.
 */
export function resolvePath(
  rawPath: string,
  version: ApiVersion,
  me: string | undefined,
): ResolvedPath | undefined {
  const tokens = tokenize(rawPath);
  const sites = family('sites');
  if (tokens.length === 2 && tokens[0].text === 'sites' && tokens[1].args && version === 'beta') {
    return {
      family: sites,
      template: null,
      params: {},
      scope: SITE_CREATION_SCOPE,
      contextPath: 'microsoft.graph.richLongRunningOperation',
      target: { kind: 'item', id: tokens[1].args.operationId },
      isFunction: true,
    };
  }
  for (const fam of FAMILIES) {
    for (const template of fam.collections) {
      const params = matchPrefix(template.segments, tokens);
      if (!params) continue;
      const target = targetOf(tokens.slice(template.segments.length));
      if (!target) continue;
      if (!template.versions.includes(version)) return undefined;
      if (template.segments[0] === 'me') {
        if (me === undefined) return undefined;
        params.userId = me;
      }
      return {
        family: fam,
        template,
        params,
        scope: template.scope(params),
        contextPath: template.contextPath(params),
        target,
        isFunction: false,
      };
    }
  }
  return undefined;
}

function matchPrefix(segments: readonly string[], tokens: Token[]): Record<string, string> | undefined {
  if (tokens.length < segments.length) return undefined;
  const params: Record<string, string> = {};
  for (let i = 0; i < segments.length; i++) {
    const seg = segments[i];
    const tok = tokens[i];
    if (seg.startsWith(':')) {
      if (tok.args || tok.text === '') return undefined;
      params[seg.slice(1)] = tok.text;
    } else if (tok.isKey || tok.text !== seg) {
      return undefined;
    }
  }
  return params;
}

function targetOf(rest: Token[]): Target | undefined {
  if (rest.length === 0) return { kind: 'collection' };
  const [first, second] = rest;
  if (first.args || first.text === '') return undefined;
  if (rest.length === 1) {
    if (!first.isKey && first.text === '$count') return { kind: 'count' };
    if (!first.isKey && COLLECTION_ACTIONS.has(first.text))
      return { kind: 'collectionAction', action: first.text };
    return { kind: 'item', id: first.text };
  }
  if (rest.length === 2 && !second.isKey && ITEM_ACTIONS.has(second.text)) {
    return { kind: 'itemAction', id: first.text, action: second.text };
  }
  return undefined;
}

/**
 * resolvePath, with the user key in `/users/{key}/...` replaced by the key the user is filed under (the
 * object id when the directory knows the UPN), so both names reach one user's operations.
 */
export async function resolveUserPath(
  rawPath: string,
  version: ApiVersion,
  me: string | undefined,
  canonicalUser: (userKey: string) => Promise<string>,
): Promise<ResolvedPath | undefined> {
  const resolved = resolvePath(rawPath, version, me);
  const template = resolved?.template;
  if (!resolved || !template || resolved.params.userId === undefined || template.segments[0] === 'me') {
    return resolved;
  }
  const params = { ...resolved.params, userId: await canonicalUser(resolved.params.userId) };
  return { ...resolved, params, scope: template.scope(params), contextPath: template.contextPath(params) };
}

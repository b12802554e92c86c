/**
 * Graph's JSON for operations: properties in Graph's order (@odata.context, @odata.type, @odata.etag, id,
 * createdDateTime, lastActionDateTime, resourceLocation, status, statusDetail, then the subtype's own),
 * unset nullable properties as null, `@odata.type` on every operation so SDKs can pick the subtype.
 */
import type { OperationView } from '../model/operation.js';
import { etagOf } from '../model/etag.js';
import { visibleStatusName } from '../model/status.js';
import { OPERATION_TYPES, subtypeProperties } from '../model/types.js';

export interface RenderOptions {
  includeUnknownEnumMembers: boolean;
  /** `$select`ed property names; all when undefined. */
  select?: readonly string[];
}

export function renderOperation(record: OperationView, options: RenderOptions): Record<string, unknown> {
  // Control information first (OData JSON Format 4.01 §4.5): the type, then the entity's ETag, which
  // odata.metadata=minimal includes whenever the entity has one (docs/decisions/0015-etags.md).
  const out: Record<string, unknown> = {
    '@odata.type': '#' + OPERATION_TYPES[record.type].qualifiedName,
    '@odata.etag': etagOf(record),
  };
  const wanted = options.select ? new Set(options.select) : undefined;
  const want = (name: string) => !wanted || wanted.has(name);
  if (want('id')) out.id = record.id;
  if (want('createdDateTime')) out.createdDateTime = record.createdDateTime;
  if (want('lastActionDateTime')) out.lastActionDateTime = record.lastActionDateTime;
  if (want('resourceLocation')) out.resourceLocation = record.resourceLocation;
  if (want('status')) out.status = visibleStatusName(record.status, options.includeUnknownEnumMembers);
  if (want('statusDetail')) out.statusDetail = record.statusDetail;
  for (const p of subtypeProperties(record.type)) {
    if (!want(p.name)) continue;
    const value = record.props[p.name];
    out[p.name] = value === undefined ? (p.nullable ? null : structuredClone(p.defaultValue)) : value;
  }
  return out;
}

/** Text already written for a frozen (cached, shared) record: at most a few variants each. */
const renderedText = new WeakMap<OperationView, Map<string, string>>();
const MAX_VARIANTS_PER_RECORD = 4;

/**
 * A frozen record is one the store's read cache shares between readers until the operation changes
 * (store/sqlite/read-cache.ts), so its text is kept beside it and polling it costs no rendering; any other
 * record is rendered each time. `variant` must name everything `render` depends on.
 */
function memoized(record: OperationView, variant: string, render: () => string): string {
  if (!Object.isFrozen(record)) return render();
  let texts = renderedText.get(record);
  const known = texts?.get(variant);
  if (known !== undefined) return known;
  const text = render();
  if (!texts) renderedText.set(record, (texts = new Map()));
  if (texts.size < MAX_VARIANTS_PER_RECORD) texts.set(variant, text);
  return text;
}

/** A single operation's response body as JSON text. */
export function entityJson(record: OperationView, context: string, options: RenderOptions): string {
  // The context names the projection ($select), so it and the enum opt-in identify the variant; it starts
  // with the service root (a URL), so it never looks like an item's variant below.
  return memoized(record, `${options.includeUnknownEnumMembers ? 'u' : 'k'}${context}`, () =>
    JSON.stringify({ '@odata.context': context, ...renderOperation(record, options) }),
  );
}

/** An operation as an element of a collection's `value`, as JSON text. */
export function itemJson(record: OperationView, options: RenderOptions): string {
  const variant = `${options.includeUnknownEnumMembers ? 'U' : 'K'}#${options.select?.join(',') ?? '*'}`;
  return memoized(record, variant, () => JSON.stringify(renderOperation(record, options)));
}

/**
 * A collection's response body as JSON text, with the members as `itemJson` wrote them: the same text
 * `JSON.stringify` gives for { @odata.context, @odata.count?, value, @odata.nextLink? }.
 */
export function collectionJson(parts: {
  context: string;
  count?: number;
  items: string[];
  nextLink?: string;
}): string {
  let text = `{"@odata.context":${JSON.stringify(parts.context)}`;
  if (parts.count !== undefined) text += `,"@odata.count":${parts.count}`;
  text += `,"value":[${parts.items.join(',')}]`;
  if (parts.nextLink !== undefined) text += `,"@odata.nextLink":${JSON.stringify(parts.nextLink)}`;
  return `${text}}`;
}

export interface ContextOptions {
  /** `http://host:port/v1.0` */
  serviceRoot: string;
  contextPath: string;
  select?: readonly string[];
}

export function entityContext(o: ContextOptions, isFunctionResult = false): string {
  if (isFunctionResult) return `${o.serviceRoot}/$metadata#${o.contextPath}`;
  return `${o.serviceRoot}/$metadata#${o.contextPath}${projection(o.select)}/$entity`;
}

export function collectionContext(o: ContextOptions): string {
  return `${o.serviceRoot}/$metadata#${o.contextPath}${projection(o.select)}`;
}

const projection = (select?: readonly string[]) => (select ? `(${select.join(',')})` : '');

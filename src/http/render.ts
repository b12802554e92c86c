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

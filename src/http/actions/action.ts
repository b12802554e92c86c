/**
 * Graph actions that start an operation: what each one's path is, who may call it, how its body is
 * checked and what operation it makes. The route (actions-route.ts) turns a definition into
 * `202 Accepted` + `Location` + `Operation-Location` + `Retry-After`.
 */
import type { CollectionTemplate, FamilyName, PermissionSet } from '../../families/families.js';
import type { ApiVersion, OperationTypeName } from '../../model/types.js';
import type { Caller } from '../security.js';

export interface ActionRequest {
  version: ApiVersion;
  params: Readonly<Record<string, string>>;
  body: unknown;
  caller: Caller;
  /** `https://host/v1.0`: for resource locations in results. */
  serviceRoot: string;
}

export interface PreparedOperation {
  /** The family collection the operation is filed in, and that collection's path parameters. */
  collection:
    { family: FamilyName; template: CollectionTemplate; params: Record<string, string> } | 'siteCreation';
  type: OperationTypeName;
  /** Name of the built-in scenario whose timing and outcome apply. */
  scenario: string;
  /** What the operation reports when the work succeeds. */
  result: { resourceLocation?: string | null; statusDetail?: string | null; props?: Record<string, unknown> };
  /** Subtype properties the operation starts with. */
  props?: Record<string, unknown>;
  id?: string;
  /**
   * Graph keys some operations by what they work on (`contentTypeCopy,0x0101`, `refresh:<alertId>`): a
   * second start while that one is still running returns it; one after it ended runs it again under the
   * same id (docs/decisions/0018-derived-ids.md).
   */
  reuseActive?: boolean;
  /** The 202 body; none when undefined. */
  responseBody?: Record<string, unknown>;
  /** How the Location writes the key: `/operations/{id}` (default) or `operations('{id}')`. */
  keyForm?: 'segment' | 'parentheses';
}

export interface ActionDefinition {
  name: string;
  method: 'POST' | 'PATCH';
  versions: readonly ApiVersion[];
  /** Path segments after the version; `:name` captures a segment. */
  segments: readonly string[];
  family: FamilyName;
  /** Permissions to call it (least privileged first). */
  permissions: PermissionSet;
  /** The path parameter naming the user acted on, for the authentication family's rules. */
  userParam?: string;
  /** Checks the body (400 on anything wrong) and describes the operation to make. */
  prepare(request: ActionRequest): PreparedOperation;
}

/**
 * The longrun library: `createLongrun` with typed handlers (`defineHandler`), your own 202 actions,
 * operation handles, and `jwtAuth`. See docs/library.md. The engine's records and the service stay
 * internal: handles show operations as a Graph client sees them.
 */
export {
  createLongrun,
  AUTH_NONE_WARNING,
  type CreateLongrunOptions,
  type CreateLongrunOptions as LongrunOptions,
  type LongrunNode,
} from './library/create.js';
export { DEFAULT_DB_FILE } from './longrun.js';
export {
  defineHandler,
  InvalidInputError,
  DEFAULT_HANDLER_TYPE,
  type AnyHandler,
  type Handler,
  type HandlerName,
  type HandlerSpec,
  type InputOf,
} from './library/define-handler.js';
export { jwtAuth, type JwtAuthOptions, type LongrunAuth } from './library/auth.js';
export { WaitTimeoutError, type OperationHandle, type WaitOptions } from './library/handle.js';
export type { StartOptions } from './library/starter.js';
export type { ActionFor, ActionRequest, ActionSpec } from './library/actions.js';
export { LongrunOptionError } from './library/options-check.js';
export { SqliteStore, type SqliteStoreOptions } from './store/sqlite/sqlite-store.js';
export { PostgresStore, type PostgresStoreOptions } from './store/postgres/postgres-store.js';
export type { HandlerContext, HandlerResult } from './engine/handler.js';
export { PermanentError } from './engine/handler.js';
export type { OperationStore } from './store/store.js';
export { GraphError } from './model/errors.js';
export { OPERATION_TYPES, type OperationTypeName } from './model/types.js';
export type { ApiVersion } from './model/types.js';
export type { Operation, OperationStatus } from './client/types.js';
/** TypeBox, for handler input schemas: the same copy longrun checks inputs with. */
export { Type, type Static, type TSchema } from '@sinclair/typebox';
export { longrunPlugin } from './library/plugin.js';

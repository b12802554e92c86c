/** The longrun library: embed the service, or use its parts. */
export { createLongrun, DEFAULT_DB_FILE, type Longrun, type LongrunOptions } from './longrun.js';
export { SqliteStore, type SqliteStoreOptions } from './store/sqlite/sqlite-store.js';
export { PostgresStore, type PostgresStoreOptions } from './store/postgres/postgres-store.js';
export type { HandlerDefinition, HandlerContext, HandlerResult } from './engine/handler.js';
export { PermanentError } from './engine/handler.js';
export type { OperationStore } from './store/store.js';
export { OperationService } from './service/operation-service.js';
export { GraphError } from './model/errors.js';
export { STATUS, type StatusName } from './model/status.js';
export { OPERATION_TYPES, type OperationTypeName } from './model/types.js';
export type { OperationRecord } from './model/operation.js';

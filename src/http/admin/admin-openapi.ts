/**
 * The operator API's part of the OpenAPI document (src/http/openapi.ts): paths under /longrun/v1, their
 * filter parameters (the list admin-filter.ts reads) and response shapes, guarded by LongRun.Admin.
 */
import { Type, type TSchema } from '@sinclair/typebox';
import { FAMILY_NAMES } from '../../families/scopes.js';
import { STATUS } from '../../model/status.js';
import { ADMIN_PERMISSION } from '../../auth/permissions.js';
import { FILTER_PARAMETERS } from './admin-filter.js';
import { ADMIN_BASE } from './admin-route.js';

type Json = Record<string, unknown>;
type Add = (path: string, method: string, op: Json, params: string[]) => void;

const STATUS_NAMES = Object.keys(STATUS).filter((s) => s !== 'unknownFutureValue');
const nullable = <T extends TSchema>(t: T) => Type.Union([t, Type.Null()]);
const Error_ = Type.Object({ code: nullable(Type.String()), message: nullable(Type.String()) });

const Summary = Type.Object({
  key: Type.String({ description: 'Opaque: addresses the operation in this API.' }),
  id: Type.String(),
  family: Type.String({ enum: FAMILY_NAMES }),
  collection: Type.String({ description: 'The scope key of the collection it lives in.' }),
  type: Type.String(),
  status: Type.String({ enum: STATUS_NAMES }),
  statusDetail: nullable(Type.String()),
  percentComplete: nullable(Type.Number()),
  createdDateTime: Type.String({ format: 'date-time' }),
  lastActionDateTime: Type.String({ format: 'date-time' }),
  finishedDateTime: nullable(Type.String({ format: 'date-time' })),
  handler: nullable(Type.String()),
  attempts: Type.Integer(),
  maxAttempts: Type.Integer(),
  createdBy: nullable(Type.String()),
  error: nullable(Error_),
});

const Detail = Type.Composite([
  Summary,
  Type.Object({
    operation: Type.Object({}, { description: "The operation's Graph JSON." }),
    leaseOwner: nullable(Type.String()),
    leaseExpiresDateTime: nullable(Type.String({ format: 'date-time' })),
    nextRunDateTime: nullable(Type.String({ format: 'date-time' })),
    cancelRequested: Type.Boolean(),
    timeoutMs: nullable(Type.Integer()),
    checkpoint: Type.Unknown({ description: 'The state the last attempt saved (ctx.checkpoint), or null.' }),
    idempotencyKey: nullable(Type.String()),
    attemptList: Type.Array(
      Type.Object({
        number: Type.Integer(),
        worker: Type.String(),
        startedDateTime: Type.String({ format: 'date-time' }),
        endedDateTime: nullable(Type.String({ format: 'date-time' })),
        durationMs: nullable(Type.Integer()),
        outcome: nullable(Type.String()),
        error: nullable(Error_),
      }),
    ),
    history: Type.Array(
      Type.Object({
        at: Type.String({ format: 'date-time' }),
        kind: Type.String(),
        actor: Type.String(),
        fromStatus: nullable(Type.String()),
        toStatus: Type.String(),
      }),
    ),
  }),
]);

const Counts = Type.Record(Type.String(), Type.Integer());
const Bucket = Type.Object({
  startDateTime: Type.String({ format: 'date-time' }),
  created: Type.Integer(),
  finished: Type.Integer(),
  failed: Type.Integer(),
  durationP50Ms: nullable(Type.Integer()),
  durationP95Ms: nullable(Type.Integer()),
});
const Window = Type.Object({
  bucketSeconds: Type.Integer(),
  fromDateTime: Type.String({ format: 'date-time' }),
  totals: Bucket,
  buckets: Type.Array(Bucket),
});
const Overview = Type.Object({
  families: Type.Array(Type.Object({ family: Type.String(), counts: Counts, total: Type.Integer() })),
  handlers: Type.Array(Type.Object({ handler: Type.String(), counts: Counts, total: Type.Integer() })),
  lastHour: Window,
  lastDay: Window,
  latestFailures: Type.Array(Summary),
});

const filterValues = Type.Union([Type.String(), Type.Array(Type.String())]);
const BulkRequest = Type.Object(
  {
    action: Type.Union([Type.Literal('cancel'), Type.Literal('delete')]),
    filter: Type.Object(Object.fromEntries(FILTER_PARAMETERS.map((p) => [p, Type.Optional(filterValues)]))),
    dryRun: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);
const BulkResult = Type.Object({
  action: Type.String(),
  dryRun: Type.Boolean(),
  matched: Type.Integer({
    description: 'How many operations the filter selects that the action applies to.',
  }),
  done: Type.Integer(),
  skipped: Type.Array(Type.Object({ scope: Type.String(), id: Type.String(), reason: Type.String() })),
  more: Type.Boolean({ description: 'More than one request acts on (500): send it again.' }),
});

const json = (schema: unknown) => ({ 'application/json': { schema } });
const errors = {
  '4XX': { $ref: '#/components/responses/error' },
  '5XX': { $ref: '#/components/responses/error' },
};
const FILTER_DESCRIPTIONS: Record<(typeof FILTER_PARAMETERS)[number], string> = {
  family: `Comma-separated families: ${FAMILY_NAMES.join(', ')}.`,
  collection: 'Comma-separated collection scope keys, as lists return them.',
  status: `Comma-separated statuses: ${STATUS_NAMES.join(', ')}.`,
  type: 'Comma-separated operation types (richLongRunningOperation or microsoft.graph.richLongRunningOperation).',
  handler: 'Comma-separated handler names.',
  id: 'An operation id.',
  createdAfter: 'Created at or after (ISO 8601 with offset).',
  createdBefore: 'Created before (ISO 8601 with offset).',
  finishedAfter: 'Finished at or after (ISO 8601 with offset).',
  finishedBefore: 'Finished before (ISO 8601 with offset).',
};

export function adminPaths(add: Add): void {
  const common = {
    tags: ['operator (longrun)'],
    'x-longrun-permissions': { delegated: [ADMIN_PERMISSION], application: [ADMIN_PERMISSION] },
  };
  const keyPath = `${ADMIN_BASE}/operations/{key}`;
  add(
    `${ADMIN_BASE}/overview`,
    'get',
    {
      ...common,
      summary: "The tenant's counts by family, handler and status; activity and durations; latest failures.",
      responses: { '200': { description: 'The overview.', content: json(Overview) }, ...errors },
    },
    [],
  );
  add(
    `${ADMIN_BASE}/operations`,
    'get',
    {
      ...common,
      summary: "One list across the tenant's collections, newest first, keyset-paged.",
      parameters: [
        ...FILTER_PARAMETERS.map((name) => ({
          name,
          in: 'query',
          description: FILTER_DESCRIPTIONS[name],
          schema: { type: 'string' },
        })),
        {
          name: 'top',
          in: 'query',
          description: 'Page size (1-200, default 50).',
          schema: { type: 'integer' },
        },
        { name: 'skiptoken', in: 'query', description: 'From nextLink.', schema: { type: 'string' } },
        {
          name: 'count',
          in: 'query',
          description: 'Include the count of all matches.',
          schema: { type: 'boolean' },
        },
      ],
      responses: {
        '200': {
          description: 'A page.',
          content: json(
            Type.Object({
              count: Type.Optional(Type.Integer()),
              value: Type.Array(Summary),
              nextLink: Type.Optional(Type.String({ format: 'uri' })),
            }),
          ),
        },
        ...errors,
      },
    },
    [],
  );
  add(
    `${ADMIN_BASE}/operations/bulk`,
    'post',
    {
      ...common,
      summary: 'Cancel or delete what a filter selects (at most 500 per request); dryRun only counts.',
      requestBody: { required: true, content: json(BulkRequest) },
      responses: { '200': { description: 'What was done.', content: json(BulkResult) }, ...errors },
    },
    [],
  );
  add(
    keyPath,
    'get',
    {
      ...common,
      summary: 'An operation for operators: Graph JSON, handler, attempts and their errors, lease, history.',
      responses: { '200': { description: 'The operation.', content: json(Detail) }, ...errors },
    },
    ['key'],
  );
  add(
    keyPath,
    'delete',
    {
      ...common,
      summary: 'Delete a finished operation.',
      responses: { '204': { description: 'Deleted.' }, ...errors },
    },
    ['key'],
  );
  add(
    `${keyPath}/cancel`,
    'post',
    {
      ...common,
      summary: 'Cancel an operation (as POST .../cancel on its Graph URL).',
      responses: { '200': { description: 'The operation.', content: json(Summary) }, ...errors },
    },
    ['key'],
  );
  add(
    `${keyPath}/retry`,
    'post',
    {
      ...common,
      summary:
        'Run a failed or canceled handler-backed operation again, as a new operation in the same collection (the original keeps its terminal state).',
      responses: {
        '201': {
          description: 'The new operation; Location is its operator URL.',
          content: json(Type.Composite([Summary, Type.Object({ retryOf: Type.String() })])),
        },
        ...errors,
      },
    },
    ['key'],
  );
}

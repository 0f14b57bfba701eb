// Compile-time proof that the SDK's generated types fit the server's zod schemas, the ones the handlers validate
// with and the OpenAPI document is made from. Not a test file itself: the root type-check (tsc -p tsconfig.json)
// compiles it, and sdk/test/wire-types.test.ts compiles it on its own and checks that a broken copy fails.
//
// - received (callback bodies, API responses): whatever the server's schema lets it send fits the SDK type;
// - sent (callback replies, request bodies): the SDK type and the server schema's input type accept the same
//   objects (each is assignable to the other), so the SDK neither forbids what the server takes nor allows what
//   it refuses at the type level (value rules such as ranges are the IVR rules' job, sdk/src/ivr/rules.ts).
import type { conferenceRoutes } from '@sipms/shared/api/conference-routes';
import type { liveCallRoutes } from '@sipms/shared/api/live-call-routes';
import type { mediaRoutes } from '@sipms/shared/api/media-routes';
import type { sessionRoutes } from '@sipms/shared/api/session-routes';
import type { softphoneRoutes } from '@sipms/shared/api/softphone-routes';
import type { tenancyRoutes } from '@sipms/shared/api/tenancy-routes';
import type { CALLBACK_BODIES, CALLBACK_REPLIES } from '@sipms/shared/contracts/callbacks';
import type { z } from 'zod';
import type * as W from '../../src/generated/wire.js';

type IsNever<T> = [T] extends [never] ? true : false;
type Assignable<A, B> = [A] extends [B] ? true : false;
type Mutual<A, B> = Assignable<A, B> extends true ? Assignable<B, A> : false;
/** Compiles only when T is never: the names in T are the failures. */
type NoneFailing<T extends never> = T;
/** T without index signatures: the fields it names. */
type Named<T> = { [K in keyof T as string extends K ? never : number extends K ? never : K]: T[K] };
/** Every field path of T, through arrays and every member of a union (`stream.sampleRate`, `phrases.[].url`). */
type DeepKeys<T, P extends string = ''> = T extends readonly (infer E)[]
  ? DeepKeys<E, `${P}[].`>
  : T extends object
    ? {
        [K in keyof Named<T> & string]-?: `${P}${K}` | DeepKeys<NonNullable<Named<T>[K]>, `${P}${K}.`>;
      }[keyof Named<T> & string]
    : never;
/** Received: whatever the server sends fits, and the SDK names every field the server's schema names. */
type ReceivedFits<Server, Sdk> =
  Assignable<Server, Sdk> extends true ? IsNever<Exclude<DeepKeys<Server>, DeepKeys<Sdk>>> : false;
/** Sent: the same objects are accepted on both sides, and both name the same fields (an optional one too). */
type SentMatches<Sdk, Server> = Mutual<Sdk, Server> extends true ? Mutual<DeepKeys<Sdk>, DeepKeys<Server>> : false;

// ---- callbacks ---------------------------------------------------------------------------------------------------

type ServerBody<N extends keyof typeof CALLBACK_BODIES> = z.output<(typeof CALLBACK_BODIES)[N]>;
type ServerReply<N extends keyof typeof CALLBACK_REPLIES> = z.input<(typeof CALLBACK_REPLIES)[N]>;

export type CallbackNamesMatch = NoneFailing<
  Exclude<keyof typeof CALLBACK_BODIES, W.CallbackName> | Exclude<W.CallbackName, keyof typeof CALLBACK_BODIES>
>;
export type CallbackBodiesFit = NoneFailing<
  {
    [N in W.CallbackName]: ReceivedFits<ServerBody<N>, W.CallbackBodies[N]> extends true ? never : N;
  }[W.CallbackName]
>;
/**
 * Replies whose SDK type is looser than the server's schema because the OpenAPI document is: it renders callEvent's
 * `{}` alternative (`action: z.undefined().optional()`) as `action: {}`, i.e. anything. Only server → SDK holds for
 * them. Once the document says `not: {}` there, the generated type is exact and StaleLooseReplies fails: remove the
 * name from this list.
 */
type LooseReplies = 'callEvent';
export type CallbackRepliesMatch = NoneFailing<
  {
    [N in keyof W.CallbackReplies]: (
      N extends LooseReplies
        ? ReceivedFits<ServerReply<N>, W.CallbackReplies[N]>
        : SentMatches<W.CallbackReplies[N], ServerReply<N>>
    ) extends true
      ? never
      : N;
  }[keyof W.CallbackReplies]
>;
export type StaleLooseReplies = NoneFailing<
  { [N in LooseReplies]: Assignable<W.CallbackReplies[N], ServerReply<N>> extends true ? N : never }[LooseReplies]
>;
export type RepliesForTheRightCallbacks = NoneFailing<
  | Exclude<keyof W.CallbackReplies, keyof typeof CALLBACK_REPLIES>
  | Exclude<keyof typeof CALLBACK_REPLIES, keyof W.CallbackReplies>
>;

// ---- REST operations ---------------------------------------------------------------------------------------------

type Groups =
  | typeof tenancyRoutes
  | typeof mediaRoutes
  | typeof liveCallRoutes
  | typeof conferenceRoutes
  | typeof sessionRoutes
  | typeof softphoneRoutes;
type AllRoutes = ValuesOf<Groups>;
type ValuesOf<G> = G extends unknown ? G[keyof G] : never;
type ByOperation = { [R in AllRoutes as R['operationId']]: R };

type JsonBodyIn<R> = R extends { body: infer B } ? (B extends z.ZodType ? z.input<B> : never) : never;
type SuccessOut<R> = R extends { responses: infer Rs }
  ? {
      [S in keyof Rs]: Rs[S] extends { schema: infer Sc } ? (Sc extends z.ZodType ? z.output<Sc> : never) : never;
    }[keyof Rs]
  : never;
type ParamsIn<R, P extends 'params' | 'query'> = R extends { [K in P]: infer S }
  ? S extends z.ZodType
    ? z.input<S>
    : never
  : never;
type QueryOut<R> = R extends { query: infer S } ? (S extends z.ZodType ? z.output<S> : never) : never;
/** Query strings are coerced (z.coerce: input unknown): the SDK's query must be accepted and name the same keys. */
type QueryFits<Sdk, R> =
  IsNever<Sdk> extends true
    ? IsNever<QueryOut<R>>
    : Assignable<Sdk, ParamsIn<R, 'query'>> extends true
      ? Mutual<keyof Sdk, keyof QueryOut<R>>
      : false;

type OperationFits<K extends W.OperationId> = K extends keyof ByOperation
  ? [
      // A JSON body: the same objects on both sides; a raw body (audio) is bytes.
      W.Operations[K]['body'] extends Uint8Array
        ? true
        : SentMatches<W.Operations[K]['body'], JsonBodyIn<ByOperation[K]>>,
      // Every success response the server's schema allows fits the SDK's response type.
      IsNever<SuccessOut<ByOperation[K]>> extends true
        ? true
        : ReceivedFits<SuccessOut<ByOperation[K]>, W.Operations[K]['response']>,
      Mutual<W.Operations[K]['params'], ParamsIn<ByOperation[K], 'params'>>,
      QueryFits<W.Operations[K]['query'], ByOperation[K]>,
    ] extends [true, true, true, true]
    ? never
    : K
  : K;

export type OperationsMatchTheServer = NoneFailing<{ [K in W.OperationId]: OperationFits<K> }[W.OperationId]>;
export type EveryTenantRouteHasAnOperation = NoneFailing<Exclude<keyof ByOperation, W.OperationId>>;

/**
 * @sipms/sdk: the tenant SDK of SIP Mediaserver. Typed callbacks and a handler that verifies and dispatches them,
 * signature checks, a REST client and IVR command builders. No runtime dependencies.
 */

export {
  type CallbackHandler,
  createCallbackHandler,
  type FastifyInstanceLike,
  type NodeRequestLike,
  type NodeResponseLike,
} from './callbacks/adapters.js';
export type {
  CallbackContext,
  CallbackFunction,
  CallbackHandlerOptions,
  CallbackHandlers,
  CallbackRequest,
  CallbackResponse,
  HandlerResult,
  ReplyLike,
  SecretsSource,
} from './callbacks/handler.js';
export {
  type ClientOptions,
  type OperationInput,
  type OperationResponse,
  type RequestOptions,
  SipmsClient,
} from './client/client.js';
export { type ApiErrorCode, isSipmsApiError, SipmsApiError } from './client/errors.js';
export * from './generated/wire.js';
export {
  type AwsTtsParameters,
  assertIvrCommand,
  type ConferenceOptions,
  type DtmfOptions,
  IvrBuilder,
  IvrCommandError,
  ivr,
  type Phrase,
  phrase,
  type RecordOptions,
  type StreamOptions,
} from './ivr/builder.js';
export { IVR_LIMITS, type IvrProblem, ivrCommandProblems } from './ivr/rules.js';
export {
  ATTEMPT_HEADER,
  computeSignature,
  EVENT_ID_HEADER,
  SIGNATURE_HEADER,
  type SignatureCheck,
  type SignatureFailure,
  signPayload,
  type VerifyOptions,
  verifySignature,
  verifyStreamSignature,
} from './signature.js';

/**
 * @sipms/sdk/testkit: test a voice app against a real deployment. Start one on this machine (or point at one),
 * serve the app's callbacks through a recorder, place a call with a SIP caller of your choice, and assert on the
 * callbacks and the session journal it produced. Node.js only.
 */
export { type CallResult, type CallTarget, callAndRecord, type PlaceCall } from './call.js';
export {
  connectDeployment,
  type Deployment,
  type LocalDeploymentOptions,
  startLocalDeployment,
} from './deployment.js';
export { CallbackRecorder, type CallbackRecorderOptions, type RecordedCallback } from './recorder.js';

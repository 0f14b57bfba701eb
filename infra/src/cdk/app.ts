import { buildApp } from './build-app.js';

/** The CDK app (infra/cdk.json runs it): `npx cdk deploy -c sipDomain=sip.example.com`. */
buildApp().app.synth();

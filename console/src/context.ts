import type { Api, Credentials } from './api.js';
import type { Status } from './status.js';

/** What a page gets: the API, the signed-in tenant, a way to move to another page, its live region. */
export interface PageContext {
  api: Api;
  creds: Credentials | undefined;
  status: Status;
  /** The route's argument, e.g. the session id of `#/calls/<id>`. */
  param: string | undefined;
  navigate(hash: string): void;
  signIn(creds: Credentials): void;
}

export type Page = (ctx: PageContext) => Promise<HTMLElement>;

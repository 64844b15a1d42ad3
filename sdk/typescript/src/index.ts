// TypeScript SDK of the authd admin API. The types (schema.ts) are
// generated from the API's OpenAPI document by openapi-typescript
// (scripts/sdk-gen); requests go through openapi-fetch, typed by them.
import createClient, { type Client } from "openapi-fetch";
import type { components, paths } from "./schema.js";

export type { components, paths };
export type User = components["schemas"]["User"];
export type Problem = components["schemas"]["Problem"];

/** A client of the authd at baseUrl (its issuer's origin), authenticated
 * with an API key (authd apikeys create) or an access token. */
export function createAuthdClient(baseUrl: string, apiKey: string): Client<paths> {
  return createClient<paths>({
    baseUrl,
    headers: { Authorization: `Bearer ${apiKey}` },
  });
}

import { signedHeaders } from '../../local/connections-auth';

/** `fetch` for a local `@connections` URL, SigV4-signed with the local credentials as AWS requires. */
export async function connectionsFetch(
  url: string,
  init: { method: string; body?: string; headers?: Record<string, string> },
): Promise<Response> {
  const headers = await signedHeaders(url, init.method, init.body ?? '');
  return fetch(url, {
    method: init.method,
    ...(init.body === undefined ? {} : { body: init.body }),
    headers: { ...headers, ...init.headers },
  });
}

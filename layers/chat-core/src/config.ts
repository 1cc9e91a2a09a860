/** Settings the functions read from their environment (set in template.yaml). */

/** API Gateway closes every connection after 2 hours; items outlive that by a margin, then TTL removes them. */
export const DEFAULT_CONNECTION_LIFETIME_SECONDS = 2 * 60 * 60 + 15 * 60;

function integerSetting(name: string, fallback: number, least = 1): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < least) {
    throw new Error(`${name} must be an integer of at least ${least}, got "${raw}"`);
  }
  return value;
}

export function tableName(): string {
  const table = process.env.TABLE_NAME;
  if (!table) throw new Error('TABLE_NAME is not set: it names the chat table');
  return table;
}

export function connectionLifetimeSeconds(): number {
  return integerSetting('CONNECTION_LIFETIME_SECONDS', DEFAULT_CONNECTION_LIFETIME_SECONDS);
}

export const DEFAULT_MESSAGE_LIFETIME_SECONDS = 24 * 60 * 60;

/** Seconds a message stays in its room's history (a template parameter). */
export function messageLifetimeSeconds(): number {
  return integerSetting('MESSAGE_LIFETIME_SECONDS', DEFAULT_MESSAGE_LIFETIME_SECONDS);
}

/** Rooms one connection may be in at once (a template parameter). */
export function maxRoomsPerConnection(): number {
  return integerSetting('MAX_ROOMS_PER_CONNECTION', 50);
}

/**
 * The token bucket every connection's `send`, `join` and `leave` draw from (template parameters): it refills at
 * `rate` per second and holds `burst`, enough for a reconnecting client to rejoin all its rooms at once.
 */
export function messageRateLimit(): { rate: number; burst: number } {
  return {
    rate: integerSetting('MESSAGE_RATE_PER_CONNECTION', 5),
    burst: integerSetting('MESSAGE_BURST_PER_CONNECTION', 60),
  };
}

/**
 * How many `@connections` POSTs one fan-out keeps in flight. Each waits a round trip (~20 ms in a region)
 * and costs ~0.2 ms of CPU, so 128 keeps a fan-out bound by neither (bench: latencyBound).
 */
export function fanoutConcurrency(): number {
  return integerSetting('FANOUT_CONCURRENCY', 128);
}

/** Optional `@connections` endpoint; by default it is derived from each event (`https://{domainName}/{stage}`). */
export function connectionsEndpointOverride(): string | undefined {
  return process.env.CONNECTIONS_ENDPOINT || undefined;
}

/** DynamoDB `Limit` per Query page (unset: DynamoDB's 1 MB pages). */
export function queryPageSize(): number | undefined {
  return process.env.QUERY_PAGE_SIZE ? integerSetting('QUERY_PAGE_SIZE', 1) : undefined;
}

/** How clients sign in (the template's AuthMode): `none` lets anyone pick a name with `?name=`. */
export type AuthMode = 'none' | 'cognito' | 'jwt';

export function authMode(): AuthMode {
  const mode = process.env.AUTH_MODE || 'none';
  if (mode !== 'none' && mode !== 'cognito' && mode !== 'jwt')
    throw new Error(`AUTH_MODE must be none, cognito or jwt, got "${mode}"`);
  return mode;
}

/** Where a client's sign-in token travels (the template's AuthTokenSource). */
export function authTokenSource(): 'query' | 'header' {
  const source = process.env.AUTH_TOKEN_SOURCE || 'query';
  if (source !== 'query' && source !== 'header')
    throw new Error(`AUTH_TOKEN_SOURCE must be query or header, got "${source}"`);
  return source;
}

/** The fan-out function sends hand a big room's shards to (unset: a send posts to every member itself). */
export function fanoutFunctionName(): string | undefined {
  return process.env.FANOUT_FUNCTION_NAME || undefined;
}

/** Members one invocation posts to; a bigger room is split into shards of this size (a template parameter). */
export function fanoutShardSize(): number {
  return integerSetting('FANOUT_SHARD_SIZE', 2000);
}

/**
 * How long a busy room's batching window collects messages for one `messages` frame (the template's
 * BatchWindowMs); 0: off, every send posts its own message.
 */
export function batchWindowMs(): number {
  return integerSetting('BATCH_WINDOW_MS', 0, 0);
}

/** The function that delivers a batching window's messages when it ends (set when batching is on). */
export function batcherFunctionName(): string | undefined {
  return process.env.BATCHER_FUNCTION_NAME || undefined;
}

import { sleep } from './concurrency';
import { AwsHttpError, answerError, awsRegion, payloadOf, SignedRequests } from './signed-http';

// Lambda's Invoke API, asynchronous only: the event is queued by Lambda (202), which runs it, retries a
// failed run twice and then hands the event to the function's on-failure destination.

/** Lambda answers an Invoke within a second; a slow answer is one more try. */
const INVOKE_TIMEOUT_MS = 5000;
const ATTEMPTS = 3;

/** AWS_ENDPOINT_URL_LAMBDA as the SDK reads it (the local stack sets it), else the region's endpoint. */
function lambdaEndpoint(): URL {
  return new URL(process.env.AWS_ENDPOINT_URL_LAMBDA || `https://lambda.${awsRegion()}.amazonaws.com`);
}

/** Invoke with InvocationType Event; resolves once Lambda has queued the event. */
export async function invokeAsync(functionName: string, event: unknown): Promise<void> {
  const invocations = new SignedRequests({
    service: 'lambda',
    url: lambdaEndpoint(),
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-amz-invocation-type': 'Event' },
    payload: payloadOf(JSON.stringify(event)),
    timeoutMs: INVOKE_TIMEOUT_MS,
  });
  const path = `/2015-03-31/functions/${encodeURIComponent(functionName)}/invocations`;
  for (let attempt = 1; ; attempt++) {
    try {
      const answer = await invocations.send(path);
      if (answer.status === 202) return;
      throw answerError(answer);
    } catch (error) {
      const retryable =
        !(error instanceof AwsHttpError) ||
        error.statusCode === 0 ||
        error.statusCode === 429 ||
        error.statusCode >= 500;
      if (!retryable || attempt >= ATTEMPTS) throw error;
      await sleep(Math.random() * 100 * 2 ** attempt);
    }
  }
}

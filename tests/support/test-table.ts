import { createScratchTable, type ScratchTable } from '../../local/dynamodb';

export const TEMPLATE_PATH = `${__dirname}/../../template.yaml`;

/** The build cache of template.yaml that the global setup filled, shared by every stack and harness. */
export function sharedBuildDir(): string {
  const dir = process.env.CHAT_TEST_BUILD_DIR;
  if (!dir) throw new Error('CHAT_TEST_BUILD_DIR is unset: run these tests through jest (global setup)');
  return dir;
}

export type TestTable = ScratchTable;

/** A fresh table built from template.yaml's ChatTable resource, so code and template cannot drift. */
export async function createTestTable(): Promise<TestTable> {
  const endpoint = process.env.AWS_ENDPOINT_URL_DYNAMODB;
  if (!endpoint)
    throw new Error('AWS_ENDPOINT_URL_DYNAMODB is unset: run integration tests through jest (global setup)');
  return createScratchTable(endpoint, {
    templatePath: TEMPLATE_PATH,
    logicalId: 'ChatTable',
    prefix: 'chat-test',
  });
}

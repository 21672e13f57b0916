import { CreateAccessKeyCommand, CreateUserCommand, IAMClient } from '@aws-sdk/client-iam';
import type { AccessKeyPair } from '../../src/domain/connection.js';

/** Creates an IAM user with one access key in moto, as an administrator would (signature checking off). */
export async function motoUserWithKey(motoUrl: string, userName: string): Promise<AccessKeyPair> {
  const iam = new IAMClient({
    endpoint: motoUrl,
    region: 'us-east-1',
    credentials: { accessKeyId: 'admin', secretAccessKey: 'admin' },
  });
  try {
    await iam.send(new CreateUserCommand({ UserName: userName }));
    const { AccessKey } = await iam.send(new CreateAccessKeyCommand({ UserName: userName }));
    return { accessKeyId: AccessKey!.AccessKeyId!, secretAccessKey: AccessKey!.SecretAccessKey! };
  } finally {
    iam.destroy();
  }
}

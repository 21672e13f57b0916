import { describe, expect, it } from 'vitest';
import { resolveRegion } from '../../../src/domain/region.js';

describe('the region rule', () => {
  const all = {
    flag: 'eu-west-1',
    connection: 'eu-west-2',
    env: { AWS_REGION: 'eu-west-3', AWS_DEFAULT_REGION: 'eu-north-1' },
    profileRegion: 'ap-south-1',
  };

  it('takes the flag, the connection, AWS_REGION, AWS_DEFAULT_REGION, the profile, then us-east-1, in that order', () => {
    expect(resolveRegion(all)).toEqual({ region: 'eu-west-1', source: 'flag' });
    expect(resolveRegion({ ...all, flag: undefined })).toEqual({ region: 'eu-west-2', source: 'connection' });
    expect(resolveRegion({ ...all, flag: undefined, connection: undefined })).toEqual({
      region: 'eu-west-3',
      source: 'AWS_REGION',
    });
    expect(resolveRegion({ env: { AWS_DEFAULT_REGION: 'eu-north-1' }, profileRegion: 'ap-south-1' })).toEqual({
      region: 'eu-north-1',
      source: 'AWS_DEFAULT_REGION',
    });
    expect(resolveRegion({ env: {}, profileRegion: 'ap-south-1' })).toEqual({
      region: 'ap-south-1',
      source: 'profile',
    });
    expect(resolveRegion({ env: {} })).toEqual({ region: 'us-east-1', source: 'default' });
  });

  it('treats an empty or blank value as absent', () => {
    expect(resolveRegion({ flag: '', connection: ' ', env: { AWS_REGION: '' } })).toEqual({
      region: 'us-east-1',
      source: 'default',
    });
  });
});

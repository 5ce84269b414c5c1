import type { S3Client } from '@aws-sdk/client-s3';
import type { Readable } from 'node:stream';
import { accessDenied, notFound, serverError } from './errors';
import type { RemoteSettings } from './settings';
import type { RemoteBody, RemoteFile, RemoteHead } from './types';
import { TransientFetchError } from './types';
import { parseS3Uri } from './uri';

// s3://bucket/prefix/ sources (and backup targets), through the AWS SDK v3 S3 client: endpoint, region and
// credentials come from environment variables or the standard AWS credential chain, never from a run's input.

export function s3Endpoint(settings: RemoteSettings): string | undefined {
  return settings.GUDANG_S3_ENDPOINT ?? settings.AWS_ENDPOINT_URL_S3 ?? settings.AWS_ENDPOINT_URL;
}

/** Which credential the client will use, by name only. */
export function s3CredentialName(settings: RemoteSettings): string {
  if (settings.AWS_ACCESS_KEY_ID) return 'the access key from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY';
  if (settings.AWS_PROFILE) return `the AWS profile "${settings.AWS_PROFILE}" (AWS_PROFILE)`;
  return 'the default AWS credential chain (no AWS_ACCESS_KEY_ID or AWS_PROFILE set)';
}

const clients = new Map<string, S3Client>();

/** The AWS SDK, loaded on first use: a worker that never reads S3 does not hold it in memory (about 25 MiB). */
export const s3Sdk = () => import('@aws-sdk/client-s3');

/** An S3 service error (what the SDK's S3ServiceException carries), recognised without loading the SDK. */
export function isS3ServiceError(err: unknown): err is Error & { name: string; $metadata: { httpStatusCode?: number } } {
  return err instanceof Error && typeof (err as { $metadata?: unknown }).$metadata === 'object' && typeof (err as { $fault?: unknown }).$fault === 'string';
}

export async function s3Client(settings: RemoteSettings): Promise<S3Client> {
  const { S3Client } = await s3Sdk();
  const endpoint = s3Endpoint(settings);
  const region = settings.AWS_REGION ?? settings.AWS_DEFAULT_REGION ?? 'us-east-1';
  const forcePathStyle = settings.GUDANG_S3_FORCE_PATH_STYLE ? settings.GUDANG_S3_FORCE_PATH_STYLE === 'true' : endpoint !== undefined;
  const key = JSON.stringify([endpoint, region, forcePathStyle, settings.AWS_ACCESS_KEY_ID ?? '', settings.AWS_PROFILE ?? '']);
  let client = clients.get(key);
  if (!client) {
    // the SDK's own retries stay off: the download loop and the activity retry policy own retrying
    client = new S3Client({ endpoint, region, forcePathStyle, maxAttempts: 1 });
    clients.set(key, client);
  }
  return client;
}

type Named = Pick<RemoteFile, 'uri' | 'source' | 'credential'>;

/** The typed error for an S3 failure: missing key and refused access are final; the rest is retried. */
export function s3Error(file: Named, err: unknown): Error {
  if (isS3ServiceError(err)) {
    const status = err.$metadata.httpStatusCode ?? 0;
    const detail = `${err.name}${status ? `, HTTP ${status}` : ''}`;
    if (status === 404 || err.name === 'NoSuchKey' || err.name === 'NotFound' || err.name === 'NoSuchBucket') return notFound(file, detail);
    if (status === 401 || status === 403 || /AccessDenied|InvalidAccessKeyId|SignatureDoesNotMatch|Forbidden/.test(err.name)) return accessDenied(file, detail);
    if (status === 412) return new TransientFetchError(`${file.uri}: changed while being downloaded (${detail}); starting again`, false);
    return serverError(file, detail);
  }
  if ((err as Error)?.name === 'AbortError') return err as Error;
  return new TransientFetchError(`${file.uri}: request failed (${(err as Error).message})`, false);
}

/** S3's ETag of a single-part upload is the MD5 of the object; a multipart ETag ("...-N") is not. */
const md5OfEtag = (etag: string | undefined): string | undefined => {
  const plain = etag?.replace(/"/g, '');
  return plain && /^[0-9a-f]{32}$/i.test(plain) ? plain : undefined;
};

export function s3File(source: string, uri: string, settings: RemoteSettings): RemoteFile {
  const { bucket, key } = parseS3Uri(uri);
  const client = () => s3Client(settings);
  const file: RemoteFile = {
    uri,
    source,
    credential: s3CredentialName(settings),
    resumable: true,
    async head(signal): Promise<RemoteHead> {
      try {
        const { HeadObjectCommand } = await s3Sdk();
        const out = await (await client()).send(new HeadObjectCommand({ Bucket: bucket, Key: key }), { abortSignal: signal });
        return { etag: out.ETag, size: out.ContentLength, md5: md5OfEtag(out.ETag), contentType: out.ContentType };
      } catch (err) {
        throw s3Error(file, err);
      }
    },
    async open(offset, etag, signal): Promise<RemoteBody> {
      try {
        const { GetObjectCommand } = await s3Sdk();
        const out = await (await client()).send(
          new GetObjectCommand({ Bucket: bucket, Key: key, Range: offset > 0 ? `bytes=${offset}-` : undefined, IfMatch: etag }),
          { abortSignal: signal },
        );
        const partial = offset > 0 && out.ContentRange !== undefined;
        const total = partial ? Number(/\/(\d+)$/.exec(out.ContentRange ?? '')?.[1]) : out.ContentLength;
        return {
          offset: partial ? offset : 0,
          length: out.ContentLength,
          size: Number.isFinite(total) ? total : undefined,
          etag: out.ETag,
          md5: partial ? undefined : md5OfEtag(out.ETag),
          contentType: out.ContentType,
          body: out.Body as Readable,
        };
      } catch (err) {
        throw s3Error(file, err);
      }
    },
  };
  return file;
}

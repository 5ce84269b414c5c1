import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { isS3ServiceError, s3Client, s3CredentialName, s3Sdk } from '../sources/remote/s3';
import { remoteSettings } from '../sources/remote/settings';
import { parseS3Uri, sourceKind } from '../sources/remote/uri';

// Where backups live: a local folder or s3://bucket/prefix/ (any S3-compatible store, credentials from the
// environment as for S3 sources). A backup is a folder <location>/<backup id>/ holding manifest.json and one
// compressed file per table. Files are written under a temporary name and renamed (local) or uploaded whole (S3),
// so a half-written file never carries its final name.

export interface BackupStore {
  /** The location as given (a folder or an s3:// URI), for messages. */
  location: string;
  write(name: string, body: Readable): Promise<void>;
  read(name: string): Promise<Readable>;
  /** Names of the backup folders (ids) at the location. */
  listBackups(): Promise<string[]>;
  removeBackup(id: string): Promise<void>;
}

function localStore(dir: string): BackupStore {
  const root = path.resolve(dir);
  return {
    location: root,
    async write(name, body) {
      const target = path.join(root, name);
      await mkdir(path.dirname(target), { recursive: true });
      const tmp = `${target}.partial`;
      await pipeline(body, createWriteStream(tmp));
      await rename(tmp, target);
    },
    async read(name) {
      const stream = createReadStream(path.join(root, name));
      await new Promise<void>((resolve, reject) => {
        stream.once('open', () => resolve());
        stream.once('error', reject);
      });
      return stream;
    },
    async listBackups() {
      const names = await readdir(root, { withFileTypes: true }).catch(() => []);
      return names.filter((d) => d.isDirectory()).map((d) => d.name);
    },
    async removeBackup(id) {
      await rm(path.join(root, id), { recursive: true, force: true });
    },
  };
}

function s3Store(uri: string): BackupStore {
  const settings = remoteSettings();
  const { bucket, key } = parseS3Uri(uri.endsWith('/') ? uri : `${uri}/`);
  const prefix = key.replace(/^\/+/, '');
  const client = () => s3Client(settings);
  const explain = (err: unknown, what: string): Error => {
    if (isS3ServiceError(err)) {
      const status = err.$metadata.httpStatusCode;
      const who = status === 401 || status === 403 ? ` with ${s3CredentialName(settings)}` : '';
      return new Error(`${what}: ${err.name}${status ? ` (HTTP ${status})` : ''}${who}`);
    }
    return err as Error;
  };
  return {
    location: `s3://${bucket}/${prefix}`,
    async write(name, body) {
      try {
        const { Upload } = await import('@aws-sdk/lib-storage');
        await new Upload({ client: await client(), params: { Bucket: bucket, Key: `${prefix}${name}`, Body: body }, queueSize: 2, partSize: 8 * 1024 * 1024 }).done();
      } catch (err) {
        throw explain(err, `writing s3://${bucket}/${prefix}${name}`);
      }
    },
    async read(name) {
      try {
        const { GetObjectCommand } = await s3Sdk();
        const out = await (await client()).send(new GetObjectCommand({ Bucket: bucket, Key: `${prefix}${name}` }));
        return out.Body as Readable;
      } catch (err) {
        throw explain(err, `reading s3://${bucket}/${prefix}${name}`);
      }
    },
    async listBackups() {
      const ids: string[] = [];
      const { ListObjectsV2Command } = await s3Sdk();
      const s3 = await client();
      let token: string | undefined;
      do {
        const out = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, Delimiter: '/', ContinuationToken: token })).catch((err: unknown) => {
          throw explain(err, `listing s3://${bucket}/${prefix}`);
        });
        for (const p of out.CommonPrefixes ?? []) ids.push(p.Prefix!.slice(prefix.length).replace(/\/$/, ''));
        token = out.NextContinuationToken;
      } while (token);
      return ids;
    },
    async removeBackup(id) {
      const { DeleteObjectsCommand, ListObjectsV2Command } = await s3Sdk();
      const s3 = await client();
      let token: string | undefined;
      do {
        const out = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: `${prefix}${id}/`, ContinuationToken: token }));
        const keys = (out.Contents ?? []).map((o) => ({ Key: o.Key! }));
        if (keys.length) await s3.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: keys } }));
        token = out.NextContinuationToken;
      } while (token);
    },
  };
}

export function openStore(location: string): BackupStore {
  const kind = sourceKind(location);
  if (kind === 'local') return localStore(location);
  if (kind === 's3') return s3Store(location);
  throw new Error(`backups go to a folder or an s3:// URI, not ${location}`);
}

// What every remote source kind (HTTP, S3, Google Drive) provides to the download cache: the object's identity and
// a body stream from an offset. Kinds differ only in how they locate and open a file, never in what follows.

export interface RemoteHead {
  /** ETag or revision; a changed value means a changed file. */
  etag?: string;
  size?: number;
  /** Hex MD5 the store vouches for (S3 single-part ETag, Drive md5Checksum, HTTP Content-MD5), when known. */
  md5?: string;
  contentType?: string;
}

export interface RemoteBody extends RemoteHead {
  /** Byte offset of the first body byte (the requested offset when the store honoured the range, else 0). */
  offset: number;
  /** Bytes the store said it would send (Content-Length), when known. */
  length?: number;
  body: AsyncIterable<Uint8Array>;
}

export interface RemoteFile {
  /** The file's URI (never with credentials); what errors and ops.loads name. */
  uri: string;
  /** The source folder it was found under. */
  source: string;
  /** Which credential is used, by name (an environment variable, a key file's client_email), never the value. */
  credential: string;
  /** Metadata (size, ETag or revision); throws typed errors for missing files and refused access. */
  head(signal: AbortSignal): Promise<RemoteHead>;
  /** The body from `offset` if the file still has `etag`, else the whole body (offset 0). */
  open(offset: number, etag: string | undefined, signal: AbortSignal): Promise<RemoteBody>;
  /** Whether a ranged re-open is possible (Google Sheets exports are not). */
  resumable: boolean;
}

/** A failure worth another try inside the activity (timeouts, 5xx, short bodies, checksum mismatches). */
export class TransientFetchError extends Error {
  override readonly name = 'TransientFetchError';
  constructor(
    message: string,
    /** Short body and checksum mismatch fail for good once the tries are used up; timeouts and 5xx stay retryable. */
    readonly finalWhenExhausted: boolean,
  ) {
    super(message);
  }
}

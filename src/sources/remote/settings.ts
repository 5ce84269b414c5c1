import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';

// Settings of remote sources, read from the worker's environment when a file is fetched. Credentials are read here
// and nowhere else; they never travel through workflow inputs, results, history or the ops tables.

const positiveInt = (fallback: number) => z.coerce.number().int().positive().default(fallback);

const schema = z.object({
  /** Where fetched files are cached (one folder per URI and version). Workers should share the same setting. */
  GUDANG_CACHE_DIR: z.string().min(1).default(path.join(os.tmpdir(), 'gudang-cache')),
  /** Upper bound of the cache; least recently used files are removed first (default 8 GiB). */
  GUDANG_CACHE_MAX_BYTES: positiveInt(8 * 1024 ** 3),
  /** Cached files unused this long are removed (default 24 h). */
  GUDANG_CACHE_MAX_AGE_HOURS: positiveInt(24),
  /** Tries of one download inside the activity before it gives up (then the activity's retry policy takes over). */
  GUDANG_FETCH_ATTEMPTS: positiveInt(4),
  /** First back-off between tries, doubled each time (default 500 ms). */
  GUDANG_FETCH_BACKOFF_MS: positiveInt(500),
  /** No response headers, or no body bytes, for this long is a timeout (default 30 s). */
  GUDANG_FETCH_TIMEOUT_MS: positiveInt(30_000),
  /** HTTP(S) sources: sent as `Authorization: Bearer <token>` when set. */
  GUDANG_HTTP_TOKEN: z.string().min(1).optional(),
  /** S3: endpoint of an S3-compatible store (else AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL / AWS itself). */
  GUDANG_S3_ENDPOINT: z.string().url().optional(),
  AWS_ENDPOINT_URL_S3: z.string().url().optional(),
  AWS_ENDPOINT_URL: z.string().url().optional(),
  AWS_REGION: z.string().min(1).optional(),
  AWS_DEFAULT_REGION: z.string().min(1).optional(),
  /** Path-style bucket addressing (default: on when a custom endpoint is set). */
  GUDANG_S3_FORCE_PATH_STYLE: z.enum(['true', 'false']).optional(),
  AWS_ACCESS_KEY_ID: z.string().optional(),
  AWS_PROFILE: z.string().optional(),
  /** Google Drive: path of a service-account key file (JSON). */
  GUDANG_GDRIVE_KEY_FILE: z.string().min(1).optional(),
  /** Google Drive API base (default https://www.googleapis.com); tests point it at the local stand-in. */
  GUDANG_GDRIVE_API_URL: z.string().url().default('https://www.googleapis.com'),
  /** OAuth token endpoint (default: the key file's token_uri). */
  GUDANG_GDRIVE_TOKEN_URL: z.string().url().optional(),
});

export type RemoteSettings = Readonly<z.infer<typeof schema>>;

export function remoteSettings(env: NodeJS.ProcessEnv = process.env): RemoteSettings {
  const parsed = schema.safeParse(env);
  if (!parsed.success) {
    // only names and messages, never values: some of these variables are secrets
    const lines = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    throw new Error(`invalid remote source settings: ${lines.join('; ')}`);
  }
  return Object.freeze(parsed.data);
}

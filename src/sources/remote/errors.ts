import { InputError } from '../../errors';
import type { RemoteFile } from './types';
import { TransientFetchError } from './types';

// The errors every remote kind raises, worded the same way: what (the URI), where from (the source), and for refused
// access which credential was used (its name, never its value).

export function notFound(file: Pick<RemoteFile, 'uri' | 'source'>, detail: string): InputError {
  return new InputError('SourceFileMissing', `source file ${file.uri} not found (${detail}) in source ${file.source}`, { uri: file.uri, source: file.source });
}

export function accessDenied(file: Pick<RemoteFile, 'uri' | 'source' | 'credential'>, detail: string): InputError {
  return new InputError('SourceAccessDenied', `access to ${file.uri} refused (${detail}) with ${file.credential}; source ${file.source}`, {
    uri: file.uri,
    source: file.source,
    credential: file.credential,
  });
}

export function serverError(file: Pick<RemoteFile, 'uri'>, detail: string): TransientFetchError {
  return new TransientFetchError(`${file.uri}: ${detail}; will retry`, false);
}

const EXPECTED: Record<string, string> = {
  excel: 'an Excel workbook (.xlsx)',
  csv: 'CSV text',
  json: 'a JSON document',
  parquet: 'a Parquet file',
};

/** An HTML page (a login or error page) where a data file was expected: names what was received. */
export function htmlReceived(file: Pick<RemoteFile, 'uri'>, format: string, contentType: string | undefined, head: Buffer): InputError {
  const text = head.toString('utf8');
  const title = /<title[^>]*>([^<]{0,120})/i.exec(text)?.[1]?.trim();
  const what = `an HTML page${contentType ? ` (Content-Type ${contentType})` : ''}${title ? ` titled ${JSON.stringify(title)}` : ''}`;
  return new InputError('SourceFormatError', `${file.uri}: received ${what} where ${EXPECTED[format] ?? `a ${format} file`} was expected`, { uri: file.uri });
}

/** True when the first bytes are an HTML document. */
export function looksLikeHtml(head: Buffer, contentType: string | undefined): boolean {
  if (contentType && /^text\/html|^application\/xhtml/i.test(contentType)) return true;
  const start = head.subarray(0, 512).toString('utf8').replace(/^\uFEFF/, '').trimStart().toLowerCase();
  return start.startsWith('<!doctype html') || start.startsWith('<html') || start.startsWith('<head') || start.startsWith('<body');
}

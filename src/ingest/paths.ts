import { realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import { InputError } from '../errors';

// Where source files may come from. The source directory arrives in the run's input (a person or a schedule typed
// it); the file name comes from the registry. With GUDANG_SOURCE_ROOT set, both must resolve, symlinks followed,
// to a place inside that root: "../../etc/passwd" or a symlink pointing out of the root is refused.

function inside(root: string, candidate: string): boolean {
  const rel = path.relative(root, candidate);
  // "..data" is an ordinary folder name: only ".." itself (or "../...") leaves the root
  return rel === '' || (rel !== '..' && !rel.startsWith(`..${path.sep}`) && !path.isAbsolute(rel));
}

function refused(displayName: string, why: string): InputError {
  return new InputError('SourcePathRefused', `${displayName}: refused: ${why}`, { file: displayName });
}

/** realpath, or undefined when the path does not exist (any other error is thrown). */
async function realOrMissing(p: string): Promise<string | undefined> {
  try {
    return await realpath(p);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw err;
  }
}

/**
 * The absolute, symlink-free path of `file` inside `sourceDir`, checked against `sourceRoot` when one is configured.
 * A missing file is SourceFileMissing (after the confinement checks, so a probe outside the root learns nothing);
 * a path outside the root is SourcePathRefused; both are bad input, never retried.
 */
export async function resolveSourceFile(sourceDir: string, file: string, sourceRoot?: string): Promise<string> {
  const displayName = file;
  if (path.isAbsolute(file) || file.split(/[\\/]/).includes('..')) throw refused(displayName, 'a source file name must be a plain relative name');
  const root = sourceRoot ? path.resolve(sourceRoot) : undefined;
  const dir = path.resolve(sourceDir);
  const wanted = path.join(dir, file);
  if (root) {
    const realRoot = (await realOrMissing(root)) ?? root;
    if (!inside(root, wanted)) throw refused(displayName, `the source directory ${JSON.stringify(sourceDir)} is outside the source root`);
    const realDir = await realOrMissing(dir);
    if (realDir && !inside(realRoot, realDir)) throw refused(displayName, `the source directory ${JSON.stringify(sourceDir)} leads outside the source root (symlink)`);
    const real = await realOrMissing(wanted);
    if (real && !inside(realRoot, real)) throw refused(displayName, 'the file is a symlink to a place outside the source root');
  }
  const real = await realOrMissing(wanted);
  if (!real) {
    throw new InputError('SourceFileMissing', `source file ${displayName} not found (looked for ${wanted})`, {
      file: displayName,
    });
  }
  const s = await stat(real);
  if (!s.isFile()) throw new InputError('SourceFormatError', `${displayName}: not a regular file`, { file: displayName });
  return real;
}

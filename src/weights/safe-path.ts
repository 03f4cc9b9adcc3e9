/**
 * The rules for names that come from outside (a Hub endpoint's headers and listings, a URL, the
 * user, a refs/ file in the cache) before they become paths: what the Hub's formats allow, nothing
 * more. An endpoint set in HF_ENDPOINT, or anyone on the path of an http:// one, would otherwise
 * choose where convcut writes (an ETag of `../../../home/me/.bashrc`).
 */
import path from 'node:path';

/** A git commit as the Hub names it: exactly 40 lowercase hex digits. */
export const isHubCommit = (s: string): boolean => /^[0-9a-f]{40}$/.test(s);

/** A Hub ETag (W/ and quotes stripped): a git blob sha1 (40 hex) or an LFS file's sha256 (64 hex). */
export const isHubHash = (s: string): boolean => /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/.test(s);

/**
 * Why `name` is not a safe relative path (segments joined by `/`, none empty, `.` or `..`, no
 * backslash, NUL or other control character, not absolute), or undefined when it is one.
 */
export function unsafePathReason(name: string): string | undefined {
  if (name === '') return 'empty';
  if (name.startsWith('/') || path.isAbsolute(name) || /^[a-zA-Z]:/.test(name)) return 'absolute';
  // eslint-disable-next-line no-control-regex -- control characters are exactly what is refused
  if (/[\u0000-\u001f\u007f]/.test(name)) return 'a control character';
  if (name.includes('\\')) return 'a backslash';
  for (const seg of name.split('/')) {
    if (seg === '') return 'an empty segment';
    if (seg === '.' || seg === '..') return `a "${seg}" segment`;
  }
  return undefined;
}

/** `s` quoted for a one-line message: escapes shown, and cut if long. */
export function quote(s: string, max = 80): string {
  const q = JSON.stringify(s);
  return q.length <= max ? q : `${q.slice(0, max - 2)}…"`;
}

/**
 * `p`, resolved, after checking that it lies inside `dir` (not `dir` itself): every path a cache
 * writes goes through this, so a name that slipped past the rules above still cannot leave it.
 */
export function insideDir(dir: string, p: string, what: string): string {
  const root = path.resolve(dir);
  const full = path.resolve(p);
  const rel = path.relative(root, full);
  if (rel === '' || rel === '..' || rel.startsWith(`..${path.sep}`) || path.isAbsolute(rel))
    throw new Error(`${what}: ${quote(full, 200)} is not inside ${root}; refusing to write it`);
  return full;
}

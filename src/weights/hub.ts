/**
 * Files from the Hugging Face Hub, the way its own clients fetch them, into the cache they share
 * (so a file Python's huggingface_hub downloaded is found here, and the other way round):
 *
 *   HEAD {HF_ENDPOINT}/{repo}/resolve/{revision}/{file}  (redirects not followed)
 *     → X-Repo-Commit (the commit), X-Linked-Etag (an LFS file's sha256) or ETag, X-Linked-Size,
 *       Location (the blob) — or X-Error-Code (RepoNotFound, EntryNotFound, RevisionNotFound, GatedRepo)
 *   {HF_HUB_CACHE | HF_HOME/hub | ~/.cache/huggingface/hub}/models--{org}--{name}/
 *     blobs/{etag}  snapshots/{commit}/{file} → ../../blobs/{etag}  refs/{revision} = commit
 *
 * A file already in the cache for that revision is used without any request. `HF_TOKEN` is sent
 * (as a Bearer token) to the endpoint only; `HF_HUB_OFFLINE=1` makes no request at all.
 *
 * The endpoint is not trusted with paths: a commit must be 40 hex digits, an ETag 40 or 64, a listed
 * file name a plain relative path (safe-path.ts), and every path written is checked to lie inside
 * the repo's cache folder; anything else is refused in one line.
 */
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { causeOf, download, exists, isHttp, parseUrl } from './download.js';
import { insideDir, isHubCommit, isHubHash, quote, unsafePathReason } from './safe-path.js';

export interface HubRef {
  repo: string;
  revision: string;
  /** Undefined: the caller picks a file from the repo's list (`listHubFiles`). */
  file?: string;
}

/** `org/name[@revision][/path/in/repo]` (what follows `hf:`). */
export function parseHubRef(s: string): HubRef {
  const m = /^([\w.-]+\/[\w.-]+)(?:@([^/]+))?(?:\/(.+))?$/.exec(s);
  if (!m) throw new Error(`hf:${s}: expected hf:<org>/<repo>[@revision][/<file>]`);
  const ref = { repo: m[1]!, revision: m[2] ?? 'main', file: m[3] };
  checkRef(ref, `hf:${s}`);
  return ref;
}

/**
 * Throws, in one line, unless `ref`'s parts are safe as paths: the repo and revision become
 * models--{org}--{name}/ and refs/{revision}, the file snapshots/{commit}/{file}. A revision may
 * not contain ".." at all (git refuses such ref names too).
 */
function checkRef(ref: HubRef, name = refName(ref)): void {
  const parts: [string, string | undefined, string][] = [
    ['repository', ref.repo, 'name'],
    ['revision', ref.revision, 'name'],
    ['file', ref.file, 'path'],
  ];
  for (const [what, value, kind] of parts) {
    if (value === undefined) continue;
    const why = unsafePathReason(value) ?? (what === 'revision' && value.includes('..') ? 'a ".." in it' : undefined);
    if (why) throw new Error(`${name}: the ${what} ${quote(value)} is not a safe ${kind}: ${why}`);
  }
}

/** How messages name `ref`: as the user would write it. */
const refName = (ref: HubRef) =>
  `hf:${ref.repo}${ref.revision === 'main' ? '' : `@${ref.revision}`}${ref.file === undefined ? '' : `/${ref.file}`}`;

export const hubEndpoint = (): string => (process.env.HF_ENDPOINT || 'https://huggingface.co').replace(/\/+$/, '');
export function hubCacheDir(): string {
  if (process.env.HF_HUB_CACHE) return process.env.HF_HUB_CACHE;
  return path.join(process.env.HF_HOME || path.join(os.homedir(), '.cache', 'huggingface'), 'hub');
}
const offline = () => ['1', 'true', 'yes', 'on'].includes((process.env.HF_HUB_OFFLINE ?? '').toLowerCase());
const repoDir = (repo: string) => path.join(hubCacheDir(), `models--${repo.replace('/', '--')}`);

function authHeaders(): Record<string, string> {
  const t = process.env.HF_TOKEN || process.env.HUGGING_FACE_HUB_TOKEN;
  return t ? { authorization: `Bearer ${t}` } : {};
}

/** The cached snapshot folder of `repo` at `revision` (a commit, or what refs/ says it is), if any. */
async function cachedSnapshot(ref: HubRef): Promise<string | undefined> {
  checkRef(ref);
  const dir = repoDir(ref.repo);
  const commit = isHubCommit(ref.revision)
    ? ref.revision
    : (await fs.readFile(path.join(dir, 'refs', ref.revision), 'utf8').catch(() => '')).trim();
  // A refs/ file that names no commit (damaged, or written by something else) counts as no cache.
  return isHubCommit(commit) ? path.join(dir, 'snapshots', commit) : undefined;
}

/** The cached file for `ref`, if the cache holds it (no request). */
export async function cachedHubFile(ref: Required<HubRef>): Promise<string | undefined> {
  const snapshot = await cachedSnapshot(ref);
  const file = snapshot && path.join(snapshot, ref.file);
  return file && (await exists(file)) ? file : undefined;
}

/** A local path to `ref`'s file: from the cache, else downloaded into it. */
export async function hubFile(ref: Required<HubRef>, opts: { refresh?: boolean } = {}): Promise<string> {
  const name = refName(ref);
  checkRef(ref, name);
  const hit = await cachedHubFile(ref);
  if (hit && !opts.refresh) return hit;
  if (offline()) {
    if (hit) return hit;
    throw new Error(`${name}: not in the Hub cache (${repoDir(ref.repo)}) and HF_HUB_OFFLINE=1 forbids downloading it`);
  }
  const url = `${hubEndpoint()}/${ref.repo}/resolve/${encodeURIComponent(ref.revision)}/${ref.file.split('/').map(encodeURIComponent).join('/')}`;
  let head: Response;
  try {
    head = await fetch(url, { method: 'HEAD', redirect: 'manual', headers: authHeaders(), signal: AbortSignal.timeout(30_000) });
  } catch (e) {
    if (hit) return hit; // unreachable, but cached: as huggingface_hub does
    throw new Error(
      `${name}: cannot reach ${hubEndpoint()} (${causeOf(e as Error)}), and the file is not in the Hub cache (${hubCacheDir()})`,
      { cause: e },
    );
  }
  if (head.status >= 400) throw await hubError(name, ref, head);
  const { commit, etag, linked, size, blobUrl } = readHead(name, ref, url, head);
  const dir = repoDir(ref.repo);
  const blob = insideDir(dir, path.join(dir, 'blobs', etag), name);
  if (!(await exists(blob))) {
    const sameOrigin = blobUrl.origin === new URL(hubEndpoint()).origin;
    await download(blobUrl.href, blob, {
      label: name,
      size,
      sha256: linked && etag.length === 64 ? etag : undefined, // an LFS file's etag is its sha256
      headers: sameOrigin ? authHeaders() : {},
      inside: dir,
    });
  }
  const snap = insideDir(dir, path.join(dir, 'snapshots', commit, ref.file), name);
  await fs.mkdir(path.dirname(snap), { recursive: true });
  await fs.rm(snap, { force: true });
  await fs.symlink(path.relative(path.dirname(snap), blob), snap);
  if (!isHubCommit(ref.revision)) {
    const refFile = insideDir(dir, path.join(dir, 'refs', ref.revision), name);
    await fs.mkdir(path.dirname(refFile), { recursive: true });
    await fs.writeFile(refFile, commit);
  }
  return snap;
}

/**
 * What a HEAD answer says, each part checked against the Hub's formats: they become file names
 * (blobs/{etag}, snapshots/{commit}), so an endpoint must not get to choose anything else.
 */
function readHead(name: string, ref: HubRef, url: string, head: Response) {
  const h = head.headers;
  const commit = h.get('x-repo-commit') ?? (isHubCommit(ref.revision) ? ref.revision : undefined);
  const linked = h.get('x-linked-etag');
  const etag = (linked ?? h.get('etag') ?? '').replace(/^W\//, '').replace(/"/g, '');
  if (!commit || !etag)
    throw new Error(`${name}: ${hubEndpoint()} did not say which commit and version this is (no X-Repo-Commit / ETag)`);
  if (!isHubCommit(commit))
    throw new Error(`${name}: ${hubEndpoint()} answered a commit that is not a Hub commit hash (${quote(commit)}); refusing it`);
  if (!isHubHash(etag))
    throw new Error(`${name}: ${hubEndpoint()} answered an ETag that is not a Hub hash (${quote(etag)}); refusing it`);
  const sizeText = h.get('x-linked-size') ?? h.get('content-length') ?? '';
  const size = /^\d{1,15}$/.test(sizeText) ? Number(sizeText) : undefined; // else: not announced
  const location = h.get('location');
  const blobUrl = location ? parseUrl(location, url) : new URL(url);
  if (!blobUrl || !isHttp(blobUrl))
    throw new Error(
      `${name}: ${hubEndpoint()} redirected to ${blobUrl ? `a ${blobUrl.protocol} URL` : 'no valid URL'}; refusing it`,
    );
  return { commit, etag, linked, size, blobUrl };
}

/** The repo's files at `revision`: from the Hub's API, or, offline, from the cached snapshot. */
export async function listHubFiles(ref: HubRef): Promise<string[]> {
  checkRef(ref);
  const snapFiles = async () => {
    const root = await cachedSnapshot(ref);
    const files = root ? await fs.readdir(root, { recursive: true }).catch(() => undefined) : undefined;
    return files?.map((f) => f.toString()).filter((f) => !unsafePathReason(f));
  };
  if (offline()) {
    const files = await snapFiles();
    if (!files)
      throw new Error(`hf:${ref.repo}: nothing of it is in the Hub cache (${hubCacheDir()}) and HF_HUB_OFFLINE=1 forbids asking`);
    return files;
  }
  const url = `${hubEndpoint()}/api/models/${ref.repo}${ref.revision === 'main' ? '' : `/revision/${encodeURIComponent(ref.revision)}`}`;
  let res: Response;
  try {
    res = await fetch(url, { headers: authHeaders(), signal: AbortSignal.timeout(30_000) });
  } catch (e) {
    const files = await snapFiles();
    if (files) return files;
    throw new Error(
      `hf:${ref.repo}: cannot reach ${hubEndpoint()} (${causeOf(e as Error)}), and it is not in the Hub cache (${hubCacheDir()})`,
      { cause: e },
    );
  }
  if (!res.ok) throw await hubError(`hf:${ref.repo}`, ref, res);
  return listedFiles(`hf:${ref.repo}`, await res.text());
}

/**
 * The file names of an /api/models answer. Each becomes snapshots/{commit}/{name}, so one that is
 * not a plain relative path means the endpoint lies: the whole list is refused, not just that name.
 */
function listedFiles(name: string, text: string): string[] {
  let siblings: unknown;
  try {
    siblings = (JSON.parse(text) as { siblings?: unknown }).siblings ?? [];
  } catch {
    siblings = undefined;
  }
  const files = Array.isArray(siblings) ? siblings.map((s) => (s as { rfilename?: unknown } | null)?.rfilename) : undefined;
  if (!files?.every((f): f is string => typeof f === 'string'))
    throw new Error(`${name}: ${hubEndpoint()} did not answer a list of files (siblings[].rfilename)`);
  for (const f of files) {
    const why = unsafePathReason(f);
    if (why)
      throw new Error(
        `${name}: ${hubEndpoint()} listed a file name that is not a safe path (${quote(f)}: ${why}); refusing the list`,
      );
  }
  return files;
}

/** One line for a Hub error answer, from its X-Error-Code. */
async function hubError(name: string, ref: HubRef, res: Response): Promise<Error> {
  const code = res.headers.get('x-error-code') ?? '';
  await res.body?.cancel();
  const token = Boolean(authHeaders().authorization);
  if (code === 'GatedRepo')
    return new Error(`${name}: ${ref.repo} is gated: accept its terms on the Hub, then set HF_TOKEN to a token of that account`);
  if (code === 'RepoNotFound' || (res.status === 401 && !code))
    return new Error(`${name}: repository ${ref.repo} not found${token ? '' : ' (if it is private, set HF_TOKEN)'}`);
  if (code === 'RevisionNotFound') return new Error(`${name}: ${ref.repo} has no revision "${ref.revision}"`);
  if (code === 'EntryNotFound' || res.status === 404) {
    const files = await listHubFiles({ ...ref, file: undefined }).catch(() => undefined);
    return new Error(`${name}: ${ref.repo} has no file "${ref.file}"${files ? `; it has: ${files.join(', ')}` : ''}`);
  }
  if (res.status === 401 || res.status === 403)
    return new Error(`${name}: HTTP ${res.status}: not allowed${token ? ' with this HF_TOKEN' : ': set HF_TOKEN'}`);
  return new Error(`${name}: HTTP ${res.status} from ${hubEndpoint()}`);
}

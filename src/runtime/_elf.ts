/**
 * Reads the dynamic section of a 64-bit little-endian ELF shared library:
 * its SONAME, the sonames it NEEDs and its RUNPATH. `deno task setup-gpu`
 * checks with it that the CUDA provider's dependencies are the CUDA major
 * versions it installed, without `readelf` on the machine.
 *
 * Only the ELF header, the program headers, the dynamic segment and the
 * string table are read, so a 500 MB library costs a few small reads.
 *
 * @module
 */

/** What a shared library's dynamic section says about linking. */
export interface DynamicInfo {
  /** DT_SONAME, when set. */
  readonly soname?: string;
  /** DT_NEEDED entries, in order. */
  readonly needed: readonly string[];
  /** DT_RUNPATH (or the older DT_RPATH), when set. */
  readonly runpath?: string;
}

const PT_LOAD = 1, PT_DYNAMIC = 2;
const DT_NULL = 0n, DT_NEEDED = 1n, DT_STRTAB = 5n, DT_STRSZ = 10n, DT_SONAME = 14n, DT_RPATH = 15n, DT_RUNPATH = 29n;

/** Reads `length` bytes at `offset` of an open file (fewer at its end). */
async function readAt(file: Deno.FsFile, offset: number, length: number): Promise<Uint8Array> {
  const buf = new Uint8Array(length);
  await file.seek(offset, Deno.SeekMode.Start);
  let got = 0;
  while (got < length) {
    const n = await file.read(buf.subarray(got));
    if (n === null) break;
    got += n;
  }
  return buf.subarray(0, got);
}

/**
 * The dynamic-linking facts of the ELF file at `path`.
 *
 * @throws {TypeError} when the file is not a 64-bit little-endian ELF file or has no dynamic segment.
 */
export async function readDynamicInfo(path: string): Promise<DynamicInfo> {
  using file = await Deno.open(path, { read: true });
  const head = await readAt(file, 0, 64);
  const magic = head[0] === 0x7f && head[1] === 0x45 && head[2] === 0x4c && head[3] === 0x46;
  if (!magic || head.length < 64) throw new TypeError(`${path} is not an ELF file`);
  if (head[4] !== 2 || head[5] !== 1) throw new TypeError(`${path} is not a 64-bit little-endian ELF file`);
  const h = new DataView(head.buffer, head.byteOffset, head.byteLength);
  const phoff = Number(h.getBigUint64(32, true)), phentsize = h.getUint16(54, true), phnum = h.getUint16(56, true);
  const ph = await readAt(file, phoff, phentsize * phnum);
  const p = new DataView(ph.buffer, ph.byteOffset, ph.byteLength);
  const loads: { vaddr: bigint; offset: bigint; filesz: bigint }[] = [];
  let dynamic: { offset: number; size: number } | undefined;
  for (let i = 0; i < phnum; i++) {
    const at = i * phentsize;
    const type = p.getUint32(at, true);
    const offset = p.getBigUint64(at + 8, true), vaddr = p.getBigUint64(at + 16, true);
    const filesz = p.getBigUint64(at + 32, true);
    if (type === PT_LOAD) loads.push({ vaddr, offset, filesz });
    if (type === PT_DYNAMIC) dynamic = { offset: Number(offset), size: Number(filesz) };
  }
  if (dynamic === undefined) throw new TypeError(`${path} has no dynamic segment (not a shared library)`);
  const dyn = await readAt(file, dynamic.offset, dynamic.size);
  const d = new DataView(dyn.buffer, dyn.byteOffset, dyn.byteLength);
  const entries: [bigint, bigint][] = [];
  for (let at = 0; at + 16 <= dyn.length; at += 16) {
    const tag = d.getBigInt64(at, true);
    if (tag === DT_NULL) break;
    entries.push([tag, d.getBigUint64(at + 8, true)]);
  }
  const value = (tag: bigint) => entries.find(([t]) => t === tag)?.[1];
  const strtab = value(DT_STRTAB), strsz = value(DT_STRSZ);
  if (strtab === undefined || strsz === undefined) throw new TypeError(`${path} has no dynamic string table`);
  // DT_STRTAB is a virtual address: map it to a file offset through the loadable segment holding it.
  const seg = loads.find((l) => strtab >= l.vaddr && strtab < l.vaddr + l.filesz);
  if (seg === undefined) throw new TypeError(`${path}: the dynamic string table lies outside every segment`);
  const strings = await readAt(file, Number(strtab - seg.vaddr + seg.offset), Number(strsz));
  const text = new TextDecoder();
  const str = (at: bigint) => {
    const start = Number(at);
    const end = strings.indexOf(0, start);
    return text.decode(strings.subarray(start, end < 0 ? strings.length : end));
  };
  const soname = value(DT_SONAME), runpath = value(DT_RUNPATH) ?? value(DT_RPATH);
  return {
    ...(soname !== undefined ? { soname: str(soname) } : {}),
    needed: entries.filter(([t]) => t === DT_NEEDED).map(([, v]) => str(v)),
    ...(runpath !== undefined ? { runpath: str(runpath) } : {}),
  };
}

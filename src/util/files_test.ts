import { assert, assertEquals } from "../util/testing.ts";
import { readJsonIfExists, replaceDirectory, toCsv, writeFileAtomic, writeJsonAtomic } from "./files.ts";

Deno.test("writeJsonAtomic() replaces a file and leaves no temporary files", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await writeJsonAtomic(`${dir}/r.json`, { a: 1 });
    await writeJsonAtomic(`${dir}/r.json`, { a: 2 });
    assertEquals(await readJsonIfExists(`${dir}/r.json`), { a: 2 });
    assertEquals([...Deno.readDirSync(dir)].map((e) => e.name), ["r.json"]);
    assertEquals(await readJsonIfExists(`${dir}/missing.json`), undefined);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("writeFileAtomic() writes a list of byte arrays one after the other", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const big = Uint8Array.from({ length: 100_000 }, (_, i) => i % 251);
    await writeFileAtomic(`${dir}/f.bin`, [Uint8Array.of(1, 2), new Uint8Array(0), big.subarray(5)]);
    const back = await Deno.readFile(`${dir}/f.bin`);
    assertEquals([back.length, back[0], back[1], back[2], back.at(-1)], [2 + big.length - 5, 1, 2, 5, big.at(-1)]);
    assertEquals(back.subarray(2), big.subarray(5));
    assertEquals([...Deno.readDirSync(dir)].map((e) => e.name), ["f.bin"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("replaceDirectory() keeps the old folder when filling the new one fails", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await replaceDirectory(`${dir}/charts`, (d) => Deno.writeTextFile(`${d}/a.svg`, "old"));
    let failed = false;
    await replaceDirectory(`${dir}/charts`, async (d) => {
      await Deno.writeTextFile(`${d}/b.svg`, "new");
      throw new Error("render failed");
    }).catch(() => (failed = true));
    assert(failed, "the error propagates");
    assertEquals([...Deno.readDirSync(`${dir}/charts`)].map((e) => e.name), ["a.svg"]);
    assertEquals([...Deno.readDirSync(dir)].map((e) => e.name), ["charts"], "no temporary folder left");
    await replaceDirectory(`${dir}/charts`, (d) => Deno.writeTextFile(`${d}/b.svg`, "new"));
    assertEquals([...Deno.readDirSync(`${dir}/charts`)].map((e) => e.name), ["b.svg"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("toCsv() leaves missing and non-finite values empty", () => {
  assertEquals(toCsv([{ a: 1, b: NaN }, { b: null, c: [1, 2] }]), 'a,b,c\n1,,\n,,"[1,2]"\n');
  assertEquals(toCsv([]), "\n");
});

Deno.test("replaceDirectory() swaps in the new folder whole and removes the old one, leaving no temporaries", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await replaceDirectory(`${dir}/charts`, (d) => Deno.writeTextFile(`${d}/a.svg`, "old"));
    await replaceDirectory(`${dir}/charts`, (d) => Deno.writeTextFile(`${d}/b.svg`, "new"));
    assertEquals([...Deno.readDirSync(`${dir}/charts`)].map((e) => e.name), ["b.svg"]);
    assertEquals([...Deno.readDirSync(dir)].map((e) => e.name), ["charts"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

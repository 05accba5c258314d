/**
 * The README's library examples run exactly as printed: every ```ts block is
 * saved beside mod.ts (where its `./mod.ts` import points) and run with the
 * permissions the README names for it.
 */
import { assert, assertEquals } from "../src/util/testing.ts";

const root = new URL("..", import.meta.url).pathname;
const readme = await Deno.readTextFile(`${root}README.md`);

/** The permissions line the README gives for its examples. */
const PERMISSIONS = /deno run (--allow-[a-z]+(?: --allow-[a-z]+)*) example\.ts/;

Deno.test("the README names the permissions its library examples need", () => {
  assert(PERMISSIONS.test(readme), "README should say `deno run --allow-… example.ts`");
});

const blocks = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!);

Deno.test("the README has library examples", () => assert(blocks.length >= 1));

blocks.forEach((code, i) => {
  Deno.test(`README example ${i + 1} runs as printed with the permissions it names`, async () => {
    const file = `${root}.readme_example_${Deno.pid}_${i}.ts`;
    await Deno.writeTextFile(file, code);
    try {
      const flags = readme.match(PERMISSIONS)![1]!.split(" ");
      const out = await new Deno.Command(Deno.execPath(), { args: ["run", ...flags, file], cwd: root }).output();
      const stderr = new TextDecoder().decode(out.stderr);
      assertEquals(out.code, 0, `example ${i + 1} failed:\n${stderr}`);
      assert(new TextDecoder().decode(out.stdout).trim().length > 0, "the example prints its result");
    } finally {
      await Deno.remove(file).catch(() => {});
    }
  });
});

import { assertEquals } from "../../util/testing.ts";
import { compileKernel, KERNELS, modulePath, moduleText } from "./compile.ts";

Deno.test("each WebAssembly kernel's generated module is its .wat source compiled (run `deno task wasm` after an edit)", async () => {
  for (const name of KERNELS) {
    assertEquals(await Deno.readTextFile(modulePath(name)), moduleText(name, await compileKernel(name)), name);
  }
});

import { Ajv } from "ajv";
import { parse } from "yaml";
import { assert, assertEquals } from "../util/testing.ts";
import { main } from "./cli.ts";
import { emitJob, kubernetesMemory, shellQuote, slurmSeconds } from "./emit.ts";
import { PipelineSchema } from "./schema.ts";
import { expandSweep } from "./sweep.ts";

const sweep = new URL("../../tests/fixtures/pipelines/cluster/sweep.yaml", import.meta.url).pathname;
const jobSchema = new URL("../../tests/fixtures/k8s/job-batch-v1.trimmed.json", import.meta.url);
// deno-lint-ignore no-explicit-any
type Manifest = any;

const root = new URL("../../", import.meta.url).pathname.replace(/\/$/, "");

/** What `main()` prints for `args`, its exit code and its error messages. */
async function emit(args: string[]): Promise<{ code: number; text: string; errors: string }> {
  let text = "";
  const errors: string[] = [];
  const code = await main(args, { write: (t) => void (text += t), error: (m) => errors.push(m) });
  return { code, text, errors: errors.join("\n") };
}

Deno.test("main() --emit slurm prints an sbatch array script with one task per shard and runs nothing", async () => {
  const out = await Deno.makeTempDir();
  try {
    const { code, text, errors } = await emit([sweep, "--quick", "--emit", "slurm", "--out", out]);
    assertEquals(code, 0, errors);
    const lines = text.split("\n");
    assertEquals(lines[0], "#!/bin/bash");
    for (
      const line of [
        "#SBATCH --job-name=cluster-sweep-quick",
        "#SBATCH --array=1-2",
        `#SBATCH --chdir=${root}`,
        "#SBATCH --output=%x-%A_%a.out",
        "#SBATCH --cpus-per-task=1",
        "#SBATCH --mem=2G",
        "#SBATCH --time=00:10:00",
        "#SBATCH --signal=B:TERM@60", // a tenth of the 10-minute limit
      ]
    ) assert(lines.includes(line), `${line} in:\n${text}`);
    const exec = lines.find((l) => l.startsWith("exec "))!;
    assertEquals(
      exec,
      "exec deno run --allow-read --allow-write --allow-env --allow-ffi --allow-sys --allow-run src/pipeline/cli.ts " +
        `${sweep} --out ${out} --quick --threads 1 --resume --shard "\${SLURM_ARRAY_TASK_ID}/2"`,
    );
    assertEquals([...Deno.readDirSync(out)], [], "nothing written");
    // --shards overrides cluster.shards; more shards than cells is refused, naming the option.
    assert((await emit([sweep, "--quick", "--emit", "slurm", "--shards", "4"])).text.includes("--array=1-4"));
    const tooMany = await emit([sweep, "--quick", "--emit", "slurm", "--shards", "5"]);
    assertEquals(tooMany.code, 2);
    assert(tooMany.errors.startsWith("Option --emit slurm: 5 shards for a sweep of 4 cells"), tooMany.errors);
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});

Deno.test("main() --emit k8s prints an Indexed Job that validates against the batch/v1 Job schema", async () => {
  const ajv = new Ajv({ allErrors: true, strict: true });
  ajv.addFormat("int32", { type: "number", validate: (n: number) => Number.isInteger(n) && Math.abs(n) < 2 ** 31 });
  ajv.addFormat("int64", { type: "number", validate: (n: number) => Number.isSafeInteger(n) });
  const validate = ajv.compile<Manifest>(JSON.parse(await Deno.readTextFile(jobSchema)));
  const dir = await Deno.makeTempDir();
  try {
    // The fixture's cluster section, and one with every Kubernetes setting.
    const full = `${dir}/full.yaml`;
    await Deno.writeTextFile(
      full,
      (await Deno.readTextFile(sweep)).replace(
        /^cluster: .*$/m,
        "cluster: { shards: 3, cpus: 2, memory: 4G, gpus: 1, time: 1-02:00:00, workdir: /shared/quadjoint, " +
          "k8s: { image: registry.example/deno:2.9.6, namespace: research, volumeClaim: shared-fs, mountPath: /shared } }",
      ),
    );
    for (const [file, shards] of [[sweep, 2], [full, 3]] as const) {
      const { code, text, errors } = await emit([file, "--quick", "--emit", "k8s", "--out", `${dir}/out`]);
      assertEquals(code, 0, errors);
      const job: Manifest = parse(text);
      const valid = validate(job);
      assert(valid, `${file}: ${ajv.errorsText(validate.errors)}\n${text}`);
      assertEquals([job.apiVersion, job.kind], ["batch/v1", "Job"]);
      assertEquals(job.spec.completionMode, "Indexed");
      assertEquals([job.spec.completions, job.spec.parallelism], [shards, shards]);
      const container = job.spec.template.spec.containers[0];
      assertEquals(container.command.slice(0, 2), ["/bin/sh", "-c"]);
      assert(container.command[2].endsWith(`--resume --shard "$((JOB_COMPLETION_INDEX + 1))/${shards}"`));
    }
    const job: Manifest = parse((await emit([full, "--quick", "--emit", "k8s", "--out", `${dir}/out`])).text);
    const pod = job.spec.template.spec;
    assertEquals(job.metadata.namespace, "research");
    assertEquals(pod.activeDeadlineSeconds, 26 * 3600);
    assertEquals(pod.containers[0].resources, {
      requests: { cpu: "2", memory: "4Gi" },
      limits: { cpu: "2", memory: "4Gi", "nvidia.com/gpu": 1 },
    });
    assertEquals(pod.containers[0].workingDir, "/shared/quadjoint");
    assertEquals(pod.volumes, [{ name: "shared", persistentVolumeClaim: { claimName: "shared-fs" } }]);
    // The pipeline file lies outside this checkout, so it keeps its path; the schema refuses a misspelt field.
    assert(pod.containers[0].command[2].includes(` src/pipeline/cli.ts ${full} `), pod.containers[0].command[2]);
    assert(!validate({ ...job, spec: { ...job.spec, completionMod: "Indexed" } }), "additional properties fail");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("main() refuses a bad cluster section with exit code 2, naming the field", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const file = `${dir}/p.yaml`;
    await Deno.writeTextFile(
      file,
      (await Deno.readTextFile(sweep)).replace(/^cluster: .*$/m, "cluster: { partition: 'a b', time: soon }"),
    );
    const { code, errors } = await emit([file, "--emit", "slurm"]);
    assertEquals(code, 2);
    assert(errors.includes(`${file}: cluster.partition: `) && errors.includes(`${file}: cluster.time: `), errors);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("main() --emit slurm quotes #SBATCH values sbatch would misread, passes --backend cpu, refuses a relative workdir and time 0", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const file = `${dir}/p.yaml`;
    const withCluster = async (cluster: string) => {
      await Deno.writeTextFile(file, (await Deno.readTextFile(sweep)).replace(/^cluster: .*$/m, `cluster: ${cluster}`));
      return await emit([file, "--emit", "slurm", "--backend", "cpu"]);
    };
    const quoted = await withCluster(`{ logs: "logs/run#1-%a.out", workdir: "/srv/q a'b" }`);
    assertEquals(quoted.code, 0, quoted.errors);
    const lines = quoted.text.split("\n");
    // Outside quotes # starts a comment on an #SBATCH line and quotes pair up: such values go in double quotes.
    assert(lines.includes(`#SBATCH --output="logs/run#1-%a.out"`), quoted.text);
    assert(lines.includes(`#SBATCH --chdir="/srv/q a'b"`), quoted.text);
    assert(lines.find((l) => l.startsWith("exec "))!.includes(" --backend cpu "), "an explicit cpu reaches the nodes");
    const relative = await withCluster("{ workdir: nodes/quadjoint }");
    assertEquals(relative.code, 2);
    assert(relative.errors.includes("cluster.workdir: Must be an absolute path"), relative.errors);
    const zero = await withCluster('{ time: "0" }');
    assertEquals(zero.code, 2);
    assert(zero.errors.includes("cluster.time: Must be longer than 0"), zero.errors);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("slurmSeconds(), kubernetesMemory() and shellQuote() convert as Slurm, Kubernetes and sh read them", () => {
  assertEquals(["90", "10:30", "01:00:00", "2-3", "1-00:01", "1-00:00:05"].map(slurmSeconds), [
    5400,
    630,
    3600,
    2 * 86400 + 3 * 3600,
    86400 + 60,
    86405,
  ]);
  assertEquals(["8G", "512M", "100", "1T", "64K"].map(kubernetesMemory), ["8Gi", "512Mi", "100Mi", "1Ti", "64Ki"]);
  assertEquals(["a/b.yaml", "it's here", "$HOME"].map(shellQuote), ["a/b.yaml", `'it'\\''s here'`, "'$HOME'"]);
});

Deno.test("emitJob() caps the default array at Slurm's default MaxArraySize, and notes a larger one asked for", async () => {
  const seeds = Array.from({ length: 1002 }, (_, i) => i);
  const config = PipelineSchema.parse({
    name: "wide",
    data: { kind: "analytic", T: { min: 1, max: 2, count: 2 } },
    solve: { rtol: 1e-6, atol: 1e-6 },
    gradient: { method: "gq" },
    evaluate: { metrics: ["gradient-error"] },
    sweep: { "data.T.max": seeds.map((s) => 2 + s / 1000) },
  });
  const cells = expandSweep(config);
  assertEquals(cells.length, 1002);
  const byDefault = await emitJob(config, cells, { kind: "slurm", file: "wide.yaml" });
  assert(byDefault.includes("#SBATCH --array=1-1000\n"), "1002 cells share 1000 tasks by default");
  assert(!byDefault.includes("MaxArraySize"), "no note within the default limit");
  const asked = await emitJob(config, cells, { kind: "slurm", file: "wide.yaml", shards: 1002 });
  assert(asked.includes("#SBATCH --array=1-1002\n"), asked);
  assert(asked.includes("# 1002 array tasks: above Slurm's default MaxArraySize (1001"), asked);
});

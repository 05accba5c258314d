/**
 * A real single-node Slurm (Debian's slurm-wlm with munge, installed by
 * .ci/run): the test starts munged, slurmctld and slurmd on this host with a
 * minimal slurm.conf in a temporary folder, submits the sbatch array script
 * `deno task pipeline <file> --quick --emit slurm` prints for a 4-cell sweep
 * (2 array tasks, one shard each), merges the shards with
 * `deno task report <dir>`, and checks the merged results equal a
 * single-machine run's. Skipped, saying why, only where the daemons cannot
 * start (binaries missing, not root).
 *
 * @module
 */
import { join } from "node:path";
import { main } from "../src/pipeline/cli.ts";
import { main as report } from "../src/pipeline/report_cli.ts";
import { assert, assertEquals, comparableResults } from "../src/util/testing.ts";

const sweep = new URL("fixtures/pipelines/cluster/sweep.yaml", import.meta.url).pathname;
const quiet = { progress: { tty: false, write: () => {} }, charts: false };

/** results.json without what differs between runs (see comparableResults) and the shards a merge names. */
const comparable = (results: unknown) => comparableResults(results, ["shards"]);

/** Runs a command; its exit code and output, or the error that kept it from starting. */
async function sh(cmd: string, args: string[], env: Record<string, string> = {}) {
  try {
    const out = await new Deno.Command(cmd, { args, env, stdout: "piped", stderr: "piped" }).output();
    const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
    return { code: out.code, text };
  } catch (e) {
    return { code: -1, text: (e as Error).message };
  }
}

/** A TCP port nothing on 127.0.0.1 listens on now. */
function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/** A running single-node cluster and how to stop it; or why it could not start. */
interface Cluster {
  env: Record<string, string>;
  sbatch: string;
  stop(): Promise<void>;
  logs(): Promise<string>;
}

async function startCluster(dir: string): Promise<Cluster | string> {
  // The daemons live in /usr/sbin, which a non-login PATH may lack.
  const bin: Record<string, string> = {};
  for (const name of ["munged", "slurmctld", "slurmd", "sbatch", "sinfo", "scontrol"]) {
    const found = await sh("sh", ["-c", `PATH="$PATH:/usr/sbin:/sbin" command -v ${name}`]);
    if (found.code !== 0) return `${name} is not installed (apt-get install slurm-wlm munge)`;
    bin[name] = found.text.trim();
  }
  const user = (await sh("id", ["-un"])).text.trim();
  if (user !== "root") return `slurmd needs root to start jobs as another user's; this is ${user}`;
  const host = (await sh("hostname", ["-s"])).text.trim();
  for (const d of ["munge", "state", "spool", "log"]) await Deno.mkdir(join(dir, d), { mode: 0o700 });
  const key = crypto.getRandomValues(new Uint8Array(1024));
  await Deno.writeFile(join(dir, "munge/munge.key"), key, { mode: 0o400 });
  const socket = join(dir, "munge/munge.sock");
  const children: Deno.ChildProcess[] = [];
  const spawn = (cmd: string, args: string[], env: Record<string, string> = {}) => {
    const child = new Deno.Command(cmd, { args, env, stdin: "null", stdout: "null", stderr: "null" }).spawn();
    children.push(child);
    return child;
  };
  const stop = async () => {
    await sh(bin.scontrol!, ["shutdown"], env).catch(() => {});
    for (const child of children.reverse()) {
      try {
        child.kill("SIGTERM");
      } catch {
        // ended already
      }
      const ended = await Promise.race([child.status.then(() => true), new Promise((r) => setTimeout(r, 5000, false))]);
      if (!ended) {
        try {
          child.kill("SIGKILL");
        } catch {
          // ended meanwhile
        }
        await child.status;
      }
    }
  };
  const logs = async () => {
    const parts: string[] = [];
    for (const f of ["munge/munged.log", "log/slurmctld.log", "log/slurmd.log"]) {
      parts.push(`--- ${f}\n${(await Deno.readTextFile(join(dir, f)).catch(() => "")).slice(-3000)}`);
    }
    return parts.join("\n");
  };
  spawn(bin.munged!, [
    "-F",
    "--force",
    `--key-file=${join(dir, "munge/munge.key")}`,
    `--socket=${socket}`,
    `--pid-file=${join(dir, "munge/munged.pid")}`,
    `--log-file=${join(dir, "munge/munged.log")}`,
    `--seed-file=${join(dir, "munge/munged.seed")}`,
  ]);
  const conf = join(dir, "slurm.conf");
  // The memory slurmd finds, less a margin (a node that reports less than its RealMemory is drained).
  const memory = Math.floor(Deno.systemMemoryInfo().total / 2 ** 20 * 0.9);
  await Deno.writeTextFile(
    conf,
    `ClusterName=quadjoint-test
SlurmctldHost=${host}(127.0.0.1)
SlurmUser=${user}
SlurmdUser=${user}
SlurmctldPort=${freePort()}
SlurmdPort=${freePort()}
AuthType=auth/munge
AuthInfo=socket=${socket}
CredType=cred/munge
StateSaveLocation=${join(dir, "state")}
SlurmdSpoolDir=${join(dir, "spool")}
SlurmctldPidFile=${join(dir, "slurmctld.pid")}
SlurmdPidFile=${join(dir, "slurmd.pid")}
SlurmctldLogFile=${join(dir, "log/slurmctld.log")}
SlurmdLogFile=${join(dir, "log/slurmd.log")}
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
ReturnToService=2
MpiDefault=none
MailProg=/bin/true
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
NodeName=${host} NodeAddr=127.0.0.1 CPUs=2 RealMemory=${memory} State=UNKNOWN
PartitionName=debug Nodes=${host} Default=YES MaxTime=INFINITE State=UP
`,
  );
  const env = { SLURM_CONF: conf };
  // munged makes its socket within a second; slurmctld and slurmd then register the node.
  for (let i = 0; i < 50 && !(await Deno.stat(socket).then(() => true, () => false)); i++) {
    await new Promise((r) => setTimeout(r, 100));
  }
  spawn(bin.slurmctld!, ["-D", "-f", conf], env);
  spawn(bin.slurmd!, ["-D", "-f", conf], env);
  const cluster = { env, stop, logs, sbatch: bin.sbatch! };
  for (let i = 0; i < 60; i++) {
    const state = await sh(bin.sinfo!, ["-h", "-o", "%T"], env);
    if (state.code === 0 && /^(idle|mixed|allocated)/m.test(state.text)) return cluster;
    await new Promise((r) => setTimeout(r, 500));
  }
  const why = `slurmctld and slurmd did not bring up a node in 30 s:\n${await logs()}`;
  await stop();
  return why;
}

Deno.test({
  name:
    "the emitted sbatch array script runs a 4-cell sweep as 2 shards on a real Slurm; the merge equals one machine's",
  // The daemons outlive nothing: they are stopped at the end, but their sockets and timers are not Deno's to track.
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "quadjoint-slurm-" });
    const t0 = performance.now();
    await Deno.mkdir(join(dir, "cluster"));
    const cluster = await startCluster(join(dir, "cluster")).catch((e) => String(e));
    try {
      if (typeof cluster === "string") {
        console.log(`SKIPPED: no single-node Slurm here: ${cluster}`);
        return;
      }
      // The nodes' Deno is this one (CI may run Deno from npx, off PATH); the logs go to the test's folder.
      const file = join(dir, "sweep.yaml");
      const logs = join(dir, "logs");
      await Deno.mkdir(logs);
      await Deno.writeTextFile(
        file,
        (await Deno.readTextFile(sweep)).replace(
          /^cluster: \{/m,
          `cluster: { deno: ${JSON.stringify(Deno.execPath())}, logs: ${JSON.stringify(`${logs}/%x-%A_%a.out`)},`,
        ),
      );
      const out = join(dir, "out");
      let script = "";
      const errors: string[] = [];
      const emitted = await main([file, "--quick", "--emit", "slurm", "--out", out], {
        write: (t) => void (script += t),
        error: (m) => errors.push(m),
      });
      assertEquals(emitted, 0, errors.join("\n"));
      assert(script.includes("#SBATCH --array=1-2"), script);
      await Deno.writeTextFile(join(dir, "sweep.sbatch"), script);
      const submitted = await sh(cluster.sbatch, ["--wait", join(dir, "sweep.sbatch")], cluster.env);
      const taskLogs = await Promise.all(
        [...Deno.readDirSync(logs)].map(async (e) => `--- ${e.name}\n${await Deno.readTextFile(join(logs, e.name))}`),
      );
      assertEquals(submitted.code, 0, `sbatch: ${submitted.text}\n${taskLogs.join("\n")}\n${await cluster.logs()}`);
      assertEquals(taskLogs.length, 2, "one log per array task");
      const merged = join(out, "cluster-sweep-quick");
      assertEquals(
        [...Deno.readDirSync(join(merged, "shards"))].map((e) => e.name).sort(),
        ["1-of-2", "2-of-2"],
      );
      assertEquals(await report([merged]), 0);
      // The same sweep on this machine, unsharded.
      const code = await main([file, "--quick", "--out", join(dir, "single"), "--threads", "1"], quiet);
      assertEquals(code, 0);
      const read = async (d: string) => JSON.parse(await Deno.readTextFile(join(d, "results.json")));
      const [a, b] = [await read(merged), await read(join(dir, "single", "cluster-sweep-quick"))];
      assertEquals(a.cells.length, 4);
      assertEquals(comparable(a), comparable(b));
      console.log(`Slurm test: ${((performance.now() - t0) / 1000).toFixed(1)} s, daemons included`);
    } finally {
      if (typeof cluster !== "string") await cluster.stop();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});

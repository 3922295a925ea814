import assert from "node:assert/strict";
import { AgentError } from "../errors.ts";
import { craftElf } from "../tests/_elf_craft.ts";
import { checkExecutable, readElf } from "./_elf.ts";

const HOST = Deno.build.arch;
const OTHER = HOST === "aarch64" ? "x86_64" : "aarch64";
const MACHINE: Record<string, number> = { x86_64: 62, aarch64: 183 };

async function withFile<T>(bytes: Uint8Array, run: (dir: string) => Promise<T>): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix: "elf-" });
  try {
    await Deno.writeFile(`${dir}/app`, bytes, { mode: 0o755 });
    return await run(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function refusal(code: string, pattern: RegExp) {
  return (error: unknown) => {
    assert.ok(error instanceof AgentError, String(error));
    assert.equal(error.code, code);
    assert.match(error.message, pattern);
    return true;
  };
}

Deno.test("readElf reads the machine and the program loader of a real executable", async () => {
  const info = await readElf("/bin/sleep");
  assert.equal(info.bits, 64);
  assert.equal(info.machine, MACHINE[HOST]);
  assert.match(info.interpreter ?? "", /^\/lib.*\/ld-linux.*\.so\.\d$/);
});

Deno.test("checkExecutable refuses an ELF built for another machine with WRONG_ARCH naming both", async () => {
  await withFile(craftElf({ machine: MACHINE[OTHER] }), async (dir) => {
    await assert.rejects(
      checkExecutable(dir, "app"),
      refusal(
        "WRONG_ARCH",
        new RegExp(
          `'app' is built for ${OTHER}, but this machine is ${HOST}: build it for ${HOST}`,
        ),
      ),
    );
  });
  await withFile(craftElf({ machine: 40 }), async (dir) => {
    await assert.rejects(checkExecutable(dir, "app"), refusal("WRONG_ARCH", /arm \(32-bit\)/));
  });
  // The same real binary, judged as if this were the other machine.
  await assert.rejects(
    checkExecutable("/bin", "sleep", { arch: OTHER }),
    refusal("WRONG_ARCH", new RegExp(`built for ${HOST}, but this machine is ${OTHER}`)),
  );
});

Deno.test("checkExecutable refuses a missing program loader by name and accepts a present one", async () => {
  const missing = "/lib64/ld-robot-agent-missing.so.1";
  await withFile(craftElf({ machine: MACHINE[HOST], interpreter: missing }), async (dir) => {
    await assert.rejects(
      checkExecutable(dir, "app"),
      refusal("NO_PROJECT", /needs the program loader \/lib64\/ld-robot-agent-missing\.so\.1/),
    );
  });
  await checkExecutable("/bin", "sleep");
  await withFile(craftElf({ machine: MACHINE[HOST] }), (dir) => checkExecutable(dir, "app"));
});

Deno.test("checkExecutable refuses an object file", async () => {
  await withFile(craftElf({ machine: MACHINE[HOST], type: 1 }), async (dir) => {
    await assert.rejects(checkExecutable(dir, "app"), refusal("NO_PROJECT", /object file/));
  });
});

Deno.test("hostFileExists asks python3 about files the process may not read", async () => {
  // A process that may read only the agent's source, as the worker: a stat of /bin is refused.
  const root = new URL("..", import.meta.url).pathname;
  const dir = await Deno.makeTempDir({ prefix: "elf-probe-" });
  try {
    const script = `${dir}/probe.ts`;
    await Deno.writeTextFile(
      script,
      `import { hostFileExists } from "${new URL("./_elf.ts", import.meta.url)}";
      const refused = await Deno.stat("/bin/sleep").then(() => false, (e) => e instanceof Deno.errors.NotCapable);
      const exists = hostFileExists("python3");
      console.log(JSON.stringify([refused, await exists("/bin/sleep"), await exists("/bin/no-such-file")]));`,
    );
    const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--no-prompt", `--allow-read=${root},${dir}`, "--allow-run=python3", script],
    }).output();
    assert.equal(code, 0, new TextDecoder().decode(stderr));
    assert.deepEqual(JSON.parse(new TextDecoder().decode(stdout)), [true, true, false]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

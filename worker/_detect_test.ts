import assert from "node:assert/strict";
import { AgentError } from "../errors.ts";
import { detectProject, MANIFEST_NAME } from "./_detect.ts";

/** A file to lay out: text, or a copy of a real ELF executable with a mode. */
type Layout = Record<string, string | { elf: true; mode: number }>;

async function withProject(
  layout: Layout,
  run: (dir: string) => Promise<void>,
): Promise<void> {
  const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "detect_test_" }));
  try {
    for (const [name, content] of Object.entries(layout)) {
      const path = `${dir}/${name}`;
      await Deno.mkdir(path.slice(0, path.lastIndexOf("/")), { recursive: true });
      if (typeof content === "string") {
        await Deno.writeTextFile(path, content);
      } else {
        await Deno.copyFile("/bin/true", path);
        await Deno.chmod(path, content.mode);
      }
    }
    await run(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const ELF = { elf: true, mode: 0o755 } as const;

async function assertNoProject(layout: Layout, pattern: RegExp): Promise<void> {
  await withProject(layout, async (dir) => {
    await assert.rejects(detectProject(dir), (error) => {
      assert.ok(error instanceof AgentError, `not an AgentError: ${error}`);
      assert.equal(error.code, "NO_PROJECT");
      assert.match(error.message, /^Cannot load project: /);
      assert.match(error.message, pattern);
      return true;
    });
  });
}

function manifest(value: unknown): string {
  return JSON.stringify(value);
}

Deno.test("detectProject finds a Python project by main.py", async () => {
  await withProject({ "main.py": "", "__init__.py": "", "lib/x.py": "" }, async (dir) => {
    assert.deepEqual(await detectProject(dir), {
      type: "python",
      root: dir,
      entry: "main.py",
      args: [],
      manifest: false,
      name: "project",
      permissions: {},
    });
  });
});

Deno.test("detectProject finds a Python package by __init__.py", async () => {
  await withProject({ "__init__.py": "", "robot.py": "" }, async (dir) => {
    const info = await detectProject(dir);
    assert.equal(info.type, "python");
    assert.equal(info.entry, "__init__.py");
  });
});

Deno.test("detectProject descends into a single top-level folder, ignoring zip clutter", async () => {
  await withProject({
    "project/main.py": "",
    "__MACOSX/project/._main.py": "",
    ".DS_Store": "",
  }, async (dir) => {
    const info = await detectProject(dir);
    assert.equal(info.root, `${dir}/project`);
    assert.equal(info.entry, "main.py");
  });
});

Deno.test("detectProject stays at the top when it holds more than one folder", async () => {
  await withProject({ "a/main.py": "", "b/x.txt": "" }, async (dir) => {
    await assert.rejects(detectProject(dir), /found no main.py, __init__.py or ELF executable/);
  });
});

Deno.test("detectProject returns an absolute root for a relative folder", async () => {
  await withProject({ "main.py": "" }, async (dir) => {
    const relative = dir.slice(dir.lastIndexOf("/") + 1);
    const parent = dir.slice(0, dir.lastIndexOf("/"));
    const before = Deno.cwd();
    Deno.chdir(parent);
    try {
      assert.equal((await detectProject(relative)).root, dir);
    } finally {
      Deno.chdir(before);
    }
  });
});

Deno.test("detectProject finds a single ELF executable at the top", async () => {
  await withProject({ "robot": ELF, "config.txt": "" }, async (dir) => {
    assert.deepEqual(await detectProject(dir), {
      type: "cpp",
      root: dir,
      entry: "robot",
      args: [],
      manifest: false,
      name: "project",
      permissions: {},
    });
  });
});

Deno.test("detectProject finds a single ELF executable in bin/ or build/", async () => {
  await withProject({ "bin/robot": ELF, "README": "" }, async (dir) => {
    assert.equal((await detectProject(dir)).entry, "bin/robot");
  });
  await withProject({ "build/robot": ELF, "src/robot.cpp": "" }, async (dir) => {
    assert.equal((await detectProject(dir)).entry, "build/robot");
  });
});

Deno.test("detectProject prefers an executable at the top to those in bin/", async () => {
  await withProject({ "robot": ELF, "bin/helper": ELF }, async (dir) => {
    assert.equal((await detectProject(dir)).entry, "robot");
  });
});

Deno.test("detectProject refuses several ELF executables, listing them", async () => {
  await assertNoProject(
    { "robot": ELF, "tool": ELF },
    /several ELF executables \(robot, tool\): add robot-agent\.json naming the 'entry'/,
  );
  await assertNoProject(
    { "bin/robot": ELF, "build/robot": ELF },
    /several ELF executables \(bin\/robot, build\/robot\)/,
  );
});

Deno.test("detectProject ignores ELF files without an executable bit, saying so", async () => {
  await assertNoProject(
    { "robot": { elf: true, mode: 0o644 } },
    /found no main.py, __init__.py or ELF executable.*; robot is an ELF file without an executable bit/,
  );
});

Deno.test("detectProject ignores executables that are not ELF", async () => {
  await withProject({ "run.sh": "#!/bin/sh\n" }, async (dir) => {
    await Deno.chmod(`${dir}/run.sh`, 0o755);
    await assert.rejects(detectProject(dir), /found no main.py/);
  });
});

Deno.test("detectProject refuses a folder with nothing recognisable", async () => {
  await assertNoProject(
    { "notes.txt": "", "src/app.py": "" },
    new RegExp(
      "^Cannot load project: found no main.py, __init__.py or ELF executable at the top of " +
        "the zip \\(add robot-agent.json to say what to run\\)$",
    ),
  );
});

Deno.test("detectProject follows a valid manifest", async () => {
  await withProject({
    [MANIFEST_NAME]: manifest({ type: "python", entry: "./app/run.py", args: ["--fast"] }),
    "main.py": "",
    "app/run.py": "",
  }, async (dir) => {
    assert.deepEqual(await detectProject(dir), {
      type: "python",
      root: dir,
      entry: "app/run.py",
      args: ["--fast"],
      manifest: true,
      name: "project",
      permissions: {},
    });
  });
  await withProject({
    [MANIFEST_NAME]: manifest({ type: "cpp", entry: "out/robot" }),
    "out/robot": ELF,
    "out/tool": ELF,
  }, async (dir) => {
    const info = await detectProject(dir);
    assert.equal(info.type, "cpp");
    assert.equal(info.entry, "out/robot");
    assert.equal(info.manifest, true);
  });
});

Deno.test("detectProject lets a manifest without entry pick the type", async () => {
  await withProject({
    [MANIFEST_NAME]: manifest({ type: "cpp" }),
    "main.py": "",
    "bin/robot": ELF,
  }, async (dir) => {
    const info = await detectProject(dir);
    assert.equal(info.type, "cpp");
    assert.equal(info.entry, "bin/robot");
  });
  await assertNoProject(
    { [MANIFEST_NAME]: manifest({ type: "python" }), "robot": ELF },
    /robot-agent\.json: found no main.py or __init__.py at the top: name the 'entry'/,
  );
});

Deno.test("detectProject refuses invalid manifests", async () => {
  const cases: [string, RegExp][] = [
    ["{not json", /robot-agent\.json: is not valid JSON/],
    ["[]", /robot-agent\.json: must hold a JSON object/],
    [manifest({ type: "python", main: "x" }), /robot-agent\.json: unknown key 'main'/],
    [manifest({ entry: "main.py" }), /'type' must be "python" or "cpp", not undefined/],
    [manifest({ type: "rust" }), /'type' must be "python" or "cpp", not "rust"/],
    [manifest({ type: "python", entry: 3 }), /'entry' must be a non-empty string/],
    [manifest({ type: "python", args: "--fast" }), /'args' must be an array of strings/],
    [manifest({ type: "python", args: [1] }), /'args' must be an array of strings/],
    [manifest({ type: "python", entry: "missing.py" }), /entry 'missing.py' does not exist/],
    [manifest({ type: "python", entry: "lib" }), /entry 'lib' is not a file/],
    [manifest({ type: "python", entry: "../main.py" }), /must be a relative path inside/],
    [manifest({ type: "python", entry: "/etc/passwd" }), /must be a relative path inside/],
    [manifest({ type: "cpp", entry: "main.py" }), /entry 'main.py' is not an ELF executable/],
  ];
  for (const [text, pattern] of cases) {
    await assertNoProject({ [MANIFEST_NAME]: text, "main.py": "", "lib/x.py": "" }, pattern);
  }
});

Deno.test("detectProject refuses a manifest entry reaching outside through a link", async () => {
  await withProject(
    { [MANIFEST_NAME]: manifest({ type: "python", entry: "out/x.py" }) },
    async (dir) => {
      const outside = await Deno.makeTempDir({ prefix: "detect_test_outside_" });
      try {
        await Deno.writeTextFile(`${outside}/x.py`, "");
        await Deno.symlink(outside, `${dir}/out`);
        await assert.rejects(detectProject(dir), /must be a relative path inside the project/);
      } finally {
        await Deno.remove(outside, { recursive: true });
      }
    },
  );
});

Deno.test("detectProject refuses a manifest entry that is not executable", async () => {
  await assertNoProject(
    {
      [MANIFEST_NAME]: manifest({ type: "cpp", entry: "robot" }),
      "robot": { elf: true, mode: 0o644 },
    },
    /robot-agent\.json: entry 'robot' is not executable \(mode 0644\)/,
  );
});

Deno.test("detectProject takes the name from the manifest, else from the zip's top folder", async () => {
  await withProject({
    [`walker/${MANIFEST_NAME}`]: manifest({
      type: "python",
      name: "gait-lab",
      permissions: { net: false, write: ["/tmp/gait/"], memory_mb: 512 },
    }),
    "walker/main.py": "",
  }, async (dir) => {
    const info = await detectProject(dir);
    assert.equal(info.name, "gait-lab");
    assert.deepEqual(info.permissions, { net: false, write: ["/tmp/gait"], memory_mb: 512 });
  });
  await withProject({ "walker/main.py": "" }, async (dir) => {
    assert.equal((await detectProject(dir)).name, "walker");
  });
  await withProject({ "main.py": "" }, async (dir) => {
    assert.equal((await detectProject(dir)).name, "project");
  });
});

Deno.test("detectProject refuses a manifest with a bad name or permissions", async () => {
  await assertNoProject(
    { [MANIFEST_NAME]: manifest({ type: "python", name: "../up" }), "main.py": "" },
    /'name' must be 1 to 64 letters/,
  );
  await assertNoProject(
    { [MANIFEST_NAME]: manifest({ type: "python", permissions: { net: "no" } }), "main.py": "" },
    /robot-agent\.json: 'permissions\.net' must be true or false/,
  );
});

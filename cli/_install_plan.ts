/**
 * What `robot-agent install` does, as a list of steps: made first, then printed
 * (`--dry-run`) or applied, so the plan shown is the plan carried out.
 *
 * @module
 */
import { serviceUnit, STORAGE_DIR, tokenFilePath, UNIT_PATH } from "./_service_unit.ts";

/** What `install` is asked for. */
export interface InstallOptions {
  /** The install folder: binary, config, token file. */
  prefix: string;
  /** The user the agent runs as. */
  user: string;
  /** The user deployed projects run as. */
  sandboxUser: string;
  /** The executable to install; undefined when running from source without `--binary`. */
  binary: string | undefined;
  /** `gateway.port` in the config written. */
  port: number;
}

/** Where a file's bytes come from. */
export type FileSource =
  | { text: string }
  | { copy: string }
  /** A new `ROBOT_AGENT_TOKEN=…` line, made when the file is written. */
  | { token: true };

/** One step of the plan. Paths are the robot's; `--root` puts them under a stand-in for `/`. */
export type InstallStep =
  | { kind: "user"; name: string; purpose: string }
  | { kind: "dir"; path: string; owner: string; mode: number; purpose: string }
  | {
    kind: "file";
    path: string;
    owner: string;
    mode: number;
    purpose: string;
    source: FileSource;
    /** Leave an existing file's content alone (operator edits, the token in use). */
    keep: boolean;
  }
  | { kind: "skip"; path: string; purpose: string };

/** The options of the `useradd` that makes both users. */
export const USERADD_FLAGS: readonly string[] = [
  "--system",
  "--no-create-home",
  "--home-dir",
  "/nonexistent",
  "--shell",
  "/usr/sbin/nologin",
  "--user-group",
];

/** The config file `install` writes: only what differs from the defaults. */
export function installConfig(options: { port: number }): string {
  return `# robot-agent's configuration, written by \`robot-agent install\` (which keeps it when it
# exists). Every key is optional: the config.yaml in the agent's source documents each key
# and its default.
gateway:
  port: ${options.port}
storage:
  # The unit's StateDirectory: the one folder the service may write. Moving it needs a
  # ReadWritePaths= for the new place (systemctl edit robot-agent).
  dir: ${STORAGE_DIR}
`;
}

/** The steps, in order: users, install folder, its files, storage, the unit. */
export function installPlan(options: InstallOptions): InstallStep[] {
  const { prefix, user, sandboxUser } = options;
  const root = "root:root";
  const binary: InstallStep = options.binary === undefined
    ? {
      kind: "skip",
      path: `${prefix}/robot-agent`,
      purpose: "the agent's executable: running from source, so none (build it with " +
        "`deno task build` and pass --binary dist/robot-agent-aarch64)",
    }
    : {
      kind: "file",
      path: `${prefix}/robot-agent`,
      owner: root,
      mode: 0o755,
      purpose: `the agent's executable, from ${options.binary}`,
      source: { copy: options.binary },
      keep: false,
    };
  return [
    { kind: "user", name: user, purpose: "runs the agent" },
    { kind: "user", name: sandboxUser, purpose: "runs deployed projects" },
    { kind: "dir", path: prefix, owner: root, mode: 0o755, purpose: "the install folder" },
    binary,
    {
      kind: "file",
      path: `${prefix}/config.yaml`,
      owner: root,
      mode: 0o644,
      purpose: "the configuration (kept if present)",
      source: { text: installConfig(options) },
      keep: true,
    },
    {
      kind: "file",
      path: tokenFilePath(prefix),
      owner: root,
      mode: 0o600,
      purpose: "ROBOT_AGENT_TOKEN, a new random operator token (kept if present)",
      source: { token: true },
      keep: true,
    },
    {
      kind: "dir",
      path: STORAGE_DIR,
      owner: `${user}:${user}`,
      mode: 0o750,
      purpose: "storage: projects, uploads, logs, sockets",
    },
    {
      kind: "file",
      path: UNIT_PATH,
      owner: root,
      mode: 0o644,
      purpose: "the systemd unit",
      source: { text: serviceUnit({ prefix, user }) },
      keep: false,
    },
  ];
}

/** One line of the printed plan. */
export function describeStep(step: InstallStep): string {
  const mode = (m: number) => m.toString(8).padStart(4, "0");
  switch (step.kind) {
    case "user":
      return `user  ${step.name.padEnd(40)} ${step.purpose}, made if missing: ${
        ["useradd", ...USERADD_FLAGS, step.name].join(" ")
      }`;
    case "dir":
      return `dir   ${step.path.padEnd(40)} ${step.owner} ${mode(step.mode)}: ${step.purpose}`;
    case "file":
      return `file  ${step.path.padEnd(40)} ${step.owner} ${mode(step.mode)}: ${step.purpose}`;
    case "skip":
      return `skip  ${step.path.padEnd(40)} ${step.purpose}`;
  }
}

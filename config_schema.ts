/**
 * The configuration's schema: every key, its type, range and default, and the types of the
 * validated configuration. `config.yaml` documents each key; `config.ts` loads and checks.
 *
 * @module
 */

/** One key of the schema: its kind, and the default and limits that kind has. */
export type Field =
  | { kind: "int"; default: number; min: number; max: number }
  | { kind: "number"; default: number; min: number; max: number }
  | { kind: "string"; default?: string; choices?: readonly string[] }
  | { kind: "map" }
  | { kind: "labels" }
  | { kind: "strings"; default: string[]; choices?: readonly string[] }
  | { kind: "paths"; default: string[] }
  | { kind: "bool"; default: boolean }
  | { kind: "tls" }
  | { kind: "object"; fields: Record<string, Field> }
  | { kind: "calls"; default: SafetyCall[] };

/** A call the agent makes on its own, e.g. the safety stop's `sport_client.StopMove`. */
export interface SafetyCall {
  object: string;
  method: string;
  args: Record<string, unknown>;
}

function int(value: number, min: number, max: number): Field {
  return { kind: "int", default: value, min, max };
}

function num(value: number, min: number, max: number): Field {
  return { kind: "number", default: value, min, max };
}

function str(value: string | undefined, choices?: readonly string[]): Field {
  return { kind: "string", default: value, choices };
}

const MIB = 1024 * 1024;

/** How the gateway serves TLS: not at all, a certificate it makes itself, or given files. */
export type TlsConfig = "off" | "auto" | { cert_file: string; key_file: string };

export const TLS_FILES: Field = {
  kind: "object",
  fields: { cert_file: str(undefined), key_file: str(undefined) },
};

/** A fleet label's name or value: one NATS subject token, and a KV key part. */
export const LABEL = /^[A-Za-z0-9_-]{1,64}$/;

/** One entry of `safety.on_disconnect`. */
export const CALL: Field = {
  kind: "object",
  fields: { object: str(undefined), method: str(undefined), args: { kind: "map" } },
};

/** What a project may be granted: `sandbox.defaults` and `sandbox.ceiling` each hold one. */
export interface SandboxPermissions {
  read: string[];
  write: string[];
  devices: string[];
  net: boolean;
  run: boolean;
  memory_mb: number;
  processes: number;
  open_files: number;
}

/** The layers `sandbox.pretend_missing` may name (executors/robot_agent_sandbox/spec.py). */
export const SANDBOX_LAYERS = ["landlock", "netns", "seccomp", "cgroup", "user", "view"] as const;

function permissions(values: SandboxPermissions): Field {
  return {
    kind: "object",
    fields: {
      read: { kind: "paths", default: values.read },
      write: { kind: "paths", default: values.write },
      devices: { kind: "paths", default: values.devices },
      net: { kind: "bool", default: values.net },
      run: { kind: "bool", default: values.run },
      memory_mb: int(values.memory_mb, 16, 1_048_576),
      processes: int(values.processes, 1, 1_000_000),
      open_files: int(values.open_files, 16, 1_048_576),
    },
  };
}

/** The schema; `config.yaml` documents each key. */
export const SCHEMA: Field = {
  kind: "object",
  fields: {
    gateway: {
      kind: "object",
      fields: {
        host: str("0.0.0.0"),
        port: int(8000, 0, 65535),
        max_message_bytes: int(64 * MIB, 1024, 64 * MIB),
        idle_timeout_s: num(15, 1, 3600),
        max_buffered_bytes: int(16 * MIB, 64 * 1024, 1024 * MIB),
        event_buffered_bytes: int(1 * MIB, 0, 1024 * MIB),
        session_max_results: int(1000, 0, 1_000_000),
        session_max_age_s: num(600, 1, 7 * 86_400),
        session_max_bytes: int(64 * MIB, 0, 4096 * MIB),
        allowed_origins: { kind: "strings", default: [] },
        allowed_hosts: { kind: "strings", default: [] },
        tls: { kind: "tls" },
        max_observers: int(8, 0, 1000),
        header_timeout_s: num(10, 0.1, 600),
        max_unauthenticated: int(32, 1, 100_000),
        max_unauthenticated_per_address: int(8, 1, 100_000),
        max_connections: int(512, 4, 1_000_000),
      },
    },
    auth: {
      kind: "object",
      fields: {
        required: { kind: "bool", default: true },
        max_failures: int(10, 1, 1_000_000),
        failure_window_s: num(60, 1, 86_400),
        block_s: num(60, 1, 86_400),
      },
    },
    storage: {
      kind: "object",
      fields: { dir: str("./storage"), keep_versions: int(3, 1, 100) },
    },
    lifecycle: {
      kind: "object",
      fields: {
        probation_s: num(10, 0, 86_400),
        auto_rollback: { kind: "bool", default: true },
      },
    },
    log: {
      kind: "object",
      fields: {
        level: str("info", ["debug", "info", "warning", "error"]),
        file_max_bytes: int(10 * MIB, 4096, 1024 * MIB),
        file_count: int(5, 1, 100),
      },
    },
    worker: {
      kind: "object",
      fields: {
        start_timeout_s: num(20, 1, 600),
        restart_delay_ms: int(50, 0, 60_000),
        restart_max_delay_ms: int(5000, 0, 600_000),
        crash_loop_restarts: int(5, 1, 1000),
        crash_loop_window_s: num(60, 1, 3600),
        hang_timeout_s: num(5, 0.5, 600),
      },
    },
    zip: {
      kind: "object",
      fields: {
        max_entries: int(10_000, 1, 10_000_000),
        max_uncompressed_bytes: int(1024 * MIB, 1024, Number.MAX_SAFE_INTEGER),
        max_ratio: num(200, 1, 1_000_000),
      },
    },
    upload: {
      kind: "object",
      fields: {
        max_bytes: int(2048 * MIB, 1024, Number.MAX_SAFE_INTEGER),
        max_chunk_bytes: int(8 * MIB, 1024, 48 * MIB),
        max_in_progress: int(4, 1, 1000),
        stale_s: num(86_400, 1, 365 * 86_400),
      },
    },
    python: {
      kind: "object",
      fields: {
        command: str("python3"),
        threads: int(8, 1, 256),
        call_timeout_s: num(300, 0.001, 86_400),
        start_timeout_s: num(30, 1, 600),
        hard_grace_s: num(10, 0.1, 3600),
      },
    },
    cpp: {
      kind: "object",
      fields: {
        stop_signal: str("SIGTERM", ["SIGTERM", "SIGINT", "SIGHUP", "SIGUSR1", "SIGUSR2"]),
        stop_grace_s: num(3, 0, 600),
      },
    },
    safety: {
      kind: "object",
      fields: {
        on_disconnect: {
          kind: "calls",
          default: [{ object: "sport_client", method: "StopMove", args: {} }],
        },
        link_timeout_ms: int(500, 100, 60_000),
      },
    },
    sandbox: {
      kind: "object",
      fields: {
        user: str("robot-agent-sandbox"),
        allow_root: { kind: "bool", default: false },
        // Empty: python.command.
        python: str(""),
        cgroup: str("auto"),
        file_size_mb: int(4096, 1, 1_048_576),
        pretend_missing: { kind: "strings", default: [], choices: SANDBOX_LAYERS },
        defaults: permissions({
          read: [],
          write: [],
          devices: [],
          net: true,
          run: true,
          memory_mb: 2048,
          processes: 512,
          open_files: 4096,
        }),
        ceiling: permissions({
          read: ["/"],
          write: ["/tmp", "/var/tmp", "/media", "/mnt"],
          devices: ["/dev"],
          net: true,
          run: true,
          memory_mb: 16384,
          processes: 8192,
          open_files: 65536,
        }),
      },
    },
    fleet: {
      kind: "object",
      fields: {
        nats_url: str(""),
        robot_id: str(""),
        labels: { kind: "labels" },
        creds_file: str(""),
        nkey_file: str(""),
        token: str(""),
        subject_prefix: str("robot-agent"),
        status_bucket: str("robot-agent-status"),
        desired_bucket: str("robot-agent-desired"),
        object_store: str("robot-agent-projects"),
        heartbeat_s: num(10, 0.1, 3600),
        control_idle_s: num(30, 0.1, 86_400),
        retry_s: num(5, 0.1, 3600),
      },
    },
  },
};

/** The validated configuration, with every default filled in. */
export interface AgentConfig {
  gateway: {
    host: string;
    port: number;
    max_message_bytes: number;
    idle_timeout_s: number;
    max_buffered_bytes: number;
    event_buffered_bytes: number;
    session_max_results: number;
    session_max_age_s: number;
    session_max_bytes: number;
    allowed_origins: string[];
    allowed_hosts: string[];
    tls: TlsConfig;
    max_observers: number;
    header_timeout_s: number;
    max_unauthenticated: number;
    max_unauthenticated_per_address: number;
    max_connections: number;
  };
  auth: {
    /** Whether connections must present a token; false only when listening on loopback. */
    required: boolean;
    max_failures: number;
    failure_window_s: number;
    block_s: number;
  };
  storage: { dir: string; keep_versions: number };
  lifecycle: {
    /** Seconds a started version must run without crashing to become good. */
    probation_s: number;
    /** Whether a version that fails to start or crashes in probation is replaced at once. */
    auto_rollback: boolean;
  };
  log: {
    level: "debug" | "info" | "warning" | "error";
    file_max_bytes: number;
    file_count: number;
  };
  worker: {
    start_timeout_s: number;
    restart_delay_ms: number;
    restart_max_delay_ms: number;
    crash_loop_restarts: number;
    crash_loop_window_s: number;
    /** A worker or Python host silent this long to its heartbeat is killed and restarted. */
    hang_timeout_s: number;
  };
  zip: { max_entries: number; max_uncompressed_bytes: number; max_ratio: number };
  upload: { max_bytes: number; max_chunk_bytes: number; max_in_progress: number; stale_s: number };
  python: {
    command: string;
    threads: number;
    call_timeout_s: number;
    start_timeout_s: number;
    hard_grace_s: number;
  };
  cpp: { stop_signal: Deno.Signal; stop_grace_s: number };
  safety: {
    on_disconnect: SafetyCall[];
    /**
     * A controller silent this long (no frame, no pong) is taken for a lost link: the
     * safety stop runs; its slot is kept for it for `gateway.idle_timeout_s`.
     */
    link_timeout_ms: number;
  };
  sandbox: {
    /** Who projects run as when the agent may switch users (root, or CAP_SETUID). */
    user: string;
    allow_root: boolean;
    /** The interpreter Python projects run on, as that user; empty: `python.command`. */
    python: string;
    /** `auto`, `off`, or the cgroup v2 folder projects' cgroups go in. */
    cgroup: string;
    file_size_mb: number;
    pretend_missing: string[];
    defaults: SandboxPermissions;
    ceiling: SandboxPermissions;
  };
  /** The fleet link (docs/fleet.md): off while `nats_url` is empty. */
  fleet: {
    nats_url: string;
    /** Empty: the host name. */
    robot_id: string;
    labels: Record<string, string>;
    creds_file: string;
    nkey_file: string;
    token: string;
    subject_prefix: string;
    status_bucket: string;
    desired_bucket: string;
    object_store: string;
    heartbeat_s: number;
    control_idle_s: number;
    retry_s: number;
  };
}

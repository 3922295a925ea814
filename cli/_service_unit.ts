/**
 * The systemd unit that runs the agent on the robot: one template, written by
 * `robot-agent install` and shipped as `scripts/robot-agent.service` (a test keeps the two
 * equal), so they cannot drift.
 *
 * The sandboxing is as tight as the agent's job allows: `systemd-analyze security` rates it
 * well under 5.0 (tests/service_unit_test.ts checks). What it leaves open, on purpose, is
 * written beside each setting.
 *
 * @module
 */

/** Where the agent keeps its state: systemd's `StateDirectory=`, see {@linkcode serviceUnit}. */
export const STORAGE_DIR = "/var/lib/robot-agent";

/** Where `install` writes the unit. */
export const UNIT_PATH = "/etc/systemd/system/robot-agent.service";

/**
 * The capabilities the agent keeps, and why: it starts deployed projects as the sandbox user
 * (setuid, setgid, setgroups for the device groups a project is granted), kills them once they
 * run as that user, and gives a project with `net: false` a network namespace of its own
 * with its loopback up. CAP_SYS_ADMIN is the price of that namespace, and CAP_NET_ADMIN of
 * its `lo` (a new namespace's loopback is down: without it the project could not even talk
 * to itself; it adds little to what CAP_SYS_ADMIN grants). The alternative, an unprivileged user
 * namespace, would let every project create user namespaces too (the door most kernel
 * privilege escalations use), while without capabilities a project can create none.
 */
export const CAPABILITIES: readonly string[] = [
  "CAP_SETUID",
  "CAP_SETGID",
  "CAP_KILL",
  "CAP_SYS_ADMIN",
  "CAP_NET_ADMIN",
];

/** What the unit depends on. */
export interface ServiceUnitOptions {
  /** The install folder: the binary, `config.yaml` and `token.env` (root-owned, read-only). */
  prefix: string;
  /** The user the agent runs as. */
  user: string;
}

/** The default options: what `scripts/robot-agent.service` is generated with. */
export const DEFAULT_UNIT_OPTIONS: ServiceUnitOptions = {
  prefix: "/opt/robot-agent",
  user: "robot-agent",
};

/** The path of the file holding `ROBOT_AGENT_TOKEN`, under an install folder. */
export function tokenFilePath(prefix: string): string {
  return `${prefix}/token.env`;
}

/** The unit's text for an install folder and user. */
export function serviceUnit(options: ServiceUnitOptions): string {
  const { prefix, user } = options;
  const state = STORAGE_DIR.slice("/var/lib/".length);
  return `# robot-agent's systemd unit, written by \`robot-agent install\` (cli/_service_unit.ts is
# its source; do not edit scripts/robot-agent.service by hand). Override a setting with
# \`systemctl edit robot-agent\` rather than editing this file.
[Unit]
Description=robot-agent: deploy code to the robot and drive it over a WebSocket
After=network-online.target
Wants=network-online.target
# Restart=always below, but give up after 5 failed starts within a minute (a broken
# install should show as failed, not loop forever); \`systemctl reset-failed\` re-arms it.
StartLimitIntervalSec=60
StartLimitBurst=5

[Service]
Type=simple
User=${user}
Group=${user}
ExecStart=${prefix}/robot-agent serve --config ${prefix}/config.yaml
# ROBOT_AGENT_TOKEN, the operator token: root-owned, mode 0600, read by systemd.
EnvironmentFile=${tokenFilePath(prefix)}
# Keep large buffers mmapped so memory freed after an upload goes back to the system.
Environment=MALLOC_MMAP_THRESHOLD_=131072
# Storage (${STORAGE_DIR}): created and chowned to the user by systemd at each start,
# and the one writable place under ProtectSystem=strict.
StateDirectory=${state}
StateDirectoryMode=0750
WorkingDirectory=${STORAGE_DIR}
UMask=0027

Restart=always
RestartSec=2
# Exit code 2 is bad usage or an invalid config.yaml: restarting cannot fix it.
RestartPreventExitStatus=2
# SIGTERM goes to the agent alone: it runs the safety stop through the worker and the
# project, then stops them in order (each within ~5 s). SIGTERM to the whole group at
# once (KillMode=control-group) would kill the project before its stop hooks ran. What is
# left after TimeoutStopSec gets SIGKILL, the whole group.
KillMode=mixed
KillSignal=SIGTERM
TimeoutStopSec=20
# A project killed by the OOM killer is the agent's to report (EXECUTOR_EXITED), not a
# reason to stop the service.
OOMPolicy=continue
MemoryMax=75%
TasksMax=2048
# The agent puts each project in a cgroup of its own under the service's.
Delegate=yes

CapabilityBoundingSet=${CAPABILITIES.join(" ")}
AmbientCapabilities=${CAPABILITIES.join(" ")}
NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome=yes
PrivateTmp=yes
PrivateMounts=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectHostname=yes
RestrictSUIDSGID=yes
RestrictRealtime=yes
LockPersonality=yes
RemoveIPC=yes
# A project with net: false gets a network namespace; no other kind is needed.
RestrictNamespaces=net
# The robot's network (DDS over UDP, CAN for motor and arm controllers) stays reachable.
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK AF_CAN
SystemCallArchitectures=native
SystemCallFilter=@system-service
SystemCallFilter=~@clock @cpu-emulation @debug @module @mount @obsolete @raw-io @reboot @swap
# V8 probes for memory protection keys (pkey_alloc): a refused call must fail, not kill.
SystemCallErrorNumber=EPERM
# Left open on purpose:
# - devices: no PrivateDevices/DeviceAllow, so /dev stays reachable to projects granted a
#   device (DevicePolicy=auto with no list). ProtectClock=yes is left out: on systemd
#   without the fix of systemd#25075 (Ubuntu 20.04's 245 among them) it implies
#   DeviceAllow=char-rtc, which blocks every other device. The ~@clock filter and the
#   capability set protect the clock instead.
# - the network: no PrivateNetwork or IPAddressDeny (the robot's own network).
# - ProtectControlGroups: on this systemd it makes /sys/fs/cgroup read-only, which undoes
#   Delegate=yes.
# - ProtectProc=invisible: it would hide the sandbox user's processes from the agent.
# - MemoryDenyWriteExecute: V8's JIT writes code. PrivateUsers: the user switch needs the
#   host's users.

[Install]
WantedBy=multi-user.target
`;
}

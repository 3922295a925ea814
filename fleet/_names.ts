/**
 * The fleet's names: subjects, bucket keys, robot ids, and selectors (which robots a
 * desired state or a fan-out call is for). Pure functions, no NATS code.
 *
 * Subjects, with `P` the prefix (`fleet.subject_prefix`, default `robot-agent`):
 *
 * | subject                  | what                                                      |
 * | ------------------------ | --------------------------------------------------------- |
 * | `P.ID.cmd`               | a client command (request-reply), answered by its reply   |
 * | `P.ID.evt.callback`      | a call's callback (`id` as sent)                          |
 * | `P.ID.evt.reply`         | a further reply under a request's id (an upload's deploy) |
 * | `P.ID.evt.event.NAME`    | an event (`push_message`, `project_exited`, …)            |
 * | `$SRV.PING\|INFO\|STATS…` | NATS service discovery, service name `P`                  |
 *
 * Desired-state keys: `robot.ID` for one robot, `sel.all` for every robot, and
 * `sel.K=V[.K2=V2…]` (pairs sorted by name) for the robots carrying those labels.
 *
 * @module
 */

/** A robot id, label name or label value: one subject token and one key part. */
const TOKEN = /^[A-Za-z0-9_-]{1,64}$/;

/** Which robots something is for. */
export type Selector =
  | { kind: "all" }
  | { kind: "robot"; id: string }
  | { kind: "labels"; labels: Record<string, string> };

/** What a selector is matched against: a robot's id and labels. */
export interface RobotIdentity {
  id: string;
  labels: Record<string, string>;
}

/** Whether `text` may be a robot id, a label name or a label value. */
export function isToken(text: string): boolean {
  return TOKEN.test(text);
}

/**
 * The robot id a host name gives: characters a subject token cannot hold become `-`
 * (`go2.lab` → `go2-lab`), cut to 64.
 */
export function robotIdFromHostname(hostname: string): string {
  const id = hostname.replace(/[^A-Za-z0-9_-]/g, "-").slice(0, 64);
  return id === "" ? "robot" : id;
}

/**
 * Reads `all`, `id=NAME`, or `K=V[,K2=V2…]`.
 *
 * @throws {SyntaxError} naming what is wrong.
 */
export function parseSelector(text: string): Selector {
  const trimmed = text.trim();
  if (trimmed === "all" || trimmed === "*") return { kind: "all" };
  const labels: Record<string, string> = {};
  for (const pair of trimmed.split(",")) {
    const at = pair.indexOf("=");
    const name = pair.slice(0, at).trim();
    const value = pair.slice(at + 1).trim();
    if (at <= 0 || !isToken(name) || !isToken(value)) {
      throw new SyntaxError(
        `Invalid selector ${JSON.stringify(text)}: expected all, id=NAME or NAME=VALUE[,…] ` +
          "(letters, digits, - and _)",
      );
    }
    if (Object.hasOwn(labels, name)) {
      throw new SyntaxError(`Invalid selector ${JSON.stringify(text)}: ${name} given twice`);
    }
    labels[name] = value;
  }
  if ("id" in labels) {
    if (Object.keys(labels).length > 1) {
      throw new SyntaxError(`Invalid selector ${JSON.stringify(text)}: id= stands alone`);
    }
    return { kind: "robot", id: labels.id };
  }
  return { kind: "labels", labels };
}

/** The selector as the command line writes it. */
export function formatSelector(selector: Selector): string {
  switch (selector.kind) {
    case "all":
      return "all";
    case "robot":
      return `id=${selector.id}`;
    case "labels":
      return sortedPairs(selector.labels).join(",");
  }
}

function sortedPairs(labels: Record<string, string>): string[] {
  return Object.keys(labels).sort().map((name) => `${name}=${labels[name]}`);
}

/** The desired-state key of a selector. */
export function selectorKey(selector: Selector): string {
  switch (selector.kind) {
    case "all":
      return "sel.all";
    case "robot":
      return `robot.${selector.id}`;
    case "labels":
      return `sel.${sortedPairs(selector.labels).join(".")}`;
  }
}

/** The selector a desired-state key stands for; undefined for a key of no selector. */
export function selectorOfKey(key: string): Selector | undefined {
  if (key === "sel.all") return { kind: "all" };
  if (key.startsWith("robot.")) {
    const id = key.slice("robot.".length);
    return isToken(id) ? { kind: "robot", id } : undefined;
  }
  if (!key.startsWith("sel.")) return undefined;
  try {
    const selector = parseSelector(key.slice("sel.".length).split(".").join(","));
    return selector.kind === "labels" ? selector : undefined;
  } catch {
    return undefined;
  }
}

/** Whether a robot is one of those a selector names. */
export function matches(selector: Selector, robot: RobotIdentity): boolean {
  switch (selector.kind) {
    case "all":
      return true;
    case "robot":
      return selector.id === robot.id;
    case "labels":
      return Object.entries(selector.labels).every(([name, value]) => robot.labels[name] === value);
  }
}

/**
 * How specific a selector is, for choosing among the desired states that match a robot:
 * its own key first, then the selector with the most labels, `all` last.
 */
export function specificity(selector: Selector): number {
  switch (selector.kind) {
    case "all":
      return 0;
    case "robot":
      return 1_000;
    case "labels":
      return Object.keys(selector.labels).length;
  }
}

/** The NATS names one fleet agrees on. */
export interface FleetNames {
  /** The subject prefix and the service's name. */
  prefix: string;
  statusBucket: string;
  desiredBucket: string;
  objectStore: string;
}

/** The names from the `fleet` section of the configuration. */
export function namesFromConfig(fleet: {
  subject_prefix: string;
  status_bucket: string;
  desired_bucket: string;
  object_store: string;
}): FleetNames {
  return {
    prefix: fleet.subject_prefix,
    statusBucket: fleet.status_bucket,
    desiredBucket: fleet.desired_bucket,
    objectStore: fleet.object_store,
  };
}

/** Where commands for robot `id` go. */
export function commandSubject(names: FleetNames, id: string): string {
  return `${names.prefix}.${id}.cmd`;
}

/** The subject of robot `id`'s callbacks, further replies or events. */
export function eventSubject(
  names: FleetNames,
  id: string,
  kind: "callback" | "reply" | "event",
  event?: string,
): string {
  const base = `${names.prefix}.${id}.evt.${kind}`;
  if (kind !== "event") return base;
  const token = (event ?? "").replace(/[^A-Za-z0-9_-]/g, "_").slice(0, 64);
  return `${base}.${token === "" ? "_" : token}`;
}

/** Every subject robot `id` publishes on. */
export function eventWildcard(names: FleetNames, id: string): string {
  return `${names.prefix}.${id}.evt.>`;
}

/**
 * The broker's side of per-robot permissions: each robot's NATS user may publish and
 * subscribe only on its own subjects and bucket keys (plus the JetStream API calls that
 * reading its desired state and fetching a project need); operators may do everything in
 * the fleet's account. {@linkcode natsAuthorization} writes the `accounts` block of a
 * nats-server configuration for nkey users; {@linkcode newUserKeys} makes their keys.
 *
 * @module
 */
import { nkeys } from "@nats-io/transport-node";
import type { FleetNames } from "./_names.ts";

/** A user's nkey pair: the seed (secret, for the robot) and the public key (the broker's). */
export interface UserKeys {
  seed: string;
  publicKey: string;
}

/** Makes a fresh nkey user pair. */
export function newUserKeys(): UserKeys {
  const pair = nkeys.createUser();
  return { seed: new TextDecoder().decode(pair.getSeed()), publicKey: pair.getPublicKey() };
}

/** The public key of an nkey seed (`SU…`). */
export function publicKeyOf(seed: string): string {
  return nkeys.fromSeed(new TextEncoder().encode(seed.trim())).getPublicKey();
}

/** What robot `id` may publish and subscribe to. */
export function robotPermissions(
  names: FleetNames,
  id: string,
): { publish: string[]; subscribe: string[] } {
  const kvStatus = `KV_${names.statusBucket}`;
  const kvDesired = `KV_${names.desiredBucket}`;
  const objects = `OBJ_${names.objectStore}`;
  const api = "$JS.API";
  return {
    publish: [
      `${names.prefix}.${id}.evt.>`,
      // Its own status record, and nothing else in that bucket.
      `$KV.${names.statusBucket}.${id}`,
      // What JetStream clients ask first: the account's limits and usage.
      `${api}.INFO`,
      `${api}.STREAM.INFO.${kvStatus}`,
      `${api}.STREAM.INFO.${kvDesired}`,
      `${api}.STREAM.INFO.${objects}`,
      // Watching desired state and reading a project: consumers on those two streams only.
      ...[kvDesired, objects].flatMap((stream) => [
        `${api}.CONSUMER.CREATE.${stream}`,
        `${api}.CONSUMER.CREATE.${stream}.>`,
        `${api}.CONSUMER.INFO.${stream}.*`,
        `${api}.CONSUMER.DELETE.${stream}.*`,
        `${api}.CONSUMER.MSG.NEXT.${stream}.*`,
        `${api}.DIRECT.GET.${stream}.>`,
        `${api}.STREAM.MSG.GET.${stream}`,
        `$JS.FC.${stream}.>`,
      ]),
    ],
    subscribe: [
      `${names.prefix}.${id}.cmd`,
      "$SRV.PING",
      "$SRV.INFO",
      "$SRV.STATS",
      `$SRV.*.${names.prefix}`,
      `$SRV.*.${names.prefix}.${id}`,
      // Replies to its own requests (the agent connects with this inbox prefix).
      `_INBOX_${id}.>`,
    ],
  };
}

function list(items: string[], indent: string): string {
  return `[\n${items.map((item) => `${indent}  "${item}"`).join(",\n")}\n${indent}]`;
}

/**
 * The `accounts` block of a nats-server configuration: one JetStream account holding one
 * user per robot (its own subjects only, answering requests sent to it) and the
 * operators (everything in the account).
 */
export function natsAuthorization(options: {
  names: FleetNames;
  robots: { id: string; publicKey: string }[];
  operators: { name: string; publicKey: string }[];
  account?: string;
}): string {
  const users = [
    ...options.operators.map((operator) =>
      `      # operator ${operator.name}: the whole fleet\n      { nkey: ${operator.publicKey} }`
    ),
    ...options.robots.map((robot) => {
      const { publish, subscribe } = robotPermissions(options.names, robot.id);
      const indent = "          ";
      return `      # robot ${robot.id}
      {
        nkey: ${robot.publicKey}
        permissions: {
          publish: { allow: ${list(publish, indent)} }
          subscribe: { allow: ${list(subscribe, indent)} }
          allow_responses: true
        }
      }`;
    }),
  ];
  return `accounts {
  ${options.account ?? "FLEET"} {
    jetstream: enabled
    users: [
${users.join("\n")}
    ]
  }
}
`;
}

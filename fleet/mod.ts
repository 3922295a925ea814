/**
 * The fleet mode: many robots driven through a NATS broker (JetStream). On the robot,
 * {@linkcode startFleetLink} dials out, serves commands on `PREFIX.ID.cmd` through the
 * gateway's own command table and lease, writes a status record, and converges on the
 * desired state; for the operator, {@linkcode FleetClient} lists robots, uploads a
 * project once, sets desired state and fans calls out. docs/fleet.md is the reference.
 *
 * Loaded only when a fleet is configured, or a `fleet` command runs (dynamic import):
 * the NATS packages stay out of every other start-up.
 *
 * @module
 */
export { type ClientId, CommandBridge, type GatewayMessage, type VirtualHost } from "./_bridge.ts";
export { chooseDesired, type DesiredValue } from "./_converge.ts";
export {
  DEFAULT_NAMES,
  type DesiredEntry,
  type FanOutOptions,
  type FanOutResult,
  FleetClient,
  type FleetClientOptions,
  sha256Hex,
  type UploadResult,
} from "./_operator.ts";
export { FleetLink, type FleetLinkOptions, robotIdOf, startFleetLink } from "./_link.ts";
export {
  type FleetNames,
  formatSelector,
  isToken,
  matches,
  parseSelector,
  type Selector,
  selectorKey,
  selectorOfKey,
} from "./_names.ts";
export {
  natsAuthorization,
  newUserKeys,
  publicKeyOf,
  robotPermissions,
  type UserKeys,
} from "./_permissions.ts";
export { TAKEOVER_HEADER } from "./_responder.ts";
export { type ConvergeState, type FleetReport, isOnline, type RobotRecord } from "./_status.ts";

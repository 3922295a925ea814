/**
 * `robot-agent fleet keys ROBOT… --out DIR`: an nkey per robot and one for the operator,
 * and the nats-server `accounts` block that gives each robot its own subjects only
 * (docs/fleet.md). Seeds already in DIR are kept, so adding robots is running it again
 * with the longer list.
 *
 * @module
 */
import { joinPath as join } from "../paths.ts";
import { type CliContext, CliError, ExitCode } from "./_command.ts";
import { type FleetFlags, loadFleet } from "./_fleet_args.ts";
import { printJson } from "./_format.ts";

/** The seed in `path`, made (mode 0600) when there is none. */
async function seedAt(path: string, make: () => string): Promise<{ seed: string; made: boolean }> {
  try {
    return { seed: (await Deno.readTextFile(path)).trim(), made: false };
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  const seed = make();
  await Deno.writeTextFile(path, `${seed}\n`, { mode: 0o600, createNew: true });
  return { seed, made: true };
}

/** `fleet keys ROBOT… --out DIR`. */
export async function fleetKeys(
  ctx: CliContext,
  { flags, positionals }: { flags: FleetFlags; positionals: string[] },
): Promise<number> {
  const { DEFAULT_NAMES, isToken, natsAuthorization, newUserKeys, publicKeyOf } = await loadFleet();
  if (!flags.out) throw new CliError("fleet keys needs --out DIR");
  if (positionals.length === 0) throw new CliError("fleet keys needs the robots' ids");
  const bad = positionals.find((id) => !isToken(id) || id === "operator");
  if (bad !== undefined) {
    throw new CliError(`Invalid robot id ${JSON.stringify(bad)}: letters, digits, - and _`);
  }
  const prefix = flags.prefix;
  const names = prefix === undefined ? DEFAULT_NAMES : {
    prefix,
    statusBucket: `${prefix}-status`,
    desiredBucket: `${prefix}-desired`,
    objectStore: `${prefix}-projects`,
  };
  await Deno.mkdir(flags.out, { recursive: true, mode: 0o700 });
  const make = () => newUserKeys().seed;
  const made: string[] = [];
  const keyOf = async (name: string) => {
    const { seed, made: fresh } = await seedAt(join(flags.out!, `${name}.nk`), make);
    if (fresh) made.push(name);
    return publicKeyOf(seed);
  };
  const operator = { name: "operator", publicKey: await keyOf("operator") };
  const robots = [];
  for (const id of positionals) robots.push({ id, publicKey: await keyOf(id) });
  const conf = join(flags.out, "accounts.conf");
  await Deno.writeTextFile(conf, natsAuthorization({ names, robots, operators: [operator] }));
  if (flags.json) {
    printJson(ctx, { accounts: conf, made, robots, operator });
    return ExitCode.OK;
  }
  ctx.out(`Wrote ${conf}: include it from nats-server.conf (docs/fleet.md)`);
  ctx.out(
    `Seeds in ${flags.out}: ${made.length} new (${made.join(", ") || "none"}), kept the rest`,
  );
  ctx.out(`Give each robot its ROBOT.nk as fleet.nkey_file; operators use --nkey operator.nk`);
  return ExitCode.OK;
}

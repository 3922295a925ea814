/**
 * `robot-agent logs [-f]`: the agent's recent records and the project's output; with
 * `-f`, new ones as they come, until Ctrl-C.
 *
 * @module
 */
import { type CliCommand, type CliContext, CliError, ExitCode } from "./_command.ts";
import { CONNECT_HELP, parseFlags, withRobot } from "./_connect.ts";

const USAGE = `Usage: robot-agent logs [options]

Prints recent log records: the project's print() output (stdout) and stderr, tagged with
its version, and the agent's own records. Connects as an observer, beside any controller.

Options:
  -f, --follow         keep printing new records until Ctrl-C
  --level L            debug, info (default), warning or error
  --lines N            how many recent records first (default 200, at most 2000)
  --source S           project, agent or all (default)
${CONNECT_HELP}
`;

interface Entry {
  at: string;
  level: string;
  source: string;
  category: string;
  message: string;
  stream?: string;
  version?: number;
}

/** One record as a line: time, level, where, message. */
export function formatEntry(entry: Entry): string {
  const where = entry.source === "project"
    ? `project v${entry.version ?? "?"} ${entry.stream ?? ""}`.trimEnd()
    : entry.category;
  return `${entry.at.slice(11, 23)} ${entry.level.padEnd(7)} ${where}: ${entry.message}`;
}

function print(ctx: CliContext, entry: Entry, json: boolean): void {
  ctx.out(json ? JSON.stringify(entry) : formatEntry(entry));
}

/** Resolves on the first SIGINT (the follow's end). */
function interrupted(): { promise: Promise<void>; dispose(): void } {
  const { promise, resolve } = Promise.withResolvers<void>();
  const onSignal = () => resolve();
  Deno.addSignalListener("SIGINT", onSignal);
  return { promise, dispose: () => Deno.removeSignalListener("SIGINT", onSignal) };
}

/** The `logs` command. */
export const logsCommand: CliCommand = {
  name: "logs",
  summary: "print the project's output and the agent's log; -f to follow",
  usage: USAGE,
  async run(ctx, args) {
    const expanded = args.map((arg) => arg === "-f" ? "--follow" : arg);
    const { values, positionals } = parseFlags(expanded, {
      follow: { type: "boolean" },
      level: { type: "string" },
      lines: { type: "string" },
      source: { type: "string" },
    }, USAGE);
    if (positionals.length > 0) throw new CliError(`logs takes no arguments\n\n${USAGE}`);
    const lines = values.lines === undefined ? 200 : Number(values.lines);
    const params = {
      follow: values.follow === true,
      level: values.level ?? "info",
      lines,
      source: values.source ?? "all",
    };
    // Listening for Ctrl-C from the start: a SIGINT before the listener would end the
    // process with 130 instead of a clean stop.
    const stop = params.follow ? interrupted() : undefined;
    return await withRobot(ctx, values, async (robot) => {
      const events = params.follow ? robot.events({ names: ["log", "log_dropped"] }) : undefined;
      const reply = await robot.request("logs", params) as { entries: Entry[] };
      for (const entry of reply.entries) print(ctx, entry, values.json === true);
      if (!events || !stop) return ExitCode.OK;
      try {
        const next = () => events.next();
        while (true) {
          const item = await Promise.race([next(), stop.promise.then(() => undefined)]);
          if (!item || item.done) break;
          if (item.value.name === "log_dropped") {
            ctx.err(
              `(${
                (item.value.data as { dropped: number }).dropped
              } records dropped: over the rate)`,
            );
          } else print(ctx, item.value.data as Entry, values.json === true);
        }
      } finally {
        stop.dispose();
        await events.return?.();
      }
      return ExitCode.OK;
    }, { observe: true });
  },
};

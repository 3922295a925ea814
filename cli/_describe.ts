/**
 * `robot-agent describe [OBJECT]`: the running project's objects and methods, with their
 * parameters' types and defaults and their docstrings.
 *
 * @module
 */
import type { MethodInfo, ParamInfo } from "../ipc/mod.ts";
import { type CliCommand, CliError, ExitCode } from "./_command.ts";
import { CONNECT_HELP, parseFlags, withRobot } from "./_connect.ts";
import { printJson } from "./_format.ts";

const USAGE = `Usage: robot-agent describe [OBJECT] [options]

Lists the running project's objects and their methods: parameters with their types and
defaults, return types, and the first line of each docstring. Arguments of annotated
methods are checked by the agent before a call reaches the project.

${CONNECT_HELP}
`;

interface Described {
  version: number;
  hash: string;
  objects: Record<string, { doc: string | null; methods: Record<string, MethodInfo> }>;
}

function param(p: ParamInfo): string {
  const prefix = p.kind === "var_positional" ? "*" : p.kind === "var_keyword" ? "**" : "";
  const type = p.annotation ? `: ${p.annotation}` : "";
  const value = Object.hasOwn(p, "default")
    ? ` = ${p.default_repr ? String(p.default) : JSON.stringify(p.default)}`
    : "";
  return `${prefix}${p.name}${type}${value}`;
}

/** The lines `describe` prints for one method. */
export function formatMethod(name: string, method: MethodInfo): string[] {
  const params = method.params === null ? "…" : method.params.map(param).join(", ");
  const returns = method.returns?.annotation ? ` -> ${method.returns.annotation}` : "";
  const lines = [`  ${method.async ? "async " : ""}${name}(${params})${returns}`];
  if (method.doc) lines.push(`      ${method.doc}`);
  return lines;
}

/** The `describe` command. */
export const describeCommand: CliCommand = {
  name: "describe",
  summary: "list the running project's objects and methods with their parameters",
  usage: USAGE,
  async run(ctx, args) {
    const { values, positionals } = parseFlags(args, {}, USAGE);
    if (positionals.length > 1) throw new CliError(`describe takes at most an OBJECT\n\n${USAGE}`);
    const params = positionals[0] === undefined ? {} : { object: positionals[0] };
    return await withRobot(ctx, values, async (robot) => {
      const described = await robot.request("describe", params) as Described;
      if (values.json) {
        printJson(ctx, described);
        return ExitCode.OK;
      }
      ctx.out(`version ${described.version} (interface ${described.hash.slice(0, 12)})`);
      for (const [name, object] of Object.entries(described.objects)) {
        ctx.out(`${name}${object.doc ? `  ${object.doc}` : ""}`);
        for (const [method, info] of Object.entries(object.methods)) {
          for (const line of formatMethod(method, info)) ctx.out(line);
        }
      }
      return ExitCode.OK;
    }, { observe: true });
  },
};

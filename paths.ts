/**
 * POSIX path helpers for the worker's side of the agent.
 *
 * The worker process imports no `node:` module and no npm package while idle: the first
 * such import starts Deno's Node compatibility layer, about 8 MiB of RSS per process.
 * These cover what the worker needs of `node:path`; the agent runs on Linux only.
 *
 * @module
 */

/** Resolves `.` and `..` segments and repeated slashes; keeps leading and trailing `/`. */
export function normalizePath(path: string): string {
  const absolute = path.startsWith("/");
  const trailing = path.endsWith("/") && path.length > 1 ? "/" : "";
  const out: string[] = [];
  for (const segment of path.split("/")) {
    if (segment === "" || segment === ".") continue;
    if (segment === "..") {
      if (out.length > 0 && out[out.length - 1] !== "..") out.pop();
      else if (!absolute) out.push("..");
    } else {
      out.push(segment);
    }
  }
  const joined = out.join("/");
  if (absolute) return `/${joined}${joined ? trailing : ""}`;
  return (joined || ".") + trailing;
}

/** Joins segments with `/` and normalizes the result, like `node:path`'s `join`. */
export function joinPath(...parts: string[]): string {
  return normalizePath(parts.filter((part) => part !== "").join("/"));
}

/** An absolute, normalized path: `parts` resolved right to left against the cwd. */
export function resolvePath(...parts: string[]): string {
  let path = "";
  for (let index = parts.length - 1; index >= 0 && !path.startsWith("/"); index--) {
    if (parts[index] !== "") path = path ? `${parts[index]}/${path}` : parts[index];
  }
  if (!path.startsWith("/")) path = `${Deno.cwd()}/${path}`;
  const normal = normalizePath(path);
  return normal.length > 1 && normal.endsWith("/") ? normal.slice(0, -1) : normal;
}

/** The path from `from` to `to` (both resolved first), like `node:path`'s `relative`. */
export function relativePath(from: string, to: string): string {
  const source = resolvePath(from).split("/").filter(Boolean);
  const target = resolvePath(to).split("/").filter(Boolean);
  let common = 0;
  while (common < source.length && common < target.length && source[common] === target[common]) {
    common++;
  }
  return [...source.slice(common).map(() => ".."), ...target.slice(common)].join("/");
}

/** Whether `path` is `folder` or lies beneath it; both absolute and normalized. */
export function isWithin(path: string, folder: string): boolean {
  return folder === "/" || path === folder || path.startsWith(`${folder}/`);
}

/**
 * What a deploy leaves out of a project folder: `.git`, `__pycache__`, `*.pyc`, `.DS_Store`
 * and what the folder's `.robotignore` lists, in gitignore's syntax (`#` comments, `!`
 * negation, `/` anchoring, `**`, a trailing `/` for folders only). The command line and the
 * web console both apply these rules, so one folder gives one zip from either.
 *
 * @module
 */

/** The rules every deploy applies before the folder's own `.robotignore`. */
export const BUILT_IN_IGNORES: readonly string[] = [
  ".git/",
  "__pycache__/",
  "*.pyc",
  ".DS_Store",
  "/.robotignore",
];

/** One line of an ignore file. */
export interface IgnoreRule {
  /** The pattern as written. */
  readonly pattern: string;
  /** Matches a path relative to the folder, `/`-separated. */
  readonly regex: RegExp;
  /** `!pattern`: takes back an earlier rule's exclusion. */
  readonly negate: boolean;
  /** `pattern/`: matches folders only. */
  readonly folderOnly: boolean;
}

function globToRegex(glob: string, anchored: boolean): RegExp {
  let out = "";
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i];
    if (c === "*" && glob[i + 1] === "*") {
      const slashAfter = glob[i + 2] === "/";
      out += slashAfter ? "(?:.*/)?" : ".*";
      i += slashAfter ? 2 : 1;
    } else if (c === "*") {
      out += "[^/]*";
    } else if (c === "?") {
      out += "[^/]";
    } else if (c === "[") {
      const close = glob.indexOf("]", i + 2);
      if (close < 0) {
        out += "\\[";
        continue;
      }
      const body = glob.slice(i + 1, close).replace(/^!/, "^").replace(/\\/g, "\\\\");
      out += `[${body}]`;
      i = close;
    } else if (c === "\\" && i + 1 < glob.length) {
      out += glob[++i].replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
    } else {
      out += c.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
    }
  }
  return new RegExp(`${anchored ? "^" : "^(?:.*/)?"}${out}$`);
}

/** Parses ignore rules: one glob a line, `#` comments, `!` negation, `/` anchoring. */
export function parseIgnore(text: string): IgnoreRule[] {
  const rules: IgnoreRule[] = [];
  for (const raw of text.split(/\r?\n/)) {
    let line = raw.replace(/(?<!\\)\s+$/, "");
    if (line === "" || line.startsWith("#")) continue;
    const negate = line.startsWith("!");
    if (negate) line = line.slice(1);
    const folderOnly = line.endsWith("/");
    if (folderOnly) line = line.replace(/\/+$/, "");
    // A slash at the start or in the middle ties the pattern to the folder's top.
    const anchored = line.includes("/");
    const glob = line.replace(/^\//, "");
    if (glob === "") continue;
    rules.push({ pattern: raw.trim(), regex: globToRegex(glob, anchored), negate, folderOnly });
  }
  return rules;
}

/** Whether `path` (relative, `/`-separated) is left out by `rules`: the last match wins. */
export function isIgnored(path: string, isFolder: boolean, rules: readonly IgnoreRule[]): boolean {
  let ignored = false;
  for (const rule of rules) {
    if (rule.folderOnly && !isFolder) continue;
    if (rule.regex.test(path)) ignored = !rule.negate;
  }
  return ignored;
}

/**
 * Whether a file at `path` (relative, `/`-separated) is left out: it or one of its folders
 * is, as a walk of the folder that skips ignored folders would find.
 */
export function isIgnoredFile(path: string, rules: readonly IgnoreRule[]): boolean {
  const parts = path.split("/");
  for (let i = 1; i < parts.length; i++) {
    if (isIgnored(parts.slice(0, i).join("/"), true, rules)) return true;
  }
  return isIgnored(path, false, rules);
}

/** The rules for a folder: the built-in ones, then its `.robotignore` (empty if none). */
export function folderRules(robotignore = ""): IgnoreRule[] {
  return [...parseIgnore(BUILT_IN_IGNORES.join("\n")), ...parseIgnore(robotignore)];
}

/**
 * What the console knows of the project's objects: from `describe` (methods with typed
 * parameters, defaults and docstrings) when the agent has it, else from `start`'s
 * `objects` (names only; the form is then one JSON box).
 *
 * @module
 */

/** One parameter of a method, as `describe` tells it. */
export interface ParamInfo {
  name: string;
  /** The annotation as written (`float`, `List[str]`), if any. */
  annotation?: string;
  /** The JSON type the agent checks the argument against (`number`, `array`, …), if any. */
  type?: string;
  /** Whether it may be left out (then `default` holds its default, when JSON can). */
  hasDefault: boolean;
  default?: unknown;
  /** The default is Python's `repr` of it (not JSON): shown, never sent. */
  defaultIsRepr?: boolean;
  /** `var_keyword` for `**kwargs` (any further names), else a named parameter. */
  kind?: string;
}

/** One public method. */
export interface MethodInfo {
  name: string;
  doc?: string;
  /** Undefined when the agent did not say (no `describe`): arguments as free JSON. */
  params?: ParamInfo[];
}

/** One object calls may target. */
export interface ObjectInfo {
  name: string;
  doc?: string;
  methods: MethodInfo[];
}

type Loose = Record<string, unknown>;

function isObject(value: unknown): value is Loose {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function text(value: unknown): string | undefined {
  return typeof value === "string" && value.trim() !== "" ? value : undefined;
}

/** Entries of a map `{name: info}` or of a list `[{name, ...}]`, as `[name, info]`. */
function named(value: unknown): [string, Loose][] {
  if (Array.isArray(value)) {
    return value.filter(isObject).filter((item) => typeof item.name === "string")
      .map((item) => [item.name as string, item]);
  }
  if (!isObject(value)) return [];
  return Object.entries(value).map(([name, info]) => [name, isObject(info) ? info : {}]);
}

function paramOf(name: string, info: Loose): ParamInfo {
  const schema = isObject(info.schema) ? info.schema : {};
  const kind = text(info.kind)?.toLowerCase();
  return {
    name,
    annotation: text(info.annotation) ?? text(info.type),
    type: text(schema.type),
    hasDefault: info.required === false || (info.required === undefined && "default" in info),
    default: info.default,
    defaultIsRepr: info.default_repr === true,
    kind,
  };
}

function methodOf(name: string, info: Loose): MethodInfo {
  const raw = info.params ?? info.parameters;
  const params = raw === undefined || raw === null ? undefined : named(raw)
    .map(([param, detail]) => paramOf(param, detail))
    // Calls pass arguments by name: these cannot be given.
    .filter((p) =>
      p.name !== "self" && p.kind !== "var_positional" && p.kind !== "positional_only"
    );
  return { name, doc: text(info.doc) ?? text(info.docstring), params };
}

/** The objects of a `describe` reply, tolerant of a map or a list at each level. */
export function fromDescribe(data: unknown): ObjectInfo[] {
  const objects = isObject(data) && "objects" in data ? data.objects : data;
  return named(objects).map(([name, info]) => ({
    name,
    doc: text(info.doc) ?? text(info.docstring),
    methods: named(info.methods ?? {}).map(([method, detail]) => methodOf(method, detail))
      .sort((a, b) => a.name.localeCompare(b.name)),
  })).sort((a, b) => a.name.localeCompare(b.name));
}

/** The objects of `start`'s reply (`{object: [method, …]}`): names only. */
export function fromStart(objects: Record<string, string[]> | undefined): ObjectInfo[] {
  return Object.entries(objects ?? {}).map(([name, methods]) => ({
    name,
    methods: [...methods].sort().map((method) => ({ name: method })),
  })).sort((a, b) => a.name.localeCompare(b.name));
}

/** Whether the project has `object.method`. */
export function hasMethod(objects: ObjectInfo[], object: string, method: string): boolean {
  return objects.some((o) => o.name === object && o.methods.some((m) => m.name === method));
}

/** The form control a parameter gets, from its schema, else its annotation or default. */
export function controlOf(param: ParamInfo): "number" | "integer" | "boolean" | "text" | "json" {
  switch (param.type) {
    case "integer":
      return "integer";
    case "number":
      return "number";
    case "boolean":
      return "boolean";
    case "string":
      return "text";
    case undefined:
      break;
    default:
      return "json";
  }
  const annotation = (param.annotation ?? "").toLowerCase();
  if (annotation === "int") return "integer";
  if (annotation === "float") return "number";
  if (annotation === "bool") return "boolean";
  if (annotation === "str") return "text";
  if (!annotation && typeof param.default === "number") return "number";
  if (!annotation && typeof param.default === "boolean") return "boolean";
  if (!annotation && typeof param.default === "string" && !param.defaultIsRepr) return "text";
  return "json";
}

/**
 * A field's text as an argument, the way the command line reads `NAME=VALUE`: JSON when
 * it parses (`3`, `-0.5`, `true`, `[1, 2]`), else the text itself.
 */
export function parseValue(raw: string, control: ReturnType<typeof controlOf>): unknown {
  if (control === "text") return raw;
  try {
    return JSON.parse(raw);
  } catch {
    if (control === "number" || control === "integer") {
      throw new SyntaxError(`Invalid number: ${JSON.stringify(raw)}`);
    }
    return raw;
  }
}

/** The text a field starts with: its default, shown as the user would type it. */
export function initialText(param: ParamInfo): string {
  if (!param.hasDefault || param.default === undefined || param.defaultIsRepr) return "";
  const control = controlOf(param);
  if (control === "text" && typeof param.default === "string") return param.default;
  return JSON.stringify(param.default);
}

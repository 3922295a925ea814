/**
 * Checks a call's arguments against the method's description (from `describe`), in the
 * gateway, before the call is sent: a wrong type, a missing or an unexpected argument is
 * refused `BAD_ARGS` naming the field by its JSON pointer.
 *
 * The schemas are the small subset the Python host maps annotations to: `type`
 * (integer, number, string, boolean, null, array, object), `enum`, `anyOf`, `items`.
 *
 * @module
 */
import type { MethodInfo, ParamInfo, ValueSchema } from "../ipc/mod.ts";

function typeName(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  if (typeof value === "number") return Number.isInteger(value) ? "integer" : "number";
  return typeof value;
}

function escapePointer(name: string): string {
  return name.replaceAll("~", "~0").replaceAll("/", "~1");
}

function typeMatches(type: string, value: unknown): boolean {
  switch (type) {
    case "integer":
      return typeof value === "number" && Number.isInteger(value);
    case "number":
      return typeof value === "number";
    case "string":
      return typeof value === "string";
    case "boolean":
      return typeof value === "boolean";
    case "null":
      return value === null;
    case "array":
      return Array.isArray(value);
    case "object":
      return typeof value === "object" && value !== null && !Array.isArray(value);
    default:
      return true;
  }
}

function describeSchema(schema: ValueSchema): string {
  if (schema.enum) return `one of ${schema.enum.map((v) => JSON.stringify(v)).join(", ")}`;
  if (schema.anyOf) return schema.anyOf.map(describeSchema).join(" or ");
  if (schema.type === "array" && schema.items) return `array of ${describeSchema(schema.items)}`;
  return schema.type ?? "anything";
}

/** Why `value` does not fit `schema` (a pointer and what was expected), or undefined. */
export function schemaProblem(
  value: unknown,
  schema: ValueSchema,
  pointer: string,
): string | undefined {
  if (schema.anyOf) {
    return schema.anyOf.some((option) => schemaProblem(value, option, pointer) === undefined)
      ? undefined
      : `${pointer}: expected ${describeSchema(schema)}, got ${typeName(value)}`;
  }
  if (schema.enum && !schema.enum.some((option) => option === value)) {
    return `${pointer}: expected ${describeSchema(schema)}, got ${JSON.stringify(value)}`;
  }
  if (schema.type && !typeMatches(schema.type, value)) {
    return `${pointer}: expected ${describeSchema(schema)}, got ${typeName(value)}`;
  }
  if (schema.items && Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const problem = schemaProblem(value[i], schema.items, `${pointer}/${i}`);
      if (problem) return problem;
    }
  }
  return undefined;
}

/**
 * Why `args` do not fit `method`'s parameters, or undefined. Only an annotated method is
 * checked here (one with a type on some parameter): an unannotated one is judged by
 * Python, as it always was, and its refusal comes as the call's callback.
 */
export function argsProblem(
  args: Record<string, unknown>,
  method: MethodInfo,
): string | undefined {
  const params = method.params;
  if (!params || !params.some((param) => param.annotation !== null)) return undefined;
  const byName = new Map<string, ParamInfo>();
  let anyName = false;
  for (const param of params) {
    if (param.kind === "var_keyword") anyName = true;
    else if (param.kind === "positional_or_keyword" || param.kind === "keyword_only") {
      byName.set(param.name, param);
    }
  }
  for (const [name, value] of Object.entries(args)) {
    const param = byName.get(name);
    if (!param) {
      if (anyName) continue;
      const known = [...byName.keys()].join(", ") || "none";
      return `/${escapePointer(name)}: unexpected argument (it takes: ${known})`;
    }
    if (param.schema) {
      const problem = schemaProblem(value, param.schema, `/${escapePointer(name)}`);
      if (problem) return problem;
    }
  }
  for (const param of byName.values()) {
    if (param.required && !Object.hasOwn(args, param.name)) {
      return `/${escapePointer(param.name)}: missing required argument` +
        (param.annotation ? ` (${param.annotation})` : "");
    }
  }
  return undefined;
}

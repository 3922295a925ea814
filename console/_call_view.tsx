/** @jsxImportSource preact */
/**
 * Call: the project's objects and methods, a form per method generated from its
 * parameters, the outcome with its latency, and the history of calls to re-run.
 *
 * @module
 */
import type { VNode } from "preact";
import { useState } from "preact/hooks";
import type { StartResult } from "../client/mod.ts";
import { callHistory, type CallRecord, runCall } from "./_calls.ts";
import {
  controlOf,
  initialText,
  type MethodInfo,
  type ObjectInfo,
  type ParamInfo,
  parseValue,
} from "./_methods.ts";
import type { ConsoleSession, SessionState } from "./_session.ts";
import { useStore } from "./_store.ts";

function Outcome({ record }: { record: CallRecord }): VNode {
  const latency = record.ms === undefined ? "" : ` in ${record.ms.toFixed(1)} ms`;
  if (record.state === "running") return <p class="pending" role="status">Running…</p>;
  if (record.state === "ok") {
    return (
      <div class="outcome ok" role="status">
        <p>Returned{latency}</p>
        <pre>{JSON.stringify(record.result, null, 2)}</pre>
      </div>
    );
  }
  return (
    <div class="outcome failed" role="status">
      <p>
        <strong>{record.error?.code}</strong>
        {latency}: {record.error?.message}
      </p>
      {record.error?.traceback && <pre>{record.error.traceback}</pre>}
    </div>
  );
}

function Field(
  { param, value, onInput }: { param: ParamInfo; value: string; onInput(v: string): void },
): VNode {
  const control = controlOf(param);
  const id = `arg-${param.name}`;
  const type = param.annotation ? `: ${param.annotation}` : param.type ? `: ${param.type}` : "";
  const shown = param.defaultIsRepr ? String(param.default) : initialText(param) || "None";
  const fallback = param.hasDefault ? ` = ${shown}` : " (required)";
  if (control === "boolean") {
    return (
      <div class="field check">
        <input
          id={id}
          type="checkbox"
          checked={value === "true"}
          onChange={(e) => onInput(String((e.target as HTMLInputElement).checked))}
        />
        <label for={id}>{param.name}{type}{fallback}</label>
      </div>
    );
  }
  return (
    <div class="field">
      <label for={id}>{param.name}{type}{fallback}</label>
      <input
        id={id}
        name={param.name}
        inputMode={control === "number" || control === "integer" ? "decimal" : undefined}
        placeholder={control === "json" ? "JSON, or text" : ""}
        value={value}
        required={!param.hasDefault}
        onInput={(e) => onInput((e.target as HTMLInputElement).value)}
      />
    </div>
  );
}

function argsOf(method: MethodInfo, values: Record<string, string>): Record<string, unknown> {
  if (!method.params) {
    const args = JSON.parse(values.__json__ || "{}");
    if (typeof args !== "object" || args === null || Array.isArray(args)) {
      throw new TypeError("Invalid arguments: give a JSON object of name: value");
    }
    return args;
  }
  const args: Record<string, unknown> = {};
  for (const param of method.params) {
    if (param.kind === "var_keyword") {
      Object.assign(args, JSON.parse(values.__json__ || "{}"));
      continue;
    }
    const raw = values[param.name] ?? initialText(param);
    if (raw === "" && param.hasDefault) continue;
    args[param.name] = parseValue(raw, controlOf(param));
  }
  return args;
}

function MethodForm(
  { session, object, method, enabled }: {
    session: ConsoleSession;
    object: string;
    method: MethodInfo;
    enabled: boolean;
  },
): VNode {
  const [values, setValues] = useState<Record<string, string>>({});
  const [problem, setProblem] = useState<string>();
  const [last, setLast] = useState<CallRecord>();
  const named = (method.params ?? []).filter((p) => p.kind !== "var_keyword");
  const free = !method.params || method.params.some((p) => p.kind === "var_keyword");
  const submit = async (event: Event) => {
    event.preventDefault();
    let args: Record<string, unknown>;
    try {
      args = argsOf(method, values);
    } catch (error) {
      setProblem((error as Error).message);
      return;
    }
    setProblem(undefined);
    const running = runCall(session, { object, method: method.name, args });
    setLast(callHistory.value.records[0]);
    setLast(await running);
  };
  return (
    <form class="method" onSubmit={submit} aria-label={`${object}.${method.name}`}>
      <h3>
        <code>{object}.{method.name}</code>
      </h3>
      {method.doc && <p class="doc">{method.doc}</p>}
      {named.map((param) => (
        <Field
          key={param.name}
          param={param}
          value={values[param.name] ?? initialText(param)}
          onInput={(value) => setValues({ ...values, [param.name]: value })}
        />
      ))}
      {free && (
        <div class="field">
          <label for="args-json">
            {method.params ? "more arguments (JSON)" : "arguments (JSON)"}
          </label>
          <textarea
            id="args-json"
            rows={3}
            value={values.__json__ ?? "{}"}
            onInput={(e) =>
              setValues({ ...values, __json__: (e.target as HTMLTextAreaElement).value })}
          />
        </div>
      )}
      <button type="submit" class="primary" disabled={!enabled}>Call</button>
      {problem && <p class="error" role="alert">{problem}</p>}
      {last && <Outcome record={last} />}
    </form>
  );
}

function History({ session, enabled }: { session: ConsoleSession; enabled: boolean }): VNode {
  const { records } = useStore(callHistory);
  if (records.length === 0) return <p class="hint">Calls you make appear here.</p>;
  return (
    <ol class="history" aria-label="Call history">
      {records.map((r) => (
        <li key={r.seq} class={r.state}>
          <code>{r.object}.{r.method}({JSON.stringify(r.args)})</code>{" "}
          <span>
            {r.state === "running"
              ? "running…"
              : r.state === "ok"
              ? `ok, ${r.ms?.toFixed(1)} ms`
              : `${r.error?.code}, ${r.ms?.toFixed(1)} ms`}
          </span>{" "}
          <button
            type="button"
            disabled={!enabled}
            onClick={() => runCall(session, r)}
            aria-label={`Re-run ${r.object}.${r.method}`}
          >
            Re-run
          </button>
        </li>
      ))}
    </ol>
  );
}

function NoObjects({ session, state }: { session: ConsoleSession; state: SessionState }) {
  const [error, setError] = useState<string>();
  const restart = () =>
    session.request("start").then(
      (r) => session.started(r as StartResult),
      (e) => setError(e.message),
    );
  return (
    <div class="card">
      <p>
        {session.supports("describe")
          ? "The running project has no objects to call (or none is running)."
          : "This agent does not list methods by itself: starting the project reports them."}
      </p>
      <button type="button" onClick={restart} disabled={!session.controls}>
        (Re)start the project to list its methods
      </button>
      {error && <p class="error" role="alert">{error}</p>}
      {state.status?.project?.state && <p class="hint">Project: {state.status.project.state}</p>}
    </div>
  );
}

/** The call view. */
export function CallView(
  { session, state }: { session: ConsoleSession; state: SessionState },
): VNode {
  const [picked, setPicked] = useState<{ object: string; method: string }>();
  const objects: ObjectInfo[] = state.objects;
  const object = objects.find((o) => o.name === picked?.object) ?? objects[0];
  const method = object?.methods.find((m) => m.name === picked?.method) ?? object?.methods[0];
  return (
    <div class="call">
      {objects.length === 0 ? <NoObjects session={session} state={state} /> : (
        <div class="split">
          <div class="methods" role="list" aria-label="Methods">
            {objects.map((o) => (
              <div key={o.name} role="listitem">
                <h3 title={o.doc}>{o.name}</h3>
                {o.methods.map((m) => (
                  <button
                    type="button"
                    key={m.name}
                    aria-pressed={o === object && m === method}
                    onClick={() => setPicked({ object: o.name, method: m.name })}
                    title={m.doc}
                  >
                    {m.name}
                  </button>
                ))}
              </div>
            ))}
          </div>
          {object && method && (
            <MethodForm
              key={`${object.name}.${method.name}`}
              session={session}
              object={object.name}
              method={method}
              enabled={session.controls}
            />
          )}
        </div>
      )}
      <h2>History</h2>
      <History session={session} enabled={session.controls} />
    </div>
  );
}

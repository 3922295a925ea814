/** @jsxImportSource preact */
/**
 * Status: the agent, worker and project, the confinement in force, the calls, and who is
 * connected; refreshed every two seconds while shown.
 *
 * @module
 */
import type { VNode } from "preact";
import type { ConsoleSession, SessionState } from "./_session.ts";
import { useInterval } from "./_store.ts";

type Loose = Record<string, unknown>;

function Row({ name, value }: { name: string; value: unknown }): VNode {
  const text = value === undefined || value === null || value === ""
    ? "—"
    : typeof value === "object"
    ? JSON.stringify(value)
    : String(value);
  return (
    <>
      <dt>{name}</dt>
      <dd>{text}</dd>
    </>
  );
}

function Card({ title, rows }: { title: string; rows: [string, unknown][] }): VNode {
  return (
    <section class="card">
      <h2>{title}</h2>
      <dl>{rows.map(([name, value]) => <Row key={name} name={name} value={value} />)}</dl>
    </section>
  );
}

function confinementRows(confinement: Loose | undefined): [string, unknown][] {
  if (!confinement) return [["in force", "not reported by this agent"]];
  const user = confinement.user as Loose | undefined;
  const rows: [string, unknown][] = [
    ["user", user ? `${user.name} (uid ${user.uid})` : "the agent's own"],
    ["landlock", confinement.landlock_abi ? `ABI ${confinement.landlock_abi}` : "off"],
    ["network", confinement.net],
    ["run programs", confinement.run],
    ["limits", confinement.limits],
    ["cgroup", confinement.cgroup],
  ];
  const missing = confinement.missing as string[] | undefined;
  if (missing?.length) rows.push(["missing", missing.join("; ")]);
  return rows;
}

/** The status view. */
export function StatusView(
  { session, state }: { session: ConsoleSession; state: SessionState },
): VNode {
  useInterval(() => void session.refresh(), 2000, state.link === "connected");
  const status = state.status;
  if (!status) return <p>Loading status…</p>;
  const project = (status.project ?? {}) as Loose;
  const gateway = (status.gateway ?? {}) as Loose;
  const connections = (gateway.connections ?? []) as Loose[];
  const calls = (status.calls ?? {}) as Loose;
  return (
    <div class="grid">
      <Card
        title="Agent"
        rows={[
          ["version", status.agent?.version],
          ["up", `${Math.round(status.agent?.uptime_s ?? 0)} s`],
          ["you", `${state.identity ?? "?"} (${state.role ?? "?"})`],
          ["session", state.session],
        ]}
      />
      <Card
        title="Worker"
        rows={[["state", status.worker?.state], ["pid", status.worker?.pid], [
          "restarts",
          status.worker?.restarts,
        ]]}
      />
      <Card
        title="Project"
        rows={[
          ["type", project.type],
          ["version", project.version],
          ["state", project.state],
          ["pid", project.pid],
          ["python", project.python],
          ["last exit", project.last_exit],
        ]}
      />
      <Card
        title="Calls"
        rows={Object.entries(calls).map(([name, value]) => [name.replace(/_/g, " "), value])}
      />
      <Card
        title="Confinement"
        rows={confinementRows(project.confinement as Loose | undefined)}
      />
      <section class="card wide">
        <h2>Connected</h2>
        <div class="scroll">
          <table>
            <thead>
              <tr>
                <th>who</th>
                <th>role</th>
                <th>from</th>
                <th>since</th>
              </tr>
            </thead>
            <tbody>
              {connections.map((c) => (
                <tr key={`${c.identity}-${c.since}`}>
                  <td>{String(c.identity)}</td>
                  <td>{String(c.role)}</td>
                  <td>{String(c.peer ?? "")}</td>
                  <td>{c.since ? new Date(String(c.since)).toLocaleTimeString() : ""}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </section>
    </div>
  );
}

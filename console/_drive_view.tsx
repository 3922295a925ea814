/** @jsxImportSource preact */
/**
 * Drive: a teleop pad for `sport_client.Move` (held, it sends the velocity at a steady
 * 10 Hz; released, `StopMove`), and a plot of the robot's state (`GetState`) over the
 * last 30 s, so what the robot does can be seen rather than read.
 *
 * @module
 */
import type { VNode } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import { sendCall } from "./_calls.ts";
import { hasMethod } from "./_methods.ts";
import { drawPlot, type Series } from "./_plot.ts";
import type { ConsoleSession, SessionState } from "./_session.ts";

const RATE_HZ = 10;
const SAMPLE_MS = 200;
const WINDOW_MS = 30_000;

/** A direction of the pad: its label, keys and the unit velocity `[vx, vy, vyaw]`. */
const PAD = [
  { id: "turn-left", label: "⟲", name: "Turn left", keys: ["q"], v: [0, 0, 1] },
  { id: "forward", label: "▲", name: "Forward", keys: ["w", "arrowup"], v: [1, 0, 0] },
  { id: "turn-right", label: "⟳", name: "Turn right", keys: ["e"], v: [0, 0, -1] },
  { id: "left", label: "◀", name: "Left", keys: ["a", "arrowleft"], v: [0, 1, 0] },
  { id: "back", label: "▼", name: "Back", keys: ["s", "arrowdown"], v: [-1, 0, 0] },
  { id: "right", label: "▶", name: "Right", keys: ["d", "arrowright"], v: [0, -1, 0] },
] as const;
type Direction = typeof PAD[number];

function Teleop({ session, enabled }: { session: ConsoleSession; enabled: boolean }): VNode {
  const [active, setActive] = useState<Direction>();
  const [speed, setSpeed] = useState(0.5);
  const [error, setError] = useState<string>();
  const busy = useRef(false);
  useEffect(() => {
    if (!active) return;
    const send = () => {
      if (busy.current) return; // the last Move is still on its way: keep the rate steady
      busy.current = true;
      const [vx, vy, vyaw] = active.v;
      sendCall(session, {
        object: "sport_client",
        method: "Move",
        args: { vx: vx * speed, vy: vy * speed, vyaw: vyaw * speed * 2 },
      }).then(() => setError(undefined), (e) => setError(`${e.code ?? ""} ${e.message}`))
        .finally(() => busy.current = false);
    };
    send();
    const timer = setInterval(send, 1000 / RATE_HZ);
    return () => {
      clearInterval(timer);
      sendCall(session, { object: "sport_client", method: "StopMove" }).catch(() => {});
    };
  }, [active, speed]);
  useEffect(() => {
    const stop = () => setActive(undefined);
    addEventListener("blur", stop);
    return () => removeEventListener("blur", stop);
  }, []);
  const byKey = (key: string) => PAD.find((d) => (d.keys as readonly string[]).includes(key));
  return (
    <section class="card">
      <h2>Teleop</h2>
      <div
        class="pad"
        role="group"
        aria-label="Teleop pad: hold a direction, or W A S D Q E"
        tabIndex={0}
        onKeyDown={(e) => {
          const d = byKey(e.key.toLowerCase());
          if (d && enabled && !e.repeat) {
            e.preventDefault();
            setActive(d);
          }
        }}
        onKeyUp={(e) => byKey(e.key.toLowerCase()) && setActive(undefined)}
      >
        {PAD.map((d) => (
          <button
            type="button"
            key={d.id}
            class={active === d ? "held" : ""}
            aria-label={d.name}
            aria-pressed={active === d}
            disabled={!enabled}
            onPointerDown={(e) => {
              (e.target as HTMLElement).setPointerCapture?.(e.pointerId);
              setActive(d);
            }}
            onPointerUp={() => setActive(undefined)}
            onPointerCancel={() => setActive(undefined)}
            onContextMenu={(e) => e.preventDefault()}
          >
            {d.label}
          </button>
        ))}
      </div>
      <label for="speed">Speed {speed.toFixed(1)} m/s</label>
      <input
        id="speed"
        type="range"
        min="0.1"
        max="1.5"
        step="0.1"
        value={speed}
        onInput={(e) => setSpeed(Number((e.target as HTMLInputElement).value))}
      />
      <div class="actions">
        {["StandUp", "StandDown", "StopMove"].map((method) => (
          <button
            type="button"
            key={method}
            disabled={!enabled}
            onClick={() =>
              sendCall(session, { object: "sport_client", method }).then(
                () => setError(undefined),
                (e) => setError(`${e.code ?? ""} ${e.message}`),
              )}
          >
            {method}
          </button>
        ))}
      </div>
      {error && <p class="error" role="alert">{error}</p>}
    </section>
  );
}

interface Sample {
  t: number;
  vx: number;
  vy: number;
  vyaw: number;
  yaw: number;
  mode: string;
}

function StatePlot({ session, enabled }: { session: ConsoleSession; enabled: boolean }): VNode {
  const velocity = useRef<HTMLCanvasElement>(null);
  const heading = useRef<HTMLCanvasElement>(null);
  const samples = useRef<Sample[]>([]);
  const [latest, setLatest] = useState<Sample>();
  useEffect(() => {
    if (!enabled) return;
    let waiting = false;
    const timer = setInterval(() => {
      if (waiting) return;
      waiting = true;
      sendCall(session, { object: "sport_client", method: "GetState" }).then((raw) => {
        const state = raw as {
          mode: string;
          velocity: { vx: number; vy: number; vyaw: number };
          position: { yaw: number };
        };
        const now = Date.now();
        const sample = { t: now, ...state.velocity, yaw: state.position.yaw, mode: state.mode };
        samples.current = [...samples.current.filter((s) => s.t > now - WINDOW_MS), sample];
        setLatest(sample);
      }, () => {}).finally(() => waiting = false);
    }, SAMPLE_MS);
    return () => clearInterval(timer);
  }, [enabled]);
  useEffect(() => {
    const points = (pick: (s: Sample) => number) =>
      samples.current.map((s) => [s.t, pick(s)] as [number, number]);
    const now = latest?.t ?? Date.now();
    const v: Series[] = [
      { name: "vx", color: "#2f7ed8", points: points((s) => s.vx) },
      { name: "vy", color: "#8bbc21", points: points((s) => s.vy) },
      { name: "vyaw", color: "#e4a11b", points: points((s) => s.vyaw) },
    ];
    if (velocity.current) {
      drawPlot(velocity.current, v, { now, windowMs: WINDOW_MS, title: "velocity (m/s, rad/s)" });
    }
    if (heading.current) {
      drawPlot(heading.current, [{ name: "yaw", color: "#c0392b", points: points((s) => s.yaw) }], {
        now,
        windowMs: WINDOW_MS,
        title: "heading yaw (rad)",
      });
    }
  }, [latest]);
  const f = (n: number | undefined) => n === undefined ? "—" : n.toFixed(2);
  return (
    <section class="card plot">
      <h2>State, last 30 s</h2>
      {!enabled && <p class="hint">The plot reads GetState, which needs control.</p>}
      <canvas ref={velocity} role="img" aria-label="Velocity over the last 30 seconds" />
      <canvas ref={heading} role="img" aria-label="Heading over the last 30 seconds" />
      <p class="legend" aria-live="off">
        <span class="vx">vx {f(latest?.vx)}</span> <span class="vy">vy {f(latest?.vy)}</span>{" "}
        <span class="vyaw">vyaw {f(latest?.vyaw)}</span>{" "}
        <span class="yaw">yaw {f(latest?.yaw)}</span> · mode {latest?.mode ?? "—"}
      </p>
    </section>
  );
}

/** The drive view. */
export function DriveView(
  { session, state }: { session: ConsoleSession; state: SessionState },
): VNode {
  const enabled = session.controls && !state.estop;
  const plot = session.controls && hasMethod(state.objects, "sport_client", "GetState");
  return (
    <div class="grid drive">
      <Teleop session={session} enabled={enabled} />
      <StatePlot session={session} enabled={plot} />
    </div>
  );
}

/** @jsxImportSource preact */
/**
 * The console's frame: the header (connection state, the e-stop on every view), the
 * e-stop banner, the views' tabs and the current view.
 *
 * @module
 */
import type { VNode } from "preact";
import { useEffect, useState } from "preact/hooks";
import { CallView } from "./_call_view.tsx";
import { DeployView } from "./_deploy_view.tsx";
import { DriveView } from "./_drive_view.tsx";
import { EventsView } from "./_events_view.tsx";
import { LoginView } from "./_login_view.tsx";
import { hasMethod } from "./_methods.ts";
import type { ConsoleSession, SessionState } from "./_session.ts";
import { StatusView } from "./_status_view.tsx";
import { useStore } from "./_store.ts";

const VIEWS = ["status", "call", "drive", "events", "deploy"] as const;
type ViewName = typeof VIEWS[number];
const TITLES: Record<ViewName, string> = {
  status: "Status",
  call: "Call",
  drive: "Drive",
  events: "Events & logs",
  deploy: "Deploy",
};

function viewFromHash(): ViewName {
  const name = location.hash.replace(/^#/, "") as ViewName;
  return VIEWS.includes(name) ? name : "status";
}

function linkText(state: SessionState): string {
  switch (state.link) {
    case "connected":
      return `Connected · ${state.role ?? "…"}${state.resumed ? " · session resumed" : ""}`;
    case "reconnecting":
      return "Reconnecting · session kept";
    case "taken-over":
      return "Taken over";
    case "connecting":
      return "Connecting…";
    case "closed":
      return "Disconnected";
    default:
      return "Signed out";
  }
}

function EstopButton({ session }: { session: ConsoleSession }): VNode {
  const [error, setError] = useState<string>();
  const press = () => session.estop().then(() => setError(undefined), (e) => setError(e.message));
  useEffect(() => {
    const onKey = (event: KeyboardEvent) => {
      if (event.key === "Escape" && !event.repeat) {
        event.preventDefault();
        void press();
      }
    };
    addEventListener("keydown", onKey);
    return () => removeEventListener("keydown", onKey);
  }, [session]);
  return (
    <button
      type="button"
      class="estop"
      onClick={press}
      aria-keyshortcuts="Escape"
      title={error ?? "Stops every motion and refuses calls until released (Esc)"}
    >
      E-STOP <kbd>Esc</kbd>
    </button>
  );
}

function EstopBanner({ session, state }: { session: ConsoleSession; state: SessionState }) {
  const [error, setError] = useState<string>();
  if (!state.estop) return null;
  const { by, reason, at } = state.estop;
  return (
    <div class="banner danger" role="alert">
      <strong>E-stopped</strong> by {by ?? "?"}
      {reason ? `: ${reason}` : ""}
      {at ? ` at ${new Date(at).toLocaleTimeString()}` : ""}. Calls are refused.{" "}
      {state.role === "controller"
        ? (
          <button
            type="button"
            onClick={() => session.release().catch((e) => setError(e.message))}
          >
            Release e-stop
          </button>
        )
        : <span>Only the controller can release it.</span>}
      {error && <span class="error">{error}</span>}
    </div>
  );
}

function LinkBanner({ session, state }: { session: ConsoleSession; state: SessionState }) {
  if (state.link === "connected" && state.role === "observer") {
    return (
      <div class="banner info">
        Observing: you see status and events; calls, deploys and starts are the controller's.{" "}
        <button type="button" onClick={() => session.rejoin("takeover")}>Take control</button>
      </div>
    );
  }
  if (state.link === "reconnecting") {
    return (
      <div class="banner warn" role="status">
        The link dropped: reconnecting. Results that finish meanwhile are kept for this session.
      </div>
    );
  }
  if (state.link !== "taken-over" && state.link !== "closed") return null;
  return (
    <div class="banner warn" role="alert">
      {state.notice ?? "The connection ended."}{" "}
      <button type="button" onClick={() => session.rejoin("control")}>Reconnect</button>{" "}
      {state.link === "taken-over" && (
        <button
          type="button"
          onClick={() => session.rejoin("takeover")}
        >
          Take control back
        </button>
      )} <button type="button" onClick={() => session.rejoin("observe")}>Watch</button>
    </div>
  );
}

/** The whole console. */
export function App({ session }: { session: ConsoleSession }): VNode {
  const state = useStore(session.state);
  const [view, setView] = useState<ViewName>(viewFromHash);
  useEffect(() => {
    const onHash = () => setView(viewFromHash());
    addEventListener("hashchange", onHash);
    return () => removeEventListener("hashchange", onHash);
  }, []);
  const signedIn = state.link !== "signed-out" && state.link !== "connecting";
  const canDrive = hasMethod(state.objects, "sport_client", "Move");
  const views = VIEWS.filter((name) => name !== "drive" || canDrive);
  const shown = views.includes(view) ? view : "status";
  return (
    <>
      <header>
        <h1>robot-agent</h1>
        <span class="link" data-state={state.link} role="status" aria-live="polite">
          {linkText(state)}
        </span>
        {signedIn && <EstopButton session={session} />}
      </header>
      {!signedIn ? <LoginView session={session} state={state} /> : (
        <>
          <EstopBanner session={session} state={state} />
          <LinkBanner session={session} state={state} />
          <nav role="tablist" aria-label="Views">
            {views.map((name) => (
              <a
                role="tab"
                href={`#${name}`}
                aria-selected={name === shown}
                aria-controls="view"
                key={name}
              >
                {TITLES[name]}
              </a>
            ))}
          </nav>
          <main id="view" role="tabpanel" aria-label={TITLES[shown]}>
            {shown === "status" && <StatusView session={session} state={state} />}
            {shown === "call" && <CallView session={session} state={state} />}
            {shown === "drive" && <DriveView session={session} state={state} />}
            {shown === "events" && <EventsView session={session} />}
            {shown === "deploy" && <DeployView session={session} state={state} />}
          </main>
        </>
      )}
    </>
  );
}

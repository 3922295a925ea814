/** @jsxImportSource preact */
/**
 * Sign-in: the token (kept in this tab only), and what to do when another client holds
 * the robot.
 *
 * @module
 */
import type { VNode } from "preact";
import { useState } from "preact/hooks";
import type { ConsoleSession, JoinMode, SessionState } from "./_session.ts";

/** The sign-in form. */
export function LoginView(
  { session, state }: { session: ConsoleSession; state: SessionState },
): VNode {
  const [token, setToken] = useState("");
  const busy = state.link === "connecting";
  const join = (mode: JoinMode) => {
    if (token.trim() !== "") void session.connect(token.trim(), mode);
    else if (state.busy) void session.rejoin(mode);
  };
  return (
    <main class="login">
      <form
        onSubmit={(event) => {
          event.preventDefault();
          join("control");
        }}
      >
        <h2>Connect to this robot</h2>
        <label for="token">Access token</label>
        <input
          id="token"
          name="token"
          type="password"
          autocomplete="off"
          spellcheck={false}
          placeholder="ra_…"
          value={token}
          onInput={(event) => setToken((event.target as HTMLInputElement).value)}
          disabled={busy}
          autofocus
        />
        <p class="hint">
          The agent printed it at its first start (<code>robot-agent token show</code>{" "}
          lists who may connect). It stays in this browser tab only, never in the address.
        </p>
        <div class="actions">
          <button type="submit" class="primary" disabled={busy}>Connect</button>
          <button type="button" disabled={busy} onClick={() => join("observe")}>
            Watch only
          </button>
        </div>
        {state.notice && <p class="error" role="alert">{state.notice}</p>}
        {state.busy && (
          <div class="actions">
            <button type="button" onClick={() => join("takeover")}>
              Take over (stops the robot first)
            </button>
            <button type="button" onClick={() => join("observe")}>Watch instead</button>
          </div>
        )}
      </form>
    </main>
  );
}

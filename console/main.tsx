/** @jsxImportSource preact */
/**
 * The web console's entry: the page the agent serves at `/` loads the bundle of this file
 * (`deno task console:build` writes `console/static/console.js`).
 *
 * @module
 */
import { render } from "preact";
import { App } from "./_app.tsx";
import { ConsoleSession, savedToken } from "./_session.ts";

const session = new ConsoleSession();
const token = savedToken();
render(<App session={session} />, document.getElementById("app")!);
if (token) void session.connect(token);

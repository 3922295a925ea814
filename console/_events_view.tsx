/** @jsxImportSource preact */
/**
 * Events and logs: the live feed, filtered by kind, level and source, pausable, with
 * what the agent dropped when its rate limits hit.
 *
 * @module
 */
import type { VNode } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import { LEVELS } from "./_feed.ts";
import type { ConsoleSession } from "./_session.ts";
import { useStore } from "./_store.ts";

/** The events view. */
export function EventsView({ session }: { session: ConsoleSession }): VNode {
  const feed = useStore(session.feed.state);
  const [kind, setKind] = useState("all");
  const [level, setLevel] = useState("debug");
  const [source, setSource] = useState("");
  const list = useRef<HTMLOListElement>(null);
  const sources = [...new Set(feed.entries.map((e) => e.source))].sort();
  const minimum = LEVELS.indexOf(level as typeof LEVELS[number]);
  const shown = feed.entries.filter((e) =>
    (kind === "all" || e.kind === kind) &&
    LEVELS.indexOf(e.level as typeof LEVELS[number]) >= minimum &&
    (source === "" || e.source === source)
  );
  useEffect(() => {
    const el = list.current;
    if (el && !feed.paused) el.scrollTop = el.scrollHeight;
  }, [shown.length, feed.paused]);
  return (
    <div class="events">
      <div class="toolbar" role="group" aria-label="Filters">
        <label>
          Show{" "}
          <select value={kind} onChange={(e) => setKind((e.target as HTMLSelectElement).value)}>
            <option value="all">events and logs</option>
            <option value="event">events</option>
            <option value="log">logs</option>
          </select>
        </label>
        <label>
          Level{" "}
          <select value={level} onChange={(e) => setLevel((e.target as HTMLSelectElement).value)}>
            {LEVELS.map((l) => <option key={l} value={l}>{l} and above</option>)}
          </select>
        </label>
        <label>
          Source{" "}
          <select
            value={source}
            onChange={(e) => setSource((e.target as HTMLSelectElement).value)}
          >
            <option value="">any</option>
            {sources.map((s) => <option key={s} value={s}>{s}</option>)}
          </select>
        </label>
        <button
          type="button"
          aria-pressed={feed.paused}
          onClick={() => feed.paused ? session.feed.resume() : session.feed.pause()}
        >
          {feed.paused ? `Resume (${feed.held} new)` : "Pause"}
        </button>
        <button type="button" onClick={() => session.feed.clear()}>Clear</button>
      </div>
      <p class="hint" role="status">
        {shown.length} shown · dropped by the agent: <span class="dropped">{feed.dropped}</span>
        {feed.logs === "unavailable" && " · this agent does not stream its log (events only)"}
        {feed.logs === "following" && " · following the agent's log"}
      </p>
      <ol class="feed" ref={list} aria-label="Events" aria-live="off">
        {shown.map((e) => (
          <li key={e.seq} class={`level-${e.level}`} data-kind={e.kind}>
            <time>{new Date(e.at).toLocaleTimeString()}</time> <span class="level">{e.level}</span>
            {" "}
            <span class="source">{e.source}</span> <span class="text">{e.text}</span>
          </li>
        ))}
      </ol>
    </div>
  );
}

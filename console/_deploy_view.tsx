/** @jsxImportSource preact */
/**
 * Deploy: drop a zip or a folder (zipped here), upload it in chunks with progress, rate
 * and time left (resumed by the client after a dropped link), optionally start it; the
 * versions on the robot with their status, rollback and activate.
 *
 * @module
 */
import type { VNode } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import type { StartResult, UploadProgress } from "../client/mod.ts";
import type { ConsoleSession, SessionState } from "./_session.ts";
import { keptFiles, withoutTopFolder, zipFiles, type ZipInput } from "./_zip.ts";

interface Version {
  version: number;
  type?: string;
  entry?: string;
  deployed_at?: string | null;
  status?: string;
  reason?: string | null;
}

function size(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 ** 2) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / 1024 ** 2).toFixed(1)} MiB`;
}

async function filesOf(list: File[]): Promise<ZipInput[]> {
  return await Promise.all(list.map(async (file) => ({
    path: (file as File & { webkitRelativePath?: string }).webkitRelativePath || file.name,
    data: new Uint8Array(await file.arrayBuffer()),
    modified: file.lastModified,
  })));
}

/** The files under a dropped folder entry, with their paths from it. */
async function entryFiles(entry: FileSystemEntry, prefix = ""): Promise<ZipInput[]> {
  if (entry.isFile) {
    const file = await new Promise<File>((ok, fail) =>
      (entry as FileSystemFileEntry).file(ok, fail)
    );
    const [input] = await filesOf([file]);
    return [{ ...input, path: prefix + entry.name }];
  }
  const reader = (entry as FileSystemDirectoryEntry).createReader();
  const children: FileSystemEntry[] = [];
  for (;;) {
    const batch = await new Promise<FileSystemEntry[]>((ok, fail) => reader.readEntries(ok, fail));
    if (batch.length === 0) break;
    children.push(...batch);
  }
  const nested = await Promise.all(children.map((c) => entryFiles(c, `${prefix}${entry.name}/`)));
  return nested.flat();
}

/** The zip to deploy from what was chosen or dropped: a .zip as it is, else zipped. */
async function zipOf(files: ZipInput[]): Promise<{ zip: Uint8Array; label: string }> {
  if (files.length === 1 && files[0].path.toLowerCase().endsWith(".zip")) {
    return { zip: files[0].data, label: files[0].path };
  }
  const top = files[0]?.path.split("/")[0] ?? "files";
  const inner = keptFiles(withoutTopFolder(files));
  return { zip: await zipFiles(inner), label: `${top}/ (${inner.length} files, zipped here)` };
}

function Progress({ progress }: { progress: UploadProgress }): VNode {
  const pct = progress.total ? Math.floor((progress.received / progress.total) * 100) : 0;
  const rate = progress.bytesPerSecond ? `${size(progress.bytesPerSecond)}/s` : "";
  const eta = progress.etaSeconds === undefined ? "" : `${Math.ceil(progress.etaSeconds)} s left`;
  return (
    <div class="progress">
      <progress max={100} value={pct} aria-label="Upload progress" />
      <span class="percent">{pct} %</span>
      <span>
        {[size(progress.received) + " of " + size(progress.total), rate, eta].filter(Boolean).join(
          " · ",
        )}
      </span>
      <span class="phase">{progress.phase}</span>
    </div>
  );
}

function Versions(
  { session, state, tick }: { session: ConsoleSession; state: SessionState; tick: number },
) {
  const [versions, setVersions] = useState<Version[]>();
  const [current, setCurrent] = useState<number>();
  const [note, setNote] = useState<string>();
  const load = () =>
    session.request("versions").then((data) => {
      const d = data as { versions: Version[]; current: number };
      setVersions(d.versions);
      setCurrent(d.current);
    }, () => setVersions(undefined));
  useEffect(() => void load(), [tick, state.status?.project?.version]);
  const act = (command: string, params: Record<string, unknown> = {}) =>
    session.request(command, params).then(async (data) => {
      const r = data as StartResult & { rolled_back_from?: number; reason?: string };
      setNote(`Version ${r.version} running${r.reason ? ` (${r.reason})` : ""}`);
      await session.started(r);
      await load();
    }, (e) => setNote(`${e.code}: ${e.message}`));
  return (
    <section class="card wide">
      <h2>Versions</h2>
      <button type="button" disabled={!session.controls} onClick={() => act("rollback")}>
        Roll back to the last good version
      </button>
      {note && <p role="status" class="note">{note}</p>}
      {!session.supports("versions")
        ? (
          <p class="hint">
            This agent does not list its versions; the running one is{" "}
            {String(state.status?.project?.version ?? "—")}.
          </p>
        )
        : versions && (
          <div class="scroll">
            <table>
              <thead>
                <tr>
                  <th>version</th>
                  <th>type</th>
                  <th>deployed</th>
                  <th>status</th>
                  <th />
                </tr>
              </thead>
              <tbody>
                {versions.map((v) => (
                  <tr key={v.version} class={v.version === current ? "current" : ""}>
                    <td>{v.version}{v.version === current ? " (current)" : ""}</td>
                    <td>{v.type} {v.entry}</td>
                    <td>{v.deployed_at ? new Date(v.deployed_at).toLocaleString() : "built in"}</td>
                    <td>
                      <span class={`badge ${v.status}`}>{v.status}</span> {v.reason ?? ""}
                    </td>
                    <td>
                      <button
                        type="button"
                        disabled={!session.controls || v.version === current ||
                          !session.supports("activate")}
                        onClick={() =>
                          act("activate", { version: v.version })}
                      >
                        Activate
                      </button>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
    </section>
  );
}

/** The deploy view. */
export function DeployView(
  { session, state }: { session: ConsoleSession; state: SessionState },
): VNode {
  const [progress, setProgress] = useState<UploadProgress>();
  const [outcome, setOutcome] = useState<{ ok: boolean; text: string }>();
  const [startIt, setStartIt] = useState(true);
  const [running, setRunning] = useState<AbortController>();
  const [over, setOver] = useState(false);
  const [tick, setTick] = useState(0);
  const zipInput = useRef<HTMLInputElement>(null);
  const enabled = session.controls && !running;
  const deploy = async (files: ZipInput[]) => {
    const robot = session.robot;
    if (!robot || files.length === 0) return;
    const abort = new AbortController();
    setRunning(abort);
    setOutcome(undefined);
    try {
      const { zip, label } = await zipOf(files);
      setProgress({
        phase: "uploading",
        received: 0,
        total: zip.length,
        bytesPerSecond: 0,
        etaSeconds: undefined,
      });
      const result = await robot.deploy(zip, { signal: abort.signal, onProgress: setProgress });
      let text = `Deployed ${label} as version ${result.version} (${result.type}, ${result.entry})`;
      if (startIt) {
        const started = await robot.start();
        await session.started(started);
        text += `; started, pid ${started.pid}`;
      }
      setOutcome({ ok: true, text });
    } catch (error) {
      const e = error as Error & { code?: string };
      setOutcome({ ok: false, text: `${e.code ?? "ERROR"}: ${e.message}` });
    } finally {
      setRunning(undefined);
      setTick((t) => t + 1);
      await session.refresh();
    }
  };
  const onDrop = async (event: DragEvent) => {
    event.preventDefault();
    setOver(false);
    const items = [...(event.dataTransfer?.items ?? [])];
    const entries = items.map((i) => i.webkitGetAsEntry?.()).filter((e): e is FileSystemEntry =>
      !!e
    );
    const files = entries.length
      ? (await Promise.all(entries.map((e) => entryFiles(e)))).flat()
      : await filesOf([...(event.dataTransfer?.files ?? [])]);
    await deploy(files);
  };
  const onPick = async (event: Event) => {
    const input = event.target as HTMLInputElement;
    const files = await filesOf([...(input.files ?? [])]);
    input.value = "";
    await deploy(files);
  };
  return (
    <div class="grid deploy">
      <section class="card wide">
        <h2>Deploy a project</h2>
        <div
          class={`drop ${over ? "over" : ""}`}
          onDragOver={(e) => {
            e.preventDefault();
            setOver(true);
          }}
          onDragLeave={() => setOver(false)}
          onDrop={enabled ? onDrop : (e) => e.preventDefault()}
        >
          <p>Drop a project folder or a .zip here, or</p>
          <div class="actions">
            <label class="button">
              Choose a .zip
              <input
                ref={zipInput}
                type="file"
                accept=".zip,application/zip"
                disabled={!enabled}
                onChange={onPick}
                aria-label="Project zip"
              />
            </label>
            <label class="button">
              Choose a folder
              <input
                type="file"
                ref={(input) => {
                  if (input) input.webkitdirectory = true; // not among Preact's attributes
                }}
                multiple
                disabled={!enabled}
                onChange={onPick}
                aria-label="Project folder"
              />
            </label>
          </div>
          <label class="check">
            <input
              type="checkbox"
              checked={startIt}
              onChange={(e) => setStartIt((e.target as HTMLInputElement).checked)}
            />
            Start it once deployed
          </label>
        </div>
        {progress && <Progress progress={progress} />}
        {running && <button type="button" onClick={() => running.abort()}>Cancel upload</button>}
        {outcome && <p role="status" class={outcome.ok ? "ok" : "error"}>{outcome.text}</p>}
      </section>
      <Versions session={session} state={state} tick={tick} />
    </div>
  );
}

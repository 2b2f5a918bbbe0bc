import { describe, expect, test } from "bun:test";
import { createLogger, type LogLevel } from "../../server/logger.ts";

function capture(options: Parameters<typeof createLogger>[0] = {}) {
  const lines: Array<{ text: string; level: LogLevel }> = [];
  const log = createLogger({ now: () => Date.UTC(2025, 5, 1, 12, 0, 3, 45), ...options, write: (text, level) => lines.push({ text, level }) });
  return { log, lines };
}

describe("createLogger()", () => {
  test("a text line has an ISO timestamp, the level and the component", () => {
    const { log, lines } = capture({ component: "broker" });
    log('Broker "broker-a" listening');
    expect(lines).toEqual([{ text: '2025-06-01T12:00:03.045Z INFO  [broker] Broker "broker-a" listening\n', level: "info" }]);
  });

  test("a JSON line is one object with time, level, component and msg", () => {
    const { log, lines } = capture({ component: "nameserver", format: "json" });
    log.error('Line with "quotes"\nand a second line');
    expect(lines).toHaveLength(1);
    expect(lines[0]!.text.endsWith("}\n")).toBe(true);
    expect(lines[0]!.text.trimEnd()).not.toContain("\n");
    expect(JSON.parse(lines[0]!.text)).toEqual({
      time: "2025-06-01T12:00:03.045Z",
      level: "error",
      component: "nameserver",
      msg: 'Line with "quotes"\nand a second line',
    });
  });

  test("lines below the level are dropped", () => {
    const { log, lines } = capture({ level: "warn" });
    log.debug("d");
    log("i");
    log.warn("w");
    log("e", "error");
    expect(lines.map((l) => l.level)).toEqual(["warn", "error"]);
    const all = capture({ level: "debug" });
    all.log.debug("d");
    expect(all.lines.map((l) => l.level)).toEqual(["debug"]);
  });

  test("a line without a level that starts with Warning: or Error: gets that level, text unchanged", () => {
    const { log, lines } = capture({ format: "json" });
    log("Warning: checkpoint unusable");
    log("Error: disk gone");
    log("Warning: but told otherwise", "info");
    expect(lines.map((l) => [l.level, JSON.parse(l.text).msg])).toEqual([
      ["warn", "Warning: checkpoint unusable"],
      ["error", "Error: disk gone"],
      ["info", "Warning: but told otherwise"],
    ]);
  });

  test("a child names its own component and keeps the format and level", () => {
    const { log, lines } = capture({ component: "standalone", format: "json", level: "warn" });
    const child = log.child("admin");
    child("dropped");
    child.warn("kept");
    expect(lines.map((l) => JSON.parse(l.text))).toMatchObject([{ component: "admin", msg: "kept" }]);
    expect([child.level, child.format, child.component]).toEqual(["warn", "json", "admin"]);
  });

  test("a logger fits every component's plain log option", () => {
    const { log, lines } = capture();
    const plain: (line: string) => void = log;
    plain("works");
    expect(lines).toHaveLength(1);
  });
});

import { describe, expect, test } from "bun:test";
import { BrokerChoice } from "../../client/_broker_choice.ts";
import { BrokerError, ConnectionClosedError, RequestTimeoutError } from "../../core/errors.ts";

const groups: Record<string, string[]> = {
  "broker-a": ["m:1", "s1:1", "s2:1"],
  "broker-b": ["s1b:1"],
};
const routes = { brokerMembers: (name: string) => groups[name] ?? [] };

describe("BrokerChoice", () => {
  test("reads from the master, a slave while the master failed moments ago, and the master again later", () => {
    let now = 1000;
    const choice = new BrokerChoice(routes, { downMs: 5000, now: () => now });
    expect(choice.readAddress("broker-a")).toBe("m:1");
    choice.observe("m:1", new ConnectionClosedError("gone"));
    expect(choice.readAddress("broker-a")).toBe("s1:1");
    choice.observe("s1:1", new RequestTimeoutError("slow"));
    expect(choice.readAddress("broker-a")).toBe("s2:1");
    choice.observe("s2:1", new ConnectionClosedError("gone too"));
    expect(choice.readAddress("broker-a")).toBe("m:1"); // everyone failed: back to the master
    now += 5000;
    expect(choice.readAddress("broker-a")).toBe("m:1");
  });

  test("an answer, even an error code, clears a failure; a group without master reads its slave", () => {
    const choice = new BrokerChoice(routes);
    choice.observe("m:1", new ConnectionClosedError("gone"));
    expect(choice.readAddress("broker-a")).toBe("s1:1");
    choice.observe("m:1", new BrokerError(1, "busy"));
    expect(choice.readAddress("broker-a")).toBe("m:1");
    expect(choice.readAddress("broker-b")).toBe("s1b:1");
    expect(choice.readAddress("broker-x")).toBeUndefined();
  });
});

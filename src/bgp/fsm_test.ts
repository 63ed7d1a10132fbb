import { assert, assertEquals } from "../../tests/assert.ts";
import { AS_TRANS } from "./constants.ts";
import {
  backoffSeconds,
  type FsmAction,
  type FsmConfig,
  type FsmEvent,
  type FsmState,
  initialFsmState,
  resolveCollision,
  stepFsm,
  validateOpen,
} from "./fsm.ts";
import type { BgpMessage } from "./message.ts";
import type { OpenMessage } from "./open.ts";

const CONFIG: FsmConfig = {
  localAsn: 64500,
  peerAsn: 64501,
  bgpId: 0xc6336401,
  holdTime: 90,
  retryMinSeconds: 1,
  retryMaxSeconds: 30,
  capabilities: { multiprotocol: [{ afi: 1, safi: 1 }, { afi: 2, safi: 1 }], routeRefresh: true },
};

function peerOpen(overrides: Partial<OpenMessage> = {}): OpenMessage {
  return {
    type: "open",
    version: 4,
    myAs: 64501,
    holdTime: 30,
    bgpId: 0xc6336402,
    capabilities: { fourOctetAs: 64501, multiprotocol: [{ afi: 1, safi: 1 }] },
    ...overrides,
  };
}

/** Feeds events in order, returning the final state and every action. */
function run(events: FsmEvent[], config = CONFIG, from: FsmState = initialFsmState()) {
  let state = from;
  const actions: FsmAction[] = [];
  for (const e of events) {
    const r = stepFsm(state, e, config);
    state = r.state;
    actions.push(...r.actions);
  }
  return { state, actions };
}

const toEstablished: FsmEvent[] = [
  { type: "start" },
  { type: "connected" },
  { type: "message", message: peerOpen() },
  { type: "message", message: { type: "keepalive" } },
];

function sent(actions: FsmAction[]): BgpMessage[] {
  return actions.flatMap((a) => a.type === "send" ? [a.message] : []);
}

/** The [code, subcode] of every NOTIFICATION sent. */
function notes(actions: FsmAction[]): number[][] {
  return sent(actions).flatMap((m) => m.type === "notification" ? [[m.code, m.subcode]] : []);
}

function timers(actions: FsmAction[]) {
  return actions.filter((a) => a.type === "startTimer").map((a) => {
    const t = a as { timer: string; seconds: number };
    return `${t.timer}=${t.seconds}`;
  });
}

Deno.test("stepFsm() walks an active session from Idle to Established", () => {
  const r1 = run([{ type: "start" }]);
  assertEquals(r1.state.state, "connect");
  assert(r1.actions.some((a) => a.type === "connect"));
  assertEquals(timers(r1.actions), ["connectRetry=1"]);
  const r2 = run([{ type: "connected" }], CONFIG, r1.state);
  assertEquals(r2.state.state, "openSent");
  assertEquals(sent(r2.actions).map((m) => m.type), ["open"]);
  assertEquals(timers(r2.actions), ["hold=240"]);
  const r3 = run([{ type: "message", message: peerOpen() }], CONFIG, r2.state);
  assertEquals(r3.state.state, "openConfirm");
  assertEquals(sent(r3.actions).map((m) => m.type), ["keepalive"]);
  // Hold time is the smaller proposal (30), keepalive a third of it.
  assertEquals(timers(r3.actions), ["keepalive=10", "hold=30"]);
  const r4 = run([{ type: "message", message: { type: "keepalive" } }], CONFIG, r3.state);
  assertEquals(r4.state.state, "established");
  const est = r4.actions.find((a) => a.type === "established");
  assert(est && est.type === "established");
  assertEquals(est.negotiated.families, [{ afi: 1, safi: 1 }]);
  assertEquals(est.negotiated.fourOctetAs, true);
});

Deno.test("stepFsm() sends our AS as AS_TRANS with the 4-octet capability in the OPEN", () => {
  const r = run([{ type: "start" }, { type: "connected" }], { ...CONFIG, localAsn: 4200000001 });
  const open = sent(r.actions)[0] as OpenMessage;
  assertEquals(open.myAs, AS_TRANS);
  assertEquals(open.capabilities.fourOctetAs, 4200000001);
  assertEquals(open.capabilities.routeRefresh, true);
});

Deno.test("validateOpen() negotiates hold time, keepalive and families", async (t) => {
  await t.step("hold time 0 disables keepalives and the hold timer", () => {
    const r = run([{ type: "start" }, { type: "connected" }, { type: "message", message: peerOpen({ holdTime: 0 }) }]);
    assertEquals(r.state.negotiated?.holdTime, 0);
    assertEquals(r.state.negotiated?.keepaliveTime, 0);
    assert(!timers(r.actions).some((x) => x.startsWith("keepalive")));
    assert(r.actions.some((a) => a.type === "stopTimer" && a.timer === "hold"));
  });
  await t.step("our configured keepalive interval is used when shorter", () => {
    const n = validateOpen(peerOpen({ holdTime: 90 }), { ...CONFIG, keepaliveTime: 5 });
    assert(!("code" in n));
    assertEquals([n.holdTime, n.keepaliveTime], [90, 5]);
  });
  await t.step("a hold time of 3 gives keepalives every second", () => {
    const n = validateOpen(peerOpen({ holdTime: 3 }), CONFIG);
    assert(!("code" in n));
    assertEquals([n.holdTime, n.keepaliveTime], [3, 1]);
  });
  await t.step("a peer without multiprotocol capabilities gets IPv4 unicast only", () => {
    const n = validateOpen(peerOpen({ capabilities: { fourOctetAs: 64501 } }), CONFIG);
    assert(!("code" in n));
    assertEquals(n.families, [{ afi: 1, safi: 1 }]);
  });
  await t.step("a peer with both families gets both", () => {
    const n = validateOpen(
      peerOpen({ capabilities: { multiprotocol: [{ afi: 2, safi: 1 }, { afi: 1, safi: 1 }] } }),
      CONFIG,
    );
    assert(!("code" in n));
    assertEquals(n.families.length, 2);
    assertEquals(n.fourOctetAs, false);
  });
  await t.step("a 4-octet peer AS behind AS_TRANS is accepted", () => {
    const n = validateOpen(
      peerOpen({ myAs: AS_TRANS, capabilities: { fourOctetAs: 4200000002 } }),
      { ...CONFIG, peerAsn: 4200000002 },
    );
    assert(!("code" in n));
  });
});

Deno.test("stepFsm() rejects a bad OPEN with the right NOTIFICATION and backs off", async (t) => {
  const cases: [string, OpenMessage, FsmConfig, number, number][] = [
    ["wrong peer AS", peerOpen({ myAs: 64999, capabilities: { fourOctetAs: 64999 } }), CONFIG, 2, 2],
    [
      "2-octet peer where a 4-octet AS is configured",
      peerOpen({ myAs: AS_TRANS, capabilities: {} }),
      {
        ...CONFIG,
        peerAsn: 4200000002,
      },
      2,
      2,
    ],
    [
      "iBGP peer with our identifier",
      peerOpen({ myAs: 64500, bgpId: CONFIG.bgpId, capabilities: { fourOctetAs: 64500 } }),
      {
        ...CONFIG,
        peerAsn: 64500,
      },
      2,
      3,
    ],
    ["hold time 2", peerOpen({ holdTime: 2 }), CONFIG, 2, 6],
  ];
  for (const [name, open, config, code, subcode] of cases) {
    await t.step(name, () => {
      const r = run([{ type: "start" }, { type: "connected" }, { type: "message", message: open }], config);
      assertEquals(r.state.state, "idle");
      assertEquals(notes(r.actions), [[code, subcode]]);
      assert(r.actions.some((a) => a.type === "close"));
      assertEquals(timers(r.actions).at(-1), "idleHold=1");
    });
  }
  await t.step("eBGP peers may share our identifier (RFC 6286)", () => {
    assert(!("code" in validateOpen(peerOpen({ bgpId: CONFIG.bgpId }), CONFIG)));
  });
  await t.step("repeated failures double the wait up to the maximum", () => {
    let state = initialFsmState();
    const waits: string[] = [];
    for (let i = 0; i < 7; i++) {
      const r = run(
        [
          i === 0 ? { type: "start" } : { type: "timer", timer: "idleHold" },
          { type: "connected" },
          { type: "message", message: peerOpen({ myAs: 1, capabilities: {} }) },
        ],
        CONFIG,
        state,
      );
      state = r.state;
      waits.push(timers(r.actions).at(-1)!);
    }
    assertEquals(waits, [
      "idleHold=1",
      "idleHold=2",
      "idleHold=4",
      "idleHold=8",
      "idleHold=16",
      "idleHold=30",
      "idleHold=30",
    ]);
    assertEquals(backoffSeconds(CONFIG, 100), 30);
  });
});

Deno.test("stepFsm() counts and reports a dial still in flight when ConnectRetry fires, so the backoff grows", () => {
  const r = run([{ type: "start" }]);
  assertEquals(r.state.state, "connect");
  const r2 = run([{ type: "timer", timer: "connectRetry" }], CONFIG, r.state);
  assertEquals(r2.state, { ...r.state, state: "connect", connectRetryCounter: 1 });
  assert(r2.actions.some((a) => a.type === "down"));
  assertEquals(timers(r2.actions), ["connectRetry=1"]);
  const r3 = run([{ type: "timer", timer: "connectRetry" }], CONFIG, r2.state);
  assertEquals(timers(r3.actions), ["connectRetry=2"]);
});

Deno.test("stepFsm() retries a failed connect after ConnectRetry with backoff", () => {
  const r = run([{ type: "start" }, { type: "connectionFailed", reason: "refused" }]);
  assertEquals(r.state.state, "active");
  assertEquals(timers(r.actions).at(-1), "connectRetry=1");
  const r2 = run(
    [{ type: "timer", timer: "connectRetry" }, { type: "connectionFailed", reason: "refused" }],
    CONFIG,
    r.state,
  );
  assertEquals(r2.state.state, "active");
  assert(r2.actions.some((a) => a.type === "connect"));
  assertEquals(timers(r2.actions), ["connectRetry=2", "connectRetry=2"]);
  // An incoming connection while waiting is used at once.
  const r3 = run([{ type: "connected" }], CONFIG, r2.state);
  assertEquals(r3.state.state, "openSent");
});

Deno.test("stepFsm() keeps an Established session alive and ends it on the right events", async (t) => {
  const est = run(toEstablished).state;
  await t.step("keepalive timer sends a KEEPALIVE and re-arms", () => {
    const r = run([{ type: "timer", timer: "keepalive" }], CONFIG, est);
    assertEquals(sent(r.actions).map((m) => m.type), ["keepalive"]);
    assertEquals(timers(r.actions), ["keepalive=10"]);
  });
  await t.step("KEEPALIVE and UPDATE re-arm the hold timer; UPDATE is delivered", () => {
    assertEquals(timers(run([{ type: "message", message: { type: "keepalive" } }], CONFIG, est).actions), ["hold=30"]);
    const r = run(
      [{ type: "message", message: { type: "update", withdrawn: [], attributes: {}, nlri: [] } }],
      CONFIG,
      est,
    );
    assertEquals(r.actions.map((a) => a.type), ["startTimer", "update"]);
  });
  await t.step("hold timer expiry sends Hold Timer Expired", () => {
    const r = run([{ type: "timer", timer: "hold" }], CONFIG, est);
    assertEquals(r.state.state, "idle");
    assertEquals(sent(r.actions), [{ type: "notification", code: 4, subcode: 0, data: new Uint8Array() }]);
  });
  await t.step("an OPEN in Established is an FSM error", () => {
    const r = run([{ type: "message", message: peerOpen() }], CONFIG, est);
    assertEquals(notes(r.actions), [[5, 3]]);
  });
  await t.step("a decode error is answered with its NOTIFICATION", () => {
    const r = run(
      [{ type: "decodeError", error: { code: 3, subcode: 10, data: new Uint8Array(), reason: "x" } }],
      CONFIG,
      est,
    );
    assertEquals(notes(r.actions), [[3, 10]]);
  });
  await t.step("a received NOTIFICATION drops the session and reports it", () => {
    const note = { type: "notification" as const, code: 6, subcode: 2, data: new Uint8Array() };
    const r = run([{ type: "message", message: note }], CONFIG, est);
    assertEquals(r.state.state, "idle");
    assertEquals(sent(r.actions), []);
    const down = r.actions.find((a) => a.type === "down");
    assert(down?.type === "down");
    assertEquals(down.notification, note);
  });
  await t.step("losing the connection drops the session and schedules a restart", () => {
    const r = run([{ type: "connectionFailed", reason: "reset" }], CONFIG, est);
    assertEquals(r.state.state, "idle");
    assertEquals(timers(r.actions), ["idleHold=1"]);
    assertEquals(run([{ type: "timer", timer: "idleHold" }], CONFIG, r.state).state.state, "connect");
  });
  await t.step("BFD down drops the session at once with Cease / BFD Down", () => {
    const r = run([{ type: "bfdDown" }], CONFIG, est);
    assertEquals(r.state.state, "idle");
    assertEquals(notes(r.actions), [[6, 10]]);
  });
  await t.step("a manual stop sends Cease / Administrative Shutdown and stays down", () => {
    const r = run([{ type: "stop" }], CONFIG, est);
    assertEquals(r.state, { state: "idle", connectRetryCounter: 0, enabled: false });
    assertEquals(notes(r.actions), [[6, 2]]);
    assertEquals(timers(r.actions), []);
    assertEquals(run([{ type: "timer", timer: "idleHold" }], CONFIG, r.state).state.state, "idle");
  });
});

Deno.test("stepFsm() answers unexpected messages before Established with RFC 6608 subcodes", () => {
  const sentOpen = run([{ type: "start" }, { type: "connected" }]).state;
  const r1 = run([{ type: "message", message: { type: "keepalive" } }], CONFIG, sentOpen);
  assertEquals(notes(r1.actions), [[5, 1]]);
  const confirm = run([{ type: "message", message: peerOpen() }], CONFIG, sentOpen).state;
  const r2 = run(
    [{ type: "message", message: { type: "update", withdrawn: [], attributes: {}, nlri: [] } }],
    CONFIG,
    confirm,
  );
  assertEquals(notes(r2.actions), [[5, 2]]);
  const r3 = run([{ type: "timer", timer: "hold" }], CONFIG, sentOpen);
  assertEquals(notes(r3.actions), [[4, 0]]);
});

Deno.test("stepFsm() makes a passive session wait for the peer to connect", () => {
  const passive = { ...CONFIG, passive: true };
  const r = run([{ type: "start" }], passive);
  assertEquals(r.state.state, "active");
  assert(!r.actions.some((a) => a.type === "connect"));
  assertEquals(run([{ type: "timer", timer: "connectRetry" }], passive, r.state).actions, []);
  assertEquals(run([{ type: "connected" }], passive, r.state).state.state, "openSent");
  // After an error, a passive session in its IdleHold wait still takes the peer's next connection.
  const down = run([{ type: "connected" }, { type: "timer", timer: "hold" }], passive, r.state).state;
  assertEquals(down.state, "idle");
  assertEquals(run([{ type: "connected" }], passive, down).state.state, "openSent");
});

Deno.test("resolveCollision() keeps the connection opened by the higher BGP identifier", () => {
  assertEquals(resolveCollision(0xc6336402, 0xc6336401), "outgoing");
  assertEquals(resolveCollision(0xc6336401, 0xc6336402), "incoming");
});

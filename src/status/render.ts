/**
 * The two outputs of `metallite status`: a readable text (header, tables, then one explanation block per Service)
 * and the JSON document for scripts. Both are pure functions of the report.
 * @module
 */
import type { ExclusionReport, FamilyUsage, ServiceReport, StatusReport } from "./report.ts";

/** Options of {@link renderText}. */
export interface RenderTextOptions {
  /** ANSI colours (only for a terminal); default false. */
  readonly color?: boolean;
}

type Paint = (code: string, text: string) => string;

function table(rows: readonly (readonly string[])[], indent = "  "): string[] {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows.map((row) =>
    indent + row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!))).join("   ").trimEnd()
  );
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

function usage(u: FamilyUsage): string {
  return u.size === "0" ? "-" : `${u.assigned}/${u.available}`;
}

function exclusions(list: readonly ExclusionReport[]): string[] {
  return list.map((e) => `${e.node}: ${e.reason} (${e.detail})`);
}

function announcedBy(s: ServiceReport): string {
  const parts: string[] = [];
  if (s.l2?.elected) parts.push(`${s.l2.elected} (L2)`);
  if (s.bgp && s.bgp.expected.length > 0) parts.push(`${s.bgp.expected.map((e) => e.node).join(",")} (BGP)`);
  if (parts.length > 0) return parts.join(" ");
  if (s.state === "pending") {
    const p = s.pending!.recomputed;
    return p.state === "pending" ? p.code : "an address is free: allocator idle?";
  }
  if (s.state === "other-class") return `class ${s.loadBalancerClass ?? ""}`;
  return s.l2?.skipped ?? s.bgp?.skipped ?? "nobody";
}

function serviceBlock(s: ServiceReport, paint: Paint): string[] {
  const lines: string[] = [];
  const pool = s.pool === undefined ? "no known pool" : `pool ${s.pool} (${s.poolSource})`;
  const head = s.state === "pending"
    ? `${s.namespace}/${s.name}  ${paint("31", "pending")}`
    : `${s.namespace}/${s.name}  ${s.ips.join(", ") || "-"}  ${pool}`;
  lines.push(`${paint("1", head)}  externalTrafficPolicy ${s.externalTrafficPolicy}`);

  if (s.pending) {
    const { reported, recomputed } = s.pending;
    if (recomputed.state === "pending") {
      const source = reported === undefined
        ? "recomputed here"
        : s.pending.agrees
        ? `from its condition ${reported.type || "(untyped)"}; recomputed: same`
        : `recomputed here; its condition ${reported.type || "(untyped)"} says ${reported.reason}: ${reported.message}`;
      lines.push(`  reason: ${recomputed.code}: ${recomputed.message}  [${source}]`);
    } else {
      lines.push(`  reason: none now: ${recomputed.ips.join(", ")} from pool ${recomputed.pool} is free for it`);
    }
  }

  const l2 = s.l2;
  if (l2) {
    const where = l2.interfaces === "all" ? "all interfaces" : `interfaces ${l2.interfaces.join(", ")}`;
    const reporters = l2.reported.map((r) => r.node).join(", ");
    const reported = l2.reported.length === 0
      ? "no node reports it"
      : l2.agrees
      ? `reported by ${reporters}; the election agrees`
      : `but reported by ${reporters}: see below`;
    if (l2.elected) {
      lines.push(`  L2: ${l2.elected} announces it on ${where} (${reported})`);
    } else {
      lines.push(`  L2: nobody should announce it: ${l2.skippedDetail ?? l2.skipped} (${reported})`);
    }
    if (l2.candidates.length > 0) {
      lines.push(`    election order for ${s.ips[0]} (weight, then sha256(node#ip)):`);
      lines.push(
        ...table(
          l2.candidates.map((c, i) => [`${i + 1}.`, c.node, `weight ${c.weight}`, `hash ${c.hash}`]),
          "      ",
        ),
      );
    }
    if (l2.localEndpointNodes) {
      lines.push(
        `    externalTrafficPolicy Local: serving endpoints on ${l2.localEndpointNodes.join(", ") || "no node"}`,
      );
    }
    if (l2.excluded.length > 0) {
      lines.push("    excluded:");
      for (const line of exclusions(l2.excluded)) lines.push(`      ${line}`);
    }
  }

  const bgp = s.bgp;
  if (bgp) {
    if (bgp.expected.length > 0) {
      const to = bgp.expected.map((e) => `${e.node} → ${e.peers.join(", ")}`).join("; ");
      lines.push(`  BGP: ${to} (${bgp.agrees ? "as reported" : "not as reported: see below"})`);
    } else {
      const why = bgp.skipped === "no-endpoints"
        ? "no serving endpoint"
        : bgp.skipped === "no-advertisement"
        ? "no BGPAdvertisement covers it"
        : "every node is excluded";
      lines.push(`  BGP: nobody should announce it: ${why}`);
    }
    if (bgp.reported.length > 0 && !bgp.agrees) {
      lines.push(
        `    reported: ${bgp.reported.map((r) => `${r.node} → ${r.peers.join(", ") || "no peer"}`).join("; ")}`,
      );
    }
    if (bgp.localEndpointNodes) {
      lines.push(
        `    externalTrafficPolicy Local: serving endpoints on ${bgp.localEndpointNodes.join(", ") || "no node"}`,
      );
    }
    if (bgp.excluded.length > 0) {
      lines.push("    not announcing:");
      for (const line of exclusions(bgp.excluded)) lines.push(`      ${line}`);
    }
  }

  for (const note of s.notes) lines.push(`  ${paint("33", "!")} ${note}`);
  for (const e of s.events) {
    const times = e.count > 1 ? ` (x${e.count})` : "";
    lines.push(`  event: ${e.type} ${e.reason}: ${e.message}${times}`);
  }
  return lines;
}

/**
 * The report as text: a header (configuration, instances, pools), a table of Services, then one block per Service
 * explaining who announces it and why, or why it is pending.
 */
export function renderText(report: StatusReport, options: RenderTextOptions = {}): string {
  const paint: Paint = options.color ? (code, text) => `\x1b[${code}m${text}\x1b[0m` : (_code, text) => text;
  const out: string[] = [];
  const c = report.config;
  out.push(`metallite status · namespace ${report.namespace} · ${report.generatedAt}`, "");

  const counts = [
    plural(c.counts.pools, "pool"),
    plural(c.counts.l2Advertisements, "L2Advertisement"),
    plural(c.counts.bgpAdvertisements, "BGPAdvertisement"),
    plural(c.counts.bgpPeers, "BGPPeer"),
  ].join(", ");
  const validity = c.valid ? "valid" : paint("31", `${plural(c.rejected.length, "object")} rejected`);
  const crds = c.crdsInstalled ? "metallb.io CRDs installed" : "metallb.io CRDs not installed";
  const flags = c.flags === "published"
    ? `flag pools ${c.flagPools.join(", ") || "none"}`
    : c.flags === "none"
    ? "no flag pools"
    : "flag pools not visible";
  out.push(`Configuration: ${validity} · ${counts} · ${crds} · ${flags}`);
  for (const s of c.configurationStates) {
    out.push(
      `  ConfigurationState ${s.name}: ${s.result}${s.errorSummary ? `: ${s.errorSummary.split("\n")[0]}` : ""}`,
    );
  }
  for (const r of c.rejected) {
    const name = r.namespace ? `${r.namespace}/${r.name}` : r.name || "(unnamed)";
    out.push(`  rejected: ${r.kind} ${name} (${r.source}) [${r.code}]: ${r.reason}`);
  }
  for (const note of c.notes) out.push(`  note: ${note}`);

  const count = (state: string) => report.instances.filter((i) => i.state === state).length;
  const a = report.allocator;
  const allocator = a.holder === undefined
    ? paint("31", "none")
    : `${a.holder} (${a.fresh ? "fresh" : paint("31", "expired")})`;
  out.push(
    "",
    `Instances: ${count("alive")} alive, ${count("stale")} stale, ${plural(count("none"), "node")} without ` +
      `metallite · ` +
      `allocator: ${allocator}`,
  );
  if (report.instances.length > 0) {
    out.push(...table([
      ["NODE", "METALLITE", "LEASE RENEWED", "INTERFACES", "VERSION"],
      ...report.instances.map((i) => [
        i.node + (i.nodeExists ? "" : " (no Node)"),
        i.state,
        i.renewedSecondsAgo === undefined ? "-" : `${i.renewedSecondsAgo} s ago`,
        i.state === "none" ? "-" : i.interfaces === undefined ? "?" : i.interfaces.join(",") || "-",
        i.state === "none" ? "-" : i.version ?? "?",
      ]),
    ]));
  }

  out.push("", "Pools:");
  if (report.pools.length === 0) out.push("  none");
  else {
    out.push(...table([
      ["NAME", "ADDRESSES", "IPv4 USED/FREE", "IPv6 USED/FREE", "ANNOUNCED BY"],
      ...report.pools.map((p) => [
        p.name + (p.autoAssign ? "" : " (no auto-assign)"),
        p.addresses.join(","),
        usage(p.ipv4),
        usage(p.ipv6),
        [...p.l2Advertisements.map((n) => `L2 ${n}`), ...p.bgpAdvertisements.map((n) => `BGP ${n}`)].join(", ") ||
        "nothing",
      ]),
    ]));
  }

  out.push("", "Services:");
  if (report.services.length === 0) out.push("  no Service of type LoadBalancer");
  else {
    out.push(...table([
      ["SERVICE", "STATE", "IPS", "POOL", "ANNOUNCED BY / REASON"],
      ...report.services.map((s) => [
        `${s.namespace}/${s.name}`,
        s.state,
        s.ips.join(",") || "-",
        s.pool ?? "-",
        announcedBy(s),
      ]),
    ]));
    for (const s of report.services) out.push("", ...serviceBlock(s, paint));
  }

  if (report.warnings.length > 0) {
    out.push("", paint("33", "Warnings:"));
    for (const w of report.warnings) out.push(`  ${w}`);
  }
  return out.join("\n") + "\n";
}

/** The report as one JSON document (two-space indented, newline-terminated). */
export function renderJson(report: StatusReport): string {
  return JSON.stringify(report, null, 2) + "\n";
}

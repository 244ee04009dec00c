// The EMC explorer: hash-routed pages over the canisters. Every number on a page is read from
// the canisters when the page opens; the footnote says which reads were certified.
import { connect, type Api } from "./api";
import { barChart } from "./chart";
import { age, emc, emcShort, esc, fixed4, hex, opt, pct, short, unhex, variant, when } from "./format";
import type { Node, Role } from "./declarations/registry.did";
import type { NodeEpoch } from "./declarations/epochs.did";

const app = document.getElementById("app")!;
const footnote = document.getElementById("footnote")!;
const ROLES: Role[] = [{ Validator: null }, { Router: null }, { Compute: null }];
const CERTIFIED =
  "certified: query methods called as update calls, answered with a certificate that @dfinity/agent verifies against the network's root key";
const QUERY = "query: answers signed by the replica's node key, verified by @dfinity/agent";

function card(label: string, value: string, id: string, sub = ""): string {
  return `<div class="card"><div class="label">${esc(label)}</div><div class="value" data-testid="${id}">${value}</div>${sub ? `<div class="sub">${sub}</div>` : ""}</div>`;
}

function table(head: string[], rows: string[][], id: string): string {
  if (rows.length === 0) return `<p class="muted">Nothing yet.</p>`;
  return `<table data-testid="${id}"><thead><tr>${head.map((h) => `<th>${esc(h)}</th>`).join("")}</tr></thead><tbody>${rows
    .map((r) => `<tr>${r.map((c) => `<td>${c}</td>`).join("")}</tr>`)
    .join("")}</tbody></table>`;
}

function notes(certified: string[], queried: string[]): void {
  const parts = [];
  if (certified.length) parts.push(`<b>Certified</b> (${CERTIFIED}): ${certified.map(esc).join(", ")}.`);
  if (queried.length) parts.push(`<b>Queries</b> (${QUERY}): ${queried.map(esc).join(", ")}.`);
  footnote.innerHTML = parts.join("<br>");
}

/** Every node of every role (registry, paginated by id). */
async function allNodes(api: Api, certified: boolean): Promise<Node[]> {
  const out: Node[] = [];
  const reg = certified ? api.registry.c : api.registry.q;
  for (const role of ROLES) {
    let after: [] | [Uint8Array | number[]] = [];
    for (;;) {
      const page: Node[] = await reg.nodes_by_role(role, after, 100);
      out.push(...page);
      if (page.length < 100) break;
      after = [page[page.length - 1].id];
    }
  }
  return out;
}

function live(n: Node): boolean {
  return variant(n.state) === "Live";
}

function nodeLink(id: Uint8Array | number[]): string {
  const h = hex(id);
  return `<a class="mono" href="#/node/${h}">${short(h)}</a>`;
}

// ------------------------------------------------------------------------------ overview

async function overview(api: Api): Promise<void> {
  const [stats, tip, nodes, market, epochInfo] = await Promise.all([
    api.epochs.c.stats(),
    api.epochs.c.latest_checkpoint(),
    allNodes(api, true),
    api.market.c.stats(),
    api.registry.c.current_epoch(),
  ]);
  const cp = opt(tip);
  const liveNodes = nodes.filter(live);
  const count = (r: string) => liveNodes.filter((n) => variant(n.role) === r).length;
  const stake = liveNodes.reduce((s, n) => s + n.stake_e8s, 0n);
  const closed = opt(stats.last_closed_epoch);
  app.innerHTML = `
    <h1>Network overview</h1>
    <div class="cards">
      ${card("Height", cp ? cp.checkpoint.height.toString() : "–", "height", "latest checkpointed block")}
      ${card("Epoch", cp ? cp.checkpoint.epoch.toString() : "–", "epoch", `registry epoch ${epochInfo.epoch}`)}
      ${card("Last checkpoint", cp ? age(cp.accepted_at) : "–", "checkpoint-age", cp ? `accepted ${when(cp.accepted_at)}` : "none yet")}
      ${card("Validators", count("Validator").toString(), "validators")}
      ${card("Routers", count("Router").toString(), "routers")}
      ${card("Compute nodes", count("Compute").toString(), "compute")}
      ${card("Total stake", `<span title="${emc(stake)} EMC">${emcShort(stake)}</span> <small>EMC</small>`, "total-stake", `${liveNodes.length} live nodes`)}
      ${card("Rewards paid", `<span title="${emc(stats.total_emitted_e8s)} EMC">${emcShort(stats.total_emitted_e8s)}</span> <small>EMC</small>`, "rewards-paid", closed === undefined ? "no epoch closed yet" : `epochs 0–${closed} closed`)}
      ${card("Market volume", `<span title="${emc(market.volume_e8s)} EMC">${emcShort(market.volume_e8s)}</span> <small>EMC</small>`, "market-volume", `${market.trades} trades, fees ${emc(market.treasury_fees_e8s)} EMC`)}
    </div>
    <h2>Nodes</h2>
    ${nodesTable(nodes)}`;
  notes(["epochs.stats", "epochs.latest_checkpoint", "registry.nodes_by_role", "registry.current_epoch", "market.stats"], []);
}

function nodesTable(nodes: Node[]): string {
  return table(
    ["Node", "Role", "Owner", "Stake (EMC)", "PoC E", "State", "Region"],
    nodes.map((n) => [
      nodeLink(n.id),
      variant(n.role),
      `<span class="mono">${short(n.owner.toText())}</span>`,
      `<span class="num">${emc(n.stake_e8s)}</span>`,
      variant(n.role) === "Compute" ? fixed4(n.poc_e) : "–",
      n.suspended ? `<span class="bad">Suspended</span>` : variant(n.state),
      esc(n.region),
    ]),
    "nodes-table",
  );
}

async function nodes(api: Api): Promise<void> {
  const list = await allNodes(api, false);
  app.innerHTML = `<h1>Nodes</h1>${nodesTable(list)}`;
  notes([], ["registry.nodes_by_role"]);
}

// ------------------------------------------------------------------------------ node page

/** A node's history, every epoch the epochs canister knows (pages of 100 epochs). */
async function history(api: Api, id: Uint8Array, lastEpoch: bigint): Promise<NodeEpoch[]> {
  const out: NodeEpoch[] = [];
  for (let from = 0n; from <= lastEpoch; from += 100n) {
    out.push(...(await api.epochs.q.node_history(id, from, 100)));
  }
  return out;
}

interface Check {
  name: string;
  ok: boolean;
  detail: string;
  fix: string;
}

async function node(api: Api, h: string): Promise<void> {
  const id = unhex(h);
  if (!id || id.length !== 32) {
    app.innerHTML = `<h1>Node</h1><p class="error">“${esc(h)}” is not a node id (64 hex digits).</p>`;
    return;
  }
  const [found, stats, regConfig, epConfig] = await Promise.all([
    api.registry.c.get_node(id),
    api.epochs.c.stats(),
    api.registry.q.get_config(),
    api.epochs.q.get_config(),
  ]);
  const n = opt(found);
  if (!n) {
    app.innerHTML = `<h1>Node <span class="mono">${short(h)}</span></h1><p class="error" data-testid="unknown-node">The registry has no node ${esc(h)}.</p>`;
    notes(["registry.get_node"], []);
    return;
  }
  const role = variant(n.role);
  const last = opt(stats.last_closed_epoch) ?? 0n;
  const epochs = await history(api, id, (opt(stats.tip_height) ?? 0n) / (epConfig.params.epoch_length_blocks || 1n) + 1n);
  const term = opt(n.term);
  const p = regConfig.params;
  const minStake = role === "Validator" ? p.validator.min_stake_e8s : role === "Router" ? p.router.min_stake_e8s : p.compute_stake_per_e_e8s;
  const lastRec = [...epochs].reverse().find((e) => e.record.length > 0);
  const minShare = role === "Validator" ? epConfig.params.validator_min_share_bps : role === "Router" ? epConfig.params.router_min_share_bps : 0;
  const checks: Check[] = [
    { name: "Registered and live", ok: live(n), detail: variant(n.state), fix: "A retired or impeached node earns nothing: register a new node." },
    { name: "Not suspended", ok: !n.suspended, detail: n.suspended ? "suspended" : "active", fix: "Penalties took the stake under the role's minimum: stake again once it is released." },
    role === "Compute" && n.stake_e8s === 0n
      ? { name: "Staked", ok: true, detail: "unstaked (optional for compute: multiplier 1.0)", fix: "" }
      : {
          name: "Staked",
          ok: n.stake_e8s >= minStake && n.stake_e8s > 0n,
          detail: `${emc(n.stake_e8s)} EMC (minimum ${emc(minStake)})`,
          fix: "Top up the stake to the role's minimum (edge-node stake).",
        },
    {
      name: "Stake term running",
      ok: (role === "Compute" && n.stake_e8s === 0n) || (!!term && !term.expired),
      detail: term ? (term.expired ? `expired ${when(term.end)}` : `ends ${when(term.end)}`) : "no term",
      fix: "Renew the stake term (renew_stake) before it ends.",
    },
    { name: "No penalty due", ok: n.penalty_due_e8s === 0n, detail: `${emc(n.penalty_due_e8s)} EMC due`, fix: "Outages were fined: keep the node online; the fine leaves the stake." },
  ];
  if (lastRec) {
    const r = lastRec.record[0]!;
    const share = lastRec.epoch_blocks ? Number((r.active_blocks * 10_000n) / lastRec.epoch_blocks) : 0;
    if (role !== "Compute") {
      checks.push({
        name: `Online in epoch ${lastRec.epoch}`,
        ok: share >= minShare,
        detail: `${pct(r.active_blocks, lastRec.epoch_blocks)} of blocks (needs ${(minShare / 100).toFixed(2)}%)`,
        fix: "Seen online in too few blocks: check the node's connectivity to the routers and validators.",
      });
    } else {
      checks.push({
        name: `PoC passed in epoch ${lastRec.epoch}`,
        ok: r.poc_e > 0n,
        detail: `E = ${fixed4(r.poc_e)}`,
        fix: "No proof of computing passed: check the prover (GPU/driver) and that validators reach the node.",
      });
    }
    checks.push({
      name: `Earned in epoch ${lastRec.epoch}`,
      ok: lastRec.weight > 0n,
      detail: lastRec.weight > 0n ? `weight ${lastRec.weight}` : "not eligible",
      fix: "The node was not eligible for a reward in its last epoch: see the checks above.",
    });
  }
  if (r_outage(epochs)) {
    checks.push({ name: "No outage periods", ok: false, detail: `${r_outage(epochs)} minutes of outage in recorded epochs`, fix: "Whole outage periods are fined: keep the node online." });
  }
  const paid = epochs.filter((e) => e.payout.length > 0);
  const totalPaid = paid.reduce((s, e) => s + e.payout[0]!.amount_e8s, 0n);
  const rows = epochs.map((e) => {
    const r = opt(e.record);
    const pay = opt(e.payout);
    return [
      `<a href="#/epochs">${e.epoch}</a>`,
      r ? pct(r.active_blocks, e.epoch_blocks) : "–",
      r && role === "Compute" ? fixed4(r.poc_e) : "–",
      r ? (r.penalty_minutes > 0n ? `<span class="bad">${r.penalty_minutes} min</span>` : "0") : "–",
      e.weight > 0n ? "yes" : `<span class="bad">no</span>`,
      pay ? `<span class="num">${emc(pay.amount_e8s)}</span>` : "–",
      pay ? variant(pay.status) : "–",
    ];
  });
  app.innerHTML = `
    <h1>${esc(role)} node <span class="mono" data-testid="node-id">${short(h)}</span></h1>
    <div class="cards">
      ${card("Role", esc(role), "node-role")}
      ${card("Stake", `<span title="${emc(n.stake_e8s)} EMC">${emcShort(n.stake_e8s)}</span> <small>EMC</small>`, "node-stake", `<span data-testid="node-stake-e8s">${n.stake_e8s}</span> e8s`)}
      ${card("Term", term ? `${term.term_days} days` : "none", "node-term", term ? `${when(term.start)} → ${when(term.end)}, ×${fixed4(term.multiplier)}` : "")}
      ${card("PoC E", role === "Compute" ? fixed4(n.poc_e) : "–", "node-poc-e", "last reported to the registry")}
      ${card("Rewards paid", `<span title="${emc(totalPaid)} EMC">${emcShort(totalPaid)}</span> <small>EMC</small>`, "node-rewards", `${paid.length} paid epochs (closed up to ${last})`)}
      ${card("Penalty due", `<span title="${emc(n.penalty_due_e8s)} EMC">${emcShort(n.penalty_due_e8s)}</span> <small>EMC</small>`, "node-penalty")}
    </div>
    <p class="meta">Owner <span class="mono">${esc(n.owner.toText())}</span> · ${esc(n.hardware)} · ${esc(n.region)} · ${esc(n.network_address)} · registered ${when(n.registered_at)}</p>
    <h2>What to check</h2>
    ${table(["Check", "Status", "Detail", "What to fix"], checks.map((c) => [esc(c.name), c.ok ? `<span class="ok">pass</span>` : `<span class="bad">fail</span>`, esc(c.detail), c.ok ? "" : `<span class="fix">${esc(c.fix)}</span>`]), "checks")}
    <h2>Rewards per epoch</h2>
    <div data-testid="rewards-chart">${barChart(paid.map((e) => ({ label: `${e.epoch}`, key: `${e.epoch}`, value: e.payout[0]!.amount_e8s })), "Rewards per epoch")}</div>
    <h2>Epochs</h2>
    ${table(["Epoch", "Uptime (agreed)", "PoC E", "Outage", "Eligible", "Reward (EMC)", "Payout"], rows, "node-epochs")}`;
  document.querySelectorAll<HTMLTableCellElement>("[data-testid=checks] td").forEach((td) => {
    if (td.querySelector(".fix")) td.classList.add("fix-cell");
  });
  notes(["registry.get_node", "epochs.stats"], ["epochs.node_history", "registry.get_config", "epochs.get_config"]);
}

function r_outage(epochs: NodeEpoch[]): bigint {
  return epochs.reduce((s, e) => s + (opt(e.record)?.penalty_minutes ?? 0n), 0n);
}

// ------------------------------------------------------------------------------ epochs

async function epochsPage(api: Api): Promise<void> {
  const [stats, config, nodeList] = await Promise.all([api.epochs.c.stats(), api.epochs.q.get_config(), allNodes(api, false)]);
  const L = config.params.epoch_length_blocks || 1n;
  const tip = opt(stats.tip_height) ?? 0n;
  const upTo = tip > 0n ? (tip - 1n) / L : 0n;
  const ids: bigint[] = [];
  for (let e = upTo; e >= 0n && ids.length < 50; e--) ids.push(e);
  const summaries = await Promise.all(ids.map((e) => api.epochs.c.epoch_summary(e)));
  // Rewards by role: each node's payouts (bounded by the registry's node list).
  const byRole = new Map<string, Map<bigint, bigint>>();
  const histories = await Promise.all(nodeList.map((n) => history(api, Uint8Array.from(n.id), upTo)));
  nodeList.forEach((n, i) => {
    const role = variant(n.role);
    const m = byRole.get(role) ?? new Map<bigint, bigint>();
    for (const h of histories[i]) {
      const p = opt(h.payout);
      if (p) m.set(h.epoch, (m.get(h.epoch) ?? 0n) + p.amount_e8s);
    }
    byRole.set(role, m);
  });
  const rows = ids.flatMap((e, i) => {
    const s = opt(summaries[i]);
    if (!s) return [];
    const status = variant(s.status);
    const progress = s.eligible_nodes > 0n ? Number((s.paid_nodes * 100n) / s.eligible_nodes) : status === "Paid" ? 100 : 0;
    const part = (r: string) => `<span class="num">${emc(byRole.get(r)?.get(e) ?? 0n)}</span>`;
    return [[
      `${e}`,
      `<span class="status ${status.toLowerCase()}">${status}</span>`,
      `<span class="num">${emc(s.budget_e8s)}</span>`,
      part("Validator"),
      part("Router"),
      part("Compute"),
      `<span class="num">${emc(s.paid_e8s)}</span>`,
      `<div class="progress" title="${s.paid_nodes}/${s.eligible_nodes} nodes paid"><div style="width:${progress}%"></div></div> ${s.paid_nodes}/${s.eligible_nodes}`,
      s.closed_at.length ? when(s.closed_at[0]!) : "–",
    ]];
  });
  app.innerHTML = `
    <h1>Epochs</h1>
    <div class="cards">
      ${card("Last closed epoch", opt(stats.last_closed_epoch)?.toString() ?? "–", "last-closed")}
      ${card("Total emitted", `<span title="${emc(stats.total_emitted_e8s)} EMC">${emcShort(stats.total_emitted_e8s)}</span> <small>EMC</small>`, "total-emitted")}
      ${card("Pending payouts", stats.pending_payouts.toString(), "pending-payouts")}
      ${card("Epoch length", `${L} blocks`, "epoch-length")}
    </div>
    ${table(["Epoch", "Status", "Budget r(n) (EMC)", "Validators", "Routers", "Compute", "Paid (EMC)", "Payout progress", "Closed"], rows, "epochs-table")}`;
  notes(["epochs.stats", "epochs.epoch_summary"], ["epochs.get_config", "registry.nodes_by_role", "epochs.node_history (split by role)"]);
}

// ------------------------------------------------------------------------------ checkpoints

async function checkpoints(api: Api): Promise<void> {
  const [tipOpt, config] = await Promise.all([api.epochs.c.latest_checkpoint(), api.epochs.q.get_config()]);
  const tip = opt(tipOpt);
  const interval = config.params.checkpoint_interval_blocks || 1n;
  const heights: bigint[] = [];
  if (tip) for (let h = tip.checkpoint.height; h > 0n && heights.length < 25; h -= interval) heights.push(h);
  const stored = await Promise.all(heights.map((h) => api.epochs.q.checkpoint(h)));
  const finals = await Promise.all(heights.map((h) => api.epochs.c.final_receipts_root(h)));
  const sets = new Map<bigint, number>();
  for (const s of stored) {
    const c = opt(s);
    if (c && !sets.has(c.checkpoint.epoch)) {
      const set = opt(await api.epochs.q.validator_set(c.checkpoint.epoch));
      sets.set(c.checkpoint.epoch, set ? set.members.length : 0);
    }
  }
  const rows = heights.flatMap((h, i) => {
    const c = opt(stored[i]);
    if (!c) return [];
    const f = finals[i];
    const window =
      "Final" in f ? `<span class="ok">final</span>` : "NotFinal" in f ? `<span class="warn">challenge window, final ${age(f.NotFinal.final_at)}</span>` : "unknown";
    return [[
      `<span data-testid="cp-height">${h}</span>`,
      `${c.checkpoint.epoch}`,
      `${c.signers.length} of ${sets.get(c.checkpoint.epoch) ?? "?"}`,
      c.signers.map((s) => `<span class="mono chip">${short(hex(s))}</span>`).join(" "),
      `${when(c.accepted_at)}<div class="muted">${age(c.accepted_at)}</div>`,
      window,
      `<span class="mono">${short(hex(c.hash))}</span>`,
    ]];
  });
  app.innerHTML = `
    <h1>Checkpoints</h1>
    <div class="cards">
      ${card("Latest height", tip ? tip.checkpoint.height.toString() : "–", "cp-latest")}
      ${card("Interval", `${interval} blocks`, "cp-interval")}
      ${card("Challenge window", `${Number(config.params.challenge_window_ns / 1_000_000_000n)} s`, "cp-window")}
    </div>
    ${table(["Height", "Epoch", "Signers", "Signed by", "Accepted", "Challenge window", "Hash"], rows, "checkpoints-table")}`;
  notes(["epochs.latest_checkpoint", "epochs.final_receipts_root"], ["epochs.checkpoint", "epochs.validator_set", "epochs.get_config"]);
}

// ------------------------------------------------------------------------------ market

async function marketPage(api: Api): Promise<void> {
  const [stats, offers] = await Promise.all([api.market.c.stats(), api.market.q.list_offers([], 100)]);
  const len = stats.events;
  const start = len > 100n ? len - 100n : 0n;
  const page = await api.market.q.events(start, len - start);
  const trades = page.events
    .filter((e) => "Trade" in e.event)
    .reverse()
    .map((e) => {
      const t = (e.event as { Trade: import("./declarations/market.did").Trade }).Trade;
      return [
        when(e.timestamp),
        nodeLink(t.node),
        `<span class="mono">${short(t.buyer.toText())}</span>`,
        `<span class="num">${emc(t.amount_e8s)}</span>`,
        `<span class="num">${emc(t.provider_payment_e8s)}</span>`,
        `<span class="num">${emc(t.treasury_fee_e8s)}</span>`,
        `${t.checkpoint_height}`,
      ];
    });
  app.innerHTML = `
    <h1>Market</h1>
    <div class="cards">
      ${card("Volume", `<span title="${emc(stats.volume_e8s)} EMC">${emcShort(stats.volume_e8s)}</span> <small>EMC</small>`, "mk-volume")}
      ${card("Trades", stats.trades.toString(), "mk-trades")}
      ${card("Treasury fees", `<span title="${emc(stats.treasury_fees_e8s)} EMC">${emcShort(stats.treasury_fees_e8s)}</span> <small>EMC</small>`, "mk-fees")}
      ${card("Offers", stats.offers.toString(), "mk-offers")}
      ${card("Escrow held", `<span title="${emc(stats.escrow_held_e8s)} EMC">${emcShort(stats.escrow_held_e8s)}</span> <small>EMC</small>`, "mk-escrow", `${stats.escrows} escrows`)}
      ${card("Trading rewards", `<span title="${emc(stats.rewards_e8s)} EMC">${emcShort(stats.rewards_e8s)}</span> <small>EMC</small>`, "mk-rewards")}
    </div>
    <h2>Offers</h2>
    ${table(["Id", "App", "Node", "Provider", "Price / unit (EMC)", "Unit", "Capacity"], offers.map((o) => [`${o.id}`, esc(o.app), nodeLink(o.node), `<span class="mono">${short(o.provider.toText())}</span>`, `<span class="num">${emc(o.price_e8s)}</span>`, variant(o.unit), `${o.capacity}/s`]), "offers-table")}
    <h2>Recent trades</h2>
    ${table(["Time", "Node", "Buyer", "Amount (EMC)", "Provider (EMC)", "Fee (EMC)", "Checkpoint"], trades, "trades-table")}`;
  notes(["market.stats"], ["market.list_offers", "market.events"]);
}

// ------------------------------------------------------------------------------ router

async function route(api: Api): Promise<void> {
  const path = window.location.hash.replace(/^#/, "") || "/";
  const [, page, arg] = path.split("/");
  document.querySelectorAll<HTMLAnchorElement>("nav a").forEach((a) => a.classList.toggle("active", a.dataset.nav === (page || "overview") || (page === "node" && a.dataset.nav === "nodes")));
  app.innerHTML = `<p class="loading">Loading…</p>`;
  document.body.dataset.ready = "false";
  try {
    switch (page) {
      case "nodes": await nodes(api); break;
      case "node": await node(api, arg ?? ""); break;
      case "epochs": await epochsPage(api); break;
      case "checkpoints": await checkpoints(api); break;
      case "market": await marketPage(api); break;
      default: await overview(api);
    }
  } catch (e) {
    app.innerHTML = `<h1>Error</h1><p class="error" data-testid="error">${esc(String(e))}</p>`;
  }
  document.body.dataset.ready = "true";
}

async function main(): Promise<void> {
  try {
    const api = await connect();
    document.getElementById("network")!.textContent = `${api.config.network} · ${api.config.host}`;
    window.addEventListener("hashchange", () => void route(api));
    await route(api);
  } catch (e) {
    app.innerHTML = `<h1>Cannot reach the network</h1><p class="error" data-testid="error">${esc(String(e))}</p>`;
    document.body.dataset.ready = "true";
  }
}

void main();

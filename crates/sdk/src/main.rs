//! `emc`: EMC's command line over `emc-sdk`. `emc --help` lists the commands; `--json` prints
//! one JSON document on stdout for scripts; progress goes to stderr; every error (usage errors
//! included) exits 1; `node doctor` exits 2 when a check fails.

use anyhow::{anyhow, bail, Context, Result};
use candid::Principal;
use clap::{Args, Parser, Subcommand};
use emc_sdk::amount::{format_emc, parse_emc};
use emc_sdk::doctor::{self, Status};
use emc_sdk::{gov, node_id_hex, parse_account, parse_node_id, Account, Emc, EmcConfig, SdkError};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(
    name = "emc",
    version,
    about = "EMC from the command line: wallet, nodes, market, compute calls, governance payloads"
)]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Args, Debug)]
struct Global {
    /// A TOML config (url, identity, root_key, timeout_secs, `[canisters]`); flags override it.
    #[arg(long, env = "EMC_CONFIG", global = true)]
    config: Option<PathBuf>,
    /// The replica (default: the local devnet, http://127.0.0.1:4943).
    #[arg(long, env = "EMC_URL", global = true)]
    url: Option<String>,
    /// The PEM key to sign with (ed25519 or secp256k1, as dfx writes them).
    #[arg(long, env = "EMC_IDENTITY", global = true)]
    identity: Option<PathBuf>,
    /// The replica's root key, hex (default: fetched from a local replica).
    #[arg(long, global = true)]
    root_key: Option<String>,
    /// Seconds one call may take.
    #[arg(long, global = true)]
    timeout_secs: Option<u64>,
    /// The ledger's canister id.
    #[arg(long, global = true, value_parser = principal)]
    ledger: Option<Principal>,
    /// The registry's canister id.
    #[arg(long, global = true, value_parser = principal)]
    registry: Option<Principal>,
    /// The epochs canister's id.
    #[arg(long, global = true, value_parser = principal)]
    epochs: Option<Principal>,
    /// The market's canister id.
    #[arg(long, global = true, value_parser = principal)]
    market: Option<Principal>,
    /// Print one JSON document on stdout.
    #[arg(long, global = true)]
    json: bool,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Balances, transfers and approvals of $EMC.
    #[command(subcommand)]
    Wallet(WalletCmd),
    /// Your nodes: status, earnings per epoch, diagnosis.
    #[command(subcommand)]
    Node(NodeCmd),
    /// Compute offers and your escrow.
    #[command(subcommand)]
    Market(MarketCmd),
    /// Compute calls through a router, signed with your user key.
    #[command(subcommand)]
    Call(CallCmd),
    /// Governance proposals' payloads (SNS generic functions).
    #[command(subcommand)]
    Gov(GovCmd),
}

#[derive(Subcommand, Debug)]
enum CallCmd {
    /// A chat completion, streamed to stdout as it arrives; the receipts are countersigned.
    Chat {
        /// The prompt.
        prompt: String,
        /// The router's API URL.
        #[arg(long, env = "EMC_ROUTER")]
        router: String,
        /// A file holding the user key's 32-byte ed25519 seed as 64 hex digits (the key bound
        /// to your escrow).
        #[arg(long, env = "EMC_USER_KEY")]
        user_key: PathBuf,
        /// The model.
        #[arg(long, default_value = "demo")]
        model: String,
    },
}

#[derive(Subcommand, Debug)]
enum WalletCmd {
    /// The identity's principal.
    Whoami,
    /// An account's balance (default: yours).
    Balance {
        /// A principal or ICRC-1 account text.
        account: Option<String>,
    },
    /// Sends EMC (the ledger fee is paid on top).
    Transfer {
        /// The recipient: a principal or ICRC-1 account text.
        to: String,
        /// Decimal EMC, at most 8 decimals (e.g. 12.5).
        #[arg(allow_hyphen_values = true)]
        amount: String,
        /// A memo (text, at most 32 bytes).
        #[arg(long)]
        memo: Option<String>,
    },
    /// Lets a spender take EMC from your account (replaces the previous allowance; 0 revokes).
    Approve {
        /// The spender: a principal or ICRC-1 account text.
        spender: String,
        /// Decimal EMC, at most 8 decimals.
        #[arg(allow_hyphen_values = true)]
        amount: String,
    },
    /// What a spender may take from an account (default: yours).
    Allowance {
        /// The spender.
        spender: String,
        /// The owner (default: you).
        #[arg(long)]
        owner: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
enum NodeCmd {
    /// A node's registration and stake, or every node of an owner (default: yours).
    Status {
        /// The node id (64 hex digits).
        node: Option<String>,
        /// List this owner's nodes instead.
        #[arg(long, conflicts_with = "node")]
        owner: Option<String>,
    },
    /// A node's rewards per epoch.
    Earnings {
        /// The node id (64 hex digits).
        node: String,
        /// First epoch (default: 29 before the last).
        #[arg(long)]
        from: Option<u64>,
        /// Last epoch (default: the last closed one).
        #[arg(long)]
        to: Option<u64>,
        /// Print CSV (epoch,node,owner,amount_e8s,amount_emc,status,block).
        #[arg(long, conflicts_with = "json")]
        csv: bool,
    },
    /// Is the node registered, active, staked, served by a router, seen online, PoC passed?
    Doctor {
        /// The node id (64 hex digits).
        node: String,
        /// A router's API URL (e.g. http://127.0.0.1:8080) to check what it serves.
        #[arg(long)]
        router: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
enum MarketCmd {
    /// Listed compute offers.
    Offers {
        /// Only this provider's.
        #[arg(long)]
        provider: Option<String>,
    },
    /// A buyer's escrow (default: yours).
    Escrow {
        /// The buyer.
        buyer: Option<String>,
    },
    /// Deposits EMC into your escrow (approve, then deposit).
    Deposit {
        /// Decimal EMC, at most 8 decimals.
        #[arg(allow_hyphen_values = true)]
        amount: String,
    },
    /// Requests a withdrawal of AMOUNT (paid after the notice period), or with --complete pays
    /// out the pending one.
    Withdraw {
        /// Decimal EMC to request.
        #[arg(
            required_unless_present = "complete",
            conflicts_with = "complete",
            allow_hyphen_values = true
        )]
        amount: Option<String>,
        /// Pay out the pending withdrawal (its notice must have passed).
        #[arg(long)]
        complete: bool,
    },
}

#[derive(Subcommand, Debug)]
enum GovCmd {
    /// The generic functions a DAO registers (ids, target, validator, payload type).
    List,
    /// Encodes a payload from candid text to the hex bytes a proposal carries.
    Encode {
        /// The function id (1000-1008).
        function: u64,
        /// The argument as candid text, e.g. '(opt principal "aaaaa-aa")'.
        payload: String,
    },
    /// Renders a payload's hex bytes as candid text.
    Decode {
        /// The function id (1000-1008).
        function: u64,
        /// The payload, hex.
        hex: String,
    },
}

fn principal(s: &str) -> Result<Principal, String> {
    Principal::from_text(s.trim()).map_err(|e| format!("invalid principal {s:?}: {e}"))
}

/// What a command prints: JSON for `--json`, text otherwise.
struct Out {
    json: Value,
    text: String,
}

fn out(json: Value, text: impl Into<String>) -> Out {
    Out {
        json,
        text: text.into(),
    }
}

fn progress(msg: &str) {
    eprintln!("… {msg}");
}

fn amount_arg(s: &str, positive: bool) -> Result<u64> {
    let e8s = parse_emc(s).map_err(|e| anyhow!("{e}"))?;
    if positive && e8s == 0 {
        bail!("the amount must be positive (got {s:?})");
    }
    Ok(e8s)
}

fn config(g: &Global) -> Result<EmcConfig> {
    let mut cfg = match &g.config {
        Some(p) => EmcConfig::from_file(p)?,
        None => EmcConfig::default(),
    };
    if let Some(u) = &g.url {
        cfg.url = u.clone();
    }
    if let Some(i) = &g.identity {
        cfg.identity = Some(i.clone());
    }
    if let Some(k) = &g.root_key {
        cfg.root_key = Some(k.clone());
    }
    if let Some(t) = g.timeout_secs {
        cfg.timeout_secs = t;
    }
    let c = &mut cfg.canisters;
    for (slot, flag) in [
        (&mut c.ledger, g.ledger),
        (&mut c.registry, g.registry),
        (&mut c.epochs, g.epochs),
        (&mut c.market, g.market),
    ] {
        if let Some(p) = flag {
            *slot = p;
        }
    }
    Ok(cfg)
}

fn needs_identity(emc: &Emc) -> Result<()> {
    if emc.principal() == Principal::anonymous() {
        bail!("this command signs as you: pass --identity <pem> (or set EMC_IDENTITY, or `identity` in the config)");
    }
    Ok(())
}

fn main() -> ExitCode {
    // Usage errors exit 1 like every other error (clap's own code, 2, is the doctor's).
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 1 } else { 0 });
        }
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("EMC_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let json = cli.global.json;
    match rt.block_on(run(cli)) {
        Ok((o, code)) => {
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&o.json).unwrap_or_else(|_| "null".into())
                );
            } else if !o.text.is_empty() {
                print!("{}", o.text);
                if !o.text.ends_with('\n') {
                    println!();
                }
            }
            ExitCode::from(code)
        }
        Err(e) => {
            let msg = explain(&e);
            eprintln!("error: {msg}");
            if json {
                println!("{}", json!({ "error": msg }));
            }
            ExitCode::from(1)
        }
    }
}

/// The error with a hint where one helps.
fn explain(e: &anyhow::Error) -> String {
    let mut msg = format!("{e:#}");
    if let Some(sdk) = e.downcast_ref::<SdkError>() {
        if sdk.is_unreachable() {
            msg.push_str(
                "\nhint: the replica did not answer: is the devnet (or emc-replica) running, and is --url right?",
            );
        }
        if let SdkError::Ic(emc_sdk::IcError::Reject { message, .. }) = sdk {
            if message.contains("not found") || message.contains("IC0301") {
                msg.push_str("\nhint: check the canister ids (--ledger/--registry/--epochs/--market or the config)");
            }
        }
    }
    msg
}

async fn run(cli: Cli) -> Result<(Out, u8)> {
    if let Cmd::Gov(cmd) = &cli.cmd {
        return Ok((gov_cmd(cmd)?, 0));
    }
    if let Cmd::Call(CallCmd::Chat {
        prompt,
        router,
        user_key,
        model,
    }) = &cli.cmd
    {
        return Ok((
            chat(prompt, router, user_key, model, cli.global.json).await?,
            0,
        ));
    }
    let cfg = config(&cli.global)?;
    let emc = Emc::connect(&cfg).context("connecting")?;
    match cli.cmd {
        Cmd::Wallet(c) => Ok((wallet(&emc, c).await?, 0)),
        Cmd::Node(c) => node(&emc, c).await,
        Cmd::Market(c) => Ok((market(&emc, c).await?, 0)),
        Cmd::Gov(_) | Cmd::Call(_) => bail!("handled above"),
    }
}

async fn wallet(emc: &Emc, cmd: WalletCmd) -> Result<Out> {
    let ledger = emc.ledger();
    Ok(match cmd {
        WalletCmd::Whoami => {
            let p = emc.principal().to_text();
            out(json!({ "principal": p }), p)
        }
        WalletCmd::Balance { account } => {
            let account = match account {
                Some(a) => parse_account(&a)?,
                None => {
                    needs_identity(emc)?;
                    Account::from(emc.principal())
                }
            };
            let e8s = ledger.balance(account).await?;
            out(
                json!({ "account": account.to_string(), "balance_e8s": e8s, "balance": format_emc(e8s) }),
                format!("{} EMC", format_emc(e8s)),
            )
        }
        WalletCmd::Transfer { to, amount, memo } => {
            needs_identity(emc)?;
            let to = parse_account(&to)?;
            let e8s = amount_arg(&amount, true)?;
            let memo = memo.map(String::into_bytes);
            if memo.as_ref().is_some_and(|m| m.len() > 32) {
                bail!("the memo is longer than 32 bytes");
            }
            progress(&format!("transferring {} EMC to {to}", format_emc(e8s)));
            let block = ledger.transfer(to, e8s, memo).await?;
            out(
                json!({ "to": to.to_string(), "amount_e8s": e8s, "block": block }),
                format!("sent {} EMC to {to} in block {block}", format_emc(e8s)),
            )
        }
        WalletCmd::Approve { spender, amount } => {
            needs_identity(emc)?;
            let spender = parse_account(&spender)?;
            let e8s = amount_arg(&amount, false)?;
            let block = ledger.approve(spender, e8s, None).await?;
            out(
                json!({ "spender": spender.to_string(), "amount_e8s": e8s, "block": block }),
                format!(
                    "{spender} may take up to {} EMC (block {block})",
                    format_emc(e8s)
                ),
            )
        }
        WalletCmd::Allowance { spender, owner } => {
            let spender = parse_account(&spender)?;
            let owner = match owner {
                Some(o) => parse_account(&o)?,
                None => {
                    needs_identity(emc)?;
                    Account::from(emc.principal())
                }
            };
            let a = ledger.allowance(owner, spender).await?;
            out(
                json!({ "owner": owner.to_string(), "spender": spender.to_string(),
                        "allowance_e8s": a.allowance_e8s, "expires_at": a.expires_at }),
                format!("{} EMC", format_emc(a.allowance_e8s)),
            )
        }
    })
}

fn node_json(n: &emc_sdk::registry::Node) -> Value {
    json!({
        "id": node_id_hex(&n.id),
        "role": format!("{:?}", n.role).to_lowercase(),
        "owner": n.owner.to_text(),
        "network_address": n.network_address,
        "region": n.region,
        "hardware": n.hardware,
        "registered_at": n.registered_at,
        "state": format!("{:?}", n.state),
        "suspended": n.suspended,
        "stake_e8s": n.stake_e8s,
        "penalty_due_e8s": n.penalty_due_e8s,
        "term": n.term.as_ref().map(|t| json!({
            "start": t.start, "end": t.end, "term_days": t.term_days,
            "renewals": t.renewals, "multiplier": t.multiplier, "expired": t.expired })),
        "poc_e": n.poc_e,
    })
}

fn node_text(n: &emc_sdk::registry::Node) -> String {
    format!(
        "node {}\n  role      {:?}\n  owner     {}\n  state     {:?}{}\n  stake     {} EMC{}\n  address   {}\n  region    {}\n  PoC E     {}\n",
        node_id_hex(&n.id),
        n.role,
        n.owner.to_text(),
        n.state,
        if n.suspended { " (suspended)" } else { "" },
        format_emc(n.stake_e8s),
        n.term
            .as_ref()
            .map(|t| format!(", {}-day term{}", t.term_days, if t.expired { " (expired)" } else { "" }))
            .unwrap_or_default(),
        n.network_address,
        n.region,
        n.poc_e
    )
}

async fn node(emc: &Emc, cmd: NodeCmd) -> Result<(Out, u8)> {
    let registry = emc.registry();
    Ok(match cmd {
        NodeCmd::Status { node: Some(id), .. } => {
            let id = parse_node_id(&id)?;
            let n = registry.require_node(id).await?;
            (out(node_json(&n), node_text(&n)), 0)
        }
        NodeCmd::Status { node: None, owner } => {
            let owner = match owner {
                Some(o) => principal(&o).map_err(|e| anyhow!(e))?,
                None => {
                    needs_identity(emc)?;
                    emc.principal()
                }
            };
            let nodes = registry.nodes_of(owner).await?;
            let text = if nodes.is_empty() {
                format!("{} owns no node\n", owner.to_text())
            } else {
                nodes.iter().map(node_text).collect::<Vec<_>>().join("\n")
            };
            (
                out(
                    json!({ "owner": owner.to_text(), "nodes": nodes.iter().map(node_json).collect::<Vec<_>>() }),
                    text,
                ),
                0,
            )
        }
        NodeCmd::Earnings {
            node,
            from,
            to,
            csv,
        } => {
            let id = parse_node_id(&node)?;
            registry.require_node(id).await?;
            let epochs = emc.epochs();
            let last = epochs.stats().await?.last_closed_epoch;
            let to = match (to, last) {
                (Some(t), _) => Some(t),
                (None, l) => l,
            };
            let payouts = match to {
                None => Vec::new(),
                Some(to) => {
                    let from = from.unwrap_or(to.saturating_sub(29));
                    if to - from.min(to) > 50 {
                        progress(&format!("reading epochs {from} to {to}"));
                    }
                    epochs.node_rewards(id, from, to).await?
                }
            };
            let total: u64 = payouts.iter().map(|p| p.amount_e8s).sum();
            let rows: Vec<Value> = payouts
                .iter()
                .map(|p| {
                    let (status, block) = emc_sdk::epochs::payout_status(&p.status);
                    json!({ "epoch": p.epoch, "amount_e8s": p.amount_e8s,
                            "amount": format_emc(p.amount_e8s), "status": status, "block": block })
                })
                .collect();
            let text = if csv {
                emc_sdk::epochs::earnings_csv(&payouts)
            } else if payouts.is_empty() {
                match last {
                    None => "no epoch has closed yet: no rewards\n".to_string(),
                    Some(_) => "no rewards in these epochs\n".to_string(),
                }
            } else {
                let mut t = String::from("epoch  amount (EMC)  status\n");
                for p in &payouts {
                    let (status, _) = emc_sdk::epochs::payout_status(&p.status);
                    t.push_str(&format!(
                        "{:>5}  {:>12}  {status}\n",
                        p.epoch,
                        format_emc(p.amount_e8s)
                    ));
                }
                t.push_str(&format!("total  {} EMC\n", format_emc(total)));
                t
            };
            (
                out(
                    json!({ "node": node_id_hex(&id), "last_closed_epoch": last,
                            "total_e8s": total, "epochs": rows }),
                    text,
                ),
                0,
            )
        }
        NodeCmd::Doctor { node, router } => {
            let id = parse_node_id(&node)?;
            progress("reading the registry and the epochs canister");
            let mut facts = doctor::gather(emc, id).await?;
            if let (Some(r), Some(n)) = (router, facts.node.as_ref()) {
                progress(&format!("asking router {r}"));
                let offered = doctor::offered_apps(emc, n).await?;
                facts.router = Some(doctor::probe_router(&r, offered).await);
            }
            let checks = doctor::diagnose(&id, &facts);
            let failed = doctor::any_failed(&checks);
            let mut text = String::new();
            for c in &checks {
                let mark = match c.status {
                    Status::Pass => "PASS",
                    Status::Warn => "WARN",
                    Status::Fail => "FAIL",
                    Status::Skip => "SKIP",
                };
                text.push_str(&format!("{mark}  {:<10} {}\n", c.name, c.detail));
                if let (Some(fix), true) = (&c.fix, c.status != Status::Pass) {
                    text.push_str(&format!("      {:<10} fix: {fix}\n", ""));
                }
            }
            (
                out(
                    json!({ "node": node_id_hex(&id), "ok": !failed, "checks": checks }),
                    text,
                ),
                if failed { 2 } else { 0 },
            )
        }
    })
}

fn read_user_key(path: &std::path::Path) -> Result<ed25519_dalek::SigningKey> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the user key {}", path.display()))?;
    let seed: [u8; 32] = hex::decode(text.trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| {
            anyhow!(
                "the user key file {} must hold 64 hex digits (an ed25519 seed)",
                path.display()
            )
        })?;
    Ok(ed25519_dalek::SigningKey::from_bytes(&seed))
}

async fn chat(
    prompt: &str,
    router: &str,
    key: &std::path::Path,
    model: &str,
    json_out: bool,
) -> Result<Out> {
    use emc_sdk::compute::{ChatEvent, ChatMessage, ComputeClient};
    use futures::StreamExt;
    use std::io::Write;
    let client = ComputeClient::new(router, read_user_key(key)?)?;
    let mut stream = client
        .chat_stream(model, vec![ChatMessage::user(prompt)])
        .await?;
    let (mut text, mut receipts, mut done) = (String::new(), 0u64, false);
    let mut stdout = std::io::stdout();
    while let Some(ev) = stream.next().await {
        match ev? {
            ChatEvent::Delta(d) => {
                if !json_out {
                    print!("{d}");
                    let _ = stdout.flush();
                }
                text.push_str(&d);
            }
            ChatEvent::Receipt(_) => receipts += 1,
            ChatEvent::Done => done = true,
        }
    }
    if !json_out {
        println!();
    }
    if !done {
        bail!("the answer stopped before its end ([DONE] never came)");
    }
    progress("countersigning the call's receipts");
    let (accepted, refused) = client.countersign_pending().await?;
    Ok(out(
        json!({ "text": text, "receipts_in_stream": receipts,
                "countersigned": accepted, "refused": refused }),
        String::new(),
    ))
}

fn escrow_json(e: &emc_sdk::market::EscrowView) -> Value {
    json!({
        "buyer": e.buyer.to_text(),
        "balance_e8s": e.balance_e8s,
        "available_e8s": e.available_e8s,
        "reserved_e8s": e.reserved_e8s,
        "withdrawable_e8s": e.withdrawable_e8s,
        "deposited_e8s": e.deposited_e8s,
        "spent_e8s": e.spent_e8s,
        "withdrawn_e8s": e.withdrawn_e8s,
        "fees_e8s": e.fees_e8s,
        "withdrawal": e.withdrawal.as_ref().map(|w| json!({ "amount_e8s": w.amount_e8s, "unlock_at": w.unlock_at })),
    })
}

fn escrow_text(e: &emc_sdk::market::EscrowView) -> String {
    let mut t = format!(
        "escrow of {}\n  balance    {} EMC\n  available  {} EMC\n  deposited  {} EMC\n  spent      {} EMC\n  withdrawn  {} EMC\n",
        e.buyer.to_text(),
        format_emc(e.balance_e8s),
        format_emc(e.available_e8s),
        format_emc(e.deposited_e8s),
        format_emc(e.spent_e8s),
        format_emc(e.withdrawn_e8s)
    );
    if let Some(w) = &e.withdrawal {
        t.push_str(&format!(
            "  withdrawal {} EMC, unlocks at {} ns\n",
            format_emc(w.amount_e8s),
            w.unlock_at
        ));
    }
    t
}

async fn market(emc: &Emc, cmd: MarketCmd) -> Result<Out> {
    let m = emc.market();
    Ok(match cmd {
        MarketCmd::Offers { provider } => {
            let offers = match provider {
                Some(p) => m.offers_of(principal(&p).map_err(|e| anyhow!(e))?).await?,
                None => m.offers().await?,
            };
            let rows: Vec<Value> = offers
                .iter()
                .map(|o| {
                    json!({ "id": o.id, "app": o.app, "provider": o.provider.to_text(),
                            "node": node_id_hex(&o.node), "unit": format!("{:?}", o.unit).to_lowercase(),
                            "price_e8s": o.price_e8s, "capacity": o.capacity })
                })
                .collect();
            let mut text = if offers.is_empty() {
                "no offers\n".to_string()
            } else {
                String::from("   id  app                          unit      price (EMC/unit)  capacity  node\n")
            };
            for o in &offers {
                text.push_str(&format!(
                    "{:>5}  {:<28} {:<9} {:>16}  {:>8}  {}\n",
                    o.id,
                    o.app,
                    format!("{:?}", o.unit).to_lowercase(),
                    format_emc(o.price_e8s),
                    o.capacity,
                    &node_id_hex(&o.node)[..16]
                ));
            }
            out(json!({ "offers": rows }), text)
        }
        MarketCmd::Escrow { buyer } => {
            let buyer = match buyer {
                Some(b) => principal(&b).map_err(|e| anyhow!(e))?,
                None => {
                    needs_identity(emc)?;
                    emc.principal()
                }
            };
            match m.escrow(buyer).await? {
                Some(e) => out(escrow_json(&e), escrow_text(&e)),
                None => out(
                    json!({ "buyer": buyer.to_text(), "escrow": null }),
                    format!("{} has no escrow\n", buyer.to_text()),
                ),
            }
        }
        MarketCmd::Deposit { amount } => {
            needs_identity(emc)?;
            let e8s = amount_arg(&amount, true)?;
            progress(&format!(
                "approving the market for {} EMC plus the ledger fee, then depositing",
                format_emc(e8s)
            ));
            let e = m.deposit(e8s).await?;
            out(escrow_json(&e), escrow_text(&e))
        }
        MarketCmd::Withdraw { amount, complete } => {
            needs_identity(emc)?;
            if complete {
                let t = m.withdraw().await?;
                out(
                    json!({ "transfer": t.id, "amount_e8s": t.amount_e8s, "status": format!("{:?}", t.status) }),
                    format!(
                        "withdrawal of {} EMC: transfer {} ({:?})\n",
                        format_emc(t.amount_e8s),
                        t.id,
                        t.status
                    ),
                )
            } else {
                let e8s = amount_arg(amount.as_deref().unwrap_or_default(), true)?;
                let e = m.request_withdrawal(e8s).await?;
                out(escrow_json(&e), escrow_text(&e))
            }
        }
    })
}

fn gov_cmd(cmd: &GovCmd) -> Result<Out> {
    Ok(match cmd {
        GovCmd::List => {
            let mut text = String::from("  id  target    method / validator: payload\n");
            for g in gov::functions() {
                text.push_str(&format!(
                    "{:>4}  {:<8}  {} / {}: {}\n      {}\n",
                    g.id,
                    format!("{:?}", g.target).to_lowercase(),
                    g.method,
                    g.validator,
                    g.payload,
                    g.name
                ));
            }
            out(json!({ "functions": gov::functions() }), text)
        }
        GovCmd::Encode { function, payload } => {
            let g = gov::function(*function)?;
            let bytes = gov::encode_payload(&g, payload)?;
            let h = hex::encode(&bytes);
            out(
                json!({ "function": g, "payload_hex": h, "payload": gov::decode_payload(&g, &bytes)? }),
                h,
            )
        }
        GovCmd::Decode { function, hex: h } => {
            let g = gov::function(*function)?;
            let bytes =
                hex::decode(h.trim()).map_err(|e| anyhow!("the payload is not hex: {e}"))?;
            let text = gov::decode_payload(&g, &bytes)?;
            out(json!({ "function": g, "payload": text }), text)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
        // Negative amounts reach the amount parser (a clear message), not clap's flag parser.
        let cli = Cli::try_parse_from(["emc", "wallet", "transfer", "2vxsx-fae", "-1"]).unwrap();
        assert!(
            matches!(cli.cmd, Cmd::Wallet(WalletCmd::Transfer { ref amount, .. }) if amount == "-1")
        );
        assert!(Cli::try_parse_from(["emc", "market", "withdraw"]).is_err());
        assert!(Cli::try_parse_from(["emc", "market", "withdraw", "1", "--complete"]).is_err());
        assert!(Cli::try_parse_from(["emc", "node", "earnings", "ab", "--csv", "--json"]).is_err());
    }
}

//! `emc`: EMC's command line over `emc-sdk`. `emc --help` lists the commands; `--json` prints
//! one JSON document on stdout for scripts; progress goes to stderr; every error (usage errors
//! included) exits 1; `node doctor` exits 2 when a check fails.

use anyhow::{anyhow, bail, Context, Result};
use candid::Principal;
use clap::{Args, Parser, Subcommand};
use emc_sdk::amount::{format_emc, parse_emc};
use emc_sdk::doctor::{self, Status};
use emc_sdk::IcClient as _;
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
    /// The sockets canister's id.
    #[arg(long, global = true, value_parser = principal)]
    sockets: Option<Principal>,
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
    /// Computing sockets (ICRC-7 NFTs): list, show, buy, transfer, bind a user key.
    #[command(subcommand)]
    Socket(SocketCmd),
    /// Compute calls through a router, signed with your user key.
    #[command(subcommand)]
    Call(CallCmd),
    /// Governance proposals' payloads (SNS generic functions).
    #[command(subcommand)]
    Gov(GovCmd),
    /// Deploys EMC's canisters to a fresh local replica (emc-replica) with the devnet's ids,
    /// wired as scripts/dfx-deploy.sh wires them; your identity becomes their controller,
    /// governance and treasury.
    Deploy(DeployCmd),
}

#[derive(Args, Debug)]
struct DeployCmd {
    /// The folder with the canisters' .wasm.gz (scripts/build-canisters.sh writes it).
    #[arg(long, default_value = "target/canisters")]
    wasm_dir: PathBuf,
    /// The registry's genesis (start of epoch 0) this many seconds from now: register and
    /// stake the first validators before it.
    #[arg(long, default_value_t = 600)]
    genesis_in_secs: u64,
    /// A genesis balance, `<account>=<EMC>` (repeatable; default: 1,000,000 EMC to you).
    #[arg(long = "fund", value_parser = fund_arg)]
    funds: Vec<(Account, u64)>,
}

fn fund_arg(s: &str) -> Result<(Account, u64), String> {
    let (account, amount) = s
        .rsplit_once('=')
        .ok_or_else(|| format!("expected <account>=<EMC>, got {s:?}"))?;
    let account = emc_sdk::parse_account(account).map_err(|e| e.to_string())?;
    let e8s = parse_emc(amount).map_err(|e| e.to_string())?;
    Ok((account, e8s))
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
        /// Call through this computing socket (the `x-emc-socket` header): paid from the
        /// socket's escrow; the user key must be bound to it (`emc socket bind`).
        #[arg(long)]
        socket: Option<u64>,
    },
    /// A call to an app's own REST API (`/{app}{path}` on the router): the app's answer on
    /// stdout as it arrives; the receipt countersigned. A large body streams through the
    /// router (its SHA-256 is declared up front).
    App {
        /// The app's name, as nodes offer it (e.g. `sd`).
        app: String,
        /// The path in the app's API, with its query (e.g. `/sdapi/v1/txt2img`).
        path: String,
        /// The router's API URL.
        #[arg(long, env = "EMC_ROUTER")]
        router: String,
        /// A file holding the user key's 32-byte ed25519 seed as 64 hex digits.
        #[arg(long, env = "EMC_USER_KEY")]
        user_key: PathBuf,
        /// The model a serving node must have (empty: any).
        #[arg(long, default_value = "")]
        model: String,
        /// The HTTP method.
        #[arg(long, default_value = "POST")]
        method: String,
        /// The request body (JSON, as the app takes it).
        #[arg(long, conflicts_with = "data_file")]
        data: Option<String>,
        /// A file whose bytes are the request body.
        #[arg(long)]
        data_file: Option<PathBuf>,
        /// Call through this computing socket.
        #[arg(long)]
        socket: Option<u64>,
    },
}

#[derive(Subcommand, Debug)]
enum SocketCmd {
    /// The sockets an account holds (default: yours), with their terms.
    List {
        /// A principal or ICRC-1 account text.
        #[arg(long)]
        owner: Option<String>,
    },
    /// One socket: terms, holder, expiry, its purchase in the market.
    Show {
        /// The socket's token id.
        id: u64,
    },
    /// Buys a socket from an offer, paid from your escrow (price x units x periods + fee).
    Buy {
        /// The offer id.
        offer: u64,
        /// Units per period (a day).
        #[arg(long)]
        units: u64,
        /// Periods (days), 1 to 366.
        #[arg(long, default_value_t = 30)]
        periods: u32,
        /// The hash of the model the app serves, 64 hex digits (default: zero).
        #[arg(long)]
        model_hash: Option<String>,
    },
    /// Transfers a socket you hold (ICRC-7).
    Transfer {
        /// The socket's token id.
        id: u64,
        /// The recipient: a principal or ICRC-1 account text.
        to: String,
    },
    /// Lets a spender move a socket you hold (ICRC-37), until it moves or for `--for`.
    Approve {
        /// The socket's token id.
        id: u64,
        /// The spender: a principal or ICRC-1 account text.
        spender: String,
        /// How long the approval lasts (e.g. `2h`, `7days`; default: until the socket moves).
        #[arg(long = "for", value_parser = humantime::parse_duration)]
        duration: Option<std::time::Duration>,
    },
    /// Moves a socket you were approved for from its holder to someone (ICRC-37).
    TransferFrom {
        /// The socket's token id.
        id: u64,
        /// The holder: a principal or ICRC-1 account text.
        #[arg(long)]
        from: String,
        /// The recipient: a principal or ICRC-1 account text.
        to: String,
    },
    /// Takes back what is left of an expired socket's escrow (you bought it; after the
    /// withdrawal notice).
    Reclaim {
        /// The purchase id (`emc socket show` prints it).
        purchase: u64,
    },
    /// Binds a user key to a socket you hold: its calls through the socket are paid from the
    /// socket's escrow.
    Bind {
        /// The socket's token id.
        id: u64,
        /// A file holding the user key's 32-byte ed25519 seed as 64 hex digits.
        #[arg(long, env = "EMC_USER_KEY")]
        user_key: PathBuf,
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
    if let Some(p) = g.sockets {
        c.sockets = Some(p);
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
                msg.push_str("\nhint: check the canister ids (--ledger/--registry/--epochs/--market/--sockets or the config)");
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
        socket,
    }) = &cli.cmd
    {
        return Ok((
            chat(prompt, router, user_key, model, *socket, cli.global.json).await?,
            0,
        ));
    }
    if let Cmd::Call(CallCmd::App {
        app,
        path,
        router,
        user_key,
        model,
        method,
        data,
        data_file,
        socket,
    }) = &cli.cmd
    {
        let body = match (data, data_file) {
            (Some(d), _) => d.clone().into_bytes(),
            (None, Some(f)) => {
                std::fs::read(f).with_context(|| format!("reading {}", f.display()))?
            }
            (None, None) => Vec::new(),
        };
        let mut client = emc_sdk::compute::ComputeClient::new(router, read_user_key(user_key)?)?;
        if let Some(id) = socket {
            client = client.with_socket(*id);
        }
        let call = AppCall {
            method,
            app,
            path,
            model,
        };
        return Ok((app_call(&client, call, body, cli.global.json).await?, 0));
    }
    let cfg = config(&cli.global)?;
    if let Cmd::Deploy(d) = &cli.cmd {
        return Ok((deploy(&cfg, d).await?, 0));
    }
    let emc = Emc::connect(&cfg).context("connecting")?;
    match cli.cmd {
        Cmd::Wallet(c) => Ok((wallet(&emc, c).await?, 0)),
        Cmd::Node(c) => node(&emc, c).await,
        Cmd::Market(c) => Ok((market(&emc, c).await?, 0)),
        Cmd::Socket(c) => Ok((socket_cmd(&emc, c).await?, 0)),
        Cmd::Gov(_) | Cmd::Call(_) | Cmd::Deploy(_) => bail!("handled above"),
    }
}

async fn deploy(cfg: &EmcConfig, cmd: &DeployCmd) -> Result<Out> {
    let client = Emc::agent_client(cfg).context("connecting")?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .context("the system clock is before 1970")?;
    let genesis = now
        .as_secs()
        .checked_add(cmd.genesis_in_secs)
        .and_then(|s| s.checked_mul(1_000_000_000))
        .ok_or_else(|| anyhow!("--genesis-in-secs is too large"))?;
    let dc = emc_sdk::deploy::DeployConfig {
        initial_balances: cmd.funds.clone(),
        genesis_time_ns: Some(genesis),
        ..emc_sdk::deploy::DeployConfig::new(&cmd.wasm_dir)
    };
    let d = emc_sdk::deploy::deploy(&client, &dc, progress).await?;
    Ok(out(
        json!({
            "ledger": d.ledger.to_text(), "registry": d.registry.to_text(),
            "epochs": d.epochs.to_text(), "market": d.market.to_text(),
            "sockets": d.sockets.to_text(), "dao": d.dao.to_text(),
            "governance": client.principal().to_text(), "genesis_time_ns": genesis,
        }),
        format!(
            "ledger {}  registry {}  epochs {}  market {}  sockets {}  dao {}  governance {}  genesis in {}s",
            d.ledger, d.registry, d.epochs, d.market, d.sockets, d.dao,
            client.principal(), cmd.genesis_in_secs
        ),
    ))
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
    socket: Option<u64>,
    json_out: bool,
) -> Result<Out> {
    use emc_sdk::compute::{ChatEvent, ChatMessage, ComputeClient};
    use futures::StreamExt;
    use std::io::Write;
    let mut client = ComputeClient::new(router, read_user_key(key)?)?;
    if let Some(id) = socket {
        client = client.with_socket(id);
    }
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
        json!({ "text": text, "receipts_in_stream": receipts, "socket": socket,
                "countersigned": accepted, "refused": refused }),
        String::new(),
    ))
}

/// What `emc call app` calls.
struct AppCall<'a> {
    method: &'a str,
    app: &'a str,
    path: &'a str,
    model: &'a str,
}

async fn app_call(
    client: &emc_sdk::compute::ComputeClient,
    call: AppCall<'_>,
    body: Vec<u8>,
    json_out: bool,
) -> Result<Out> {
    use std::io::Write;
    let mut resp = client
        .call_app(call.method, call.app, call.path, call.model, body)
        .await?;
    let status = resp.status().as_u16();
    let node = resp
        .headers()
        .get("x-emc-node")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let (mut answer, mut stdout) = (Vec::new(), std::io::stdout());
    while let Some(chunk) = resp.chunk().await.context("the app's answer broke off")? {
        if json_out {
            answer.extend_from_slice(&chunk);
        } else {
            stdout.write_all(&chunk)?;
            stdout.flush()?;
        }
    }
    progress("countersigning the call's receipt");
    let (accepted, refused) = client.countersign_pending().await?;
    Ok(out(
        json!({ "status": status, "node": node, "body": String::from_utf8_lossy(&answer),
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

fn socket_json(s: &emc_sdk::sockets::SocketView) -> Value {
    let t = &s.terms;
    json!({
        "id": s.token_id,
        "holder": s.owner.to_string(),
        "app": t.app_id,
        "model_hash": hex::encode(t.model_hash.0),
        "units_per_period": t.units_per_period,
        "period_secs": t.period_secs,
        "expires_at": t.expires_at,
        "expired": s.expired,
        "offer": t.offer_id,
        "provider": t.provider.to_text(),
        "paid_e8s": t.paid_e8s,
        "minted_at": s.minted_at,
        "transfers": s.transfers,
    })
}

fn socket_text(s: &emc_sdk::sockets::SocketView) -> String {
    let t = &s.terms;
    format!(
        "socket {}\n  holder    {}\n  app       {}\n  units     {} per {} s\n  expires   {} ns{}\n  offer     {} (provider {})\n  paid      {} EMC\n  transfers {}\n",
        s.token_id,
        s.owner,
        t.app_id,
        t.units_per_period,
        t.period_secs,
        t.expires_at,
        if s.expired { " (expired)" } else { "" },
        t.offer_id,
        t.provider.to_text(),
        format_emc(t.paid_e8s),
        s.transfers
    )
}

fn purchase_json(p: &emc_sdk::market::SocketPurchase) -> Value {
    let token = match p.mint {
        emc_sdk::market::MintStatus::Minted { token_id } => Some(token_id),
        emc_sdk::market::MintStatus::Pending => None,
    };
    json!({
        "purchase": p.id,
        "buyer": p.buyer.to_text(),
        "offer": p.offer_id,
        "app": p.app,
        "units_per_period": p.units_per_period,
        "expires_at": p.expires_at,
        "price_e8s": p.price_e8s,
        "escrow": p.escrow.to_text(),
        "token": token,
    })
}

/// The socket if the caller may move it: it exists, the caller holds it, it has not expired.
async fn held_socket(emc: &Emc, id: u64) -> Result<emc_sdk::sockets::SocketView> {
    needs_identity(emc)?;
    let s = emc
        .sockets()
        .socket(id)
        .await?
        .ok_or_else(|| anyhow!("socket {id} does not exist"))?;
    emc_sdk::sockets::ensure_movable(&s, emc.principal())?;
    Ok(s)
}

async fn socket_cmd(emc: &Emc, cmd: SocketCmd) -> Result<Out> {
    let sockets = emc.sockets();
    Ok(match cmd {
        SocketCmd::List { owner } => {
            let owner = match owner {
                Some(o) => parse_account(&o)?,
                None => {
                    needs_identity(emc)?;
                    Account::from(emc.principal())
                }
            };
            let ids = sockets.tokens_of(owner).await?;
            let mut views = Vec::with_capacity(ids.len());
            for id in ids {
                views.push(sockets.require_socket(id).await?);
            }
            let mut text = if views.is_empty() {
                format!("{owner} holds no socket\n")
            } else {
                String::from("   id  app                          units/period  expired  offer\n")
            };
            for s in &views {
                text.push_str(&format!(
                    "{:>5}  {:<28} {:>12}  {:<7}  {}\n",
                    s.token_id,
                    s.terms.app_id,
                    s.terms.units_per_period,
                    if s.expired { "yes" } else { "no" },
                    s.terms.offer_id
                ));
            }
            out(
                json!({ "owner": owner.to_string(), "sockets": views.iter().map(socket_json).collect::<Vec<_>>() }),
                text,
            )
        }
        SocketCmd::Show { id } => {
            let s = sockets
                .socket(id)
                .await?
                .ok_or_else(|| anyhow!("socket {id} does not exist"))?;
            let p = emc.market().socket_purchase_of_token(id).await?;
            let mut j = socket_json(&s);
            j["purchase"] = p.as_ref().map(purchase_json).unwrap_or(Value::Null);
            let mut text = socket_text(&s);
            if let Some(p) = &p {
                text.push_str(&format!(
                    "  purchase  {} by {} (escrow {})\n",
                    p.id,
                    p.buyer.to_text(),
                    p.escrow.to_text()
                ));
            }
            out(j, text)
        }
        SocketCmd::Buy {
            offer,
            units,
            periods,
            model_hash,
        } => {
            needs_identity(emc)?;
            let model_hash = match model_hash {
                None => [0u8; 32],
                Some(h) => hex::decode(h.trim())
                    .ok()
                    .and_then(|b| <[u8; 32]>::try_from(b).ok())
                    .ok_or_else(|| anyhow!("--model-hash must be 64 hex digits (got {h:?})"))?,
            };
            if units == 0 {
                bail!("--units must be positive");
            }
            progress(&format!(
                "buying a socket from offer {offer}: {units} units a day for {periods} days"
            ));
            let p = emc
                .market()
                .buy_socket_and_mint(emc_sdk::market::BuySocketArgs {
                    offer_id: offer,
                    units_per_period: units,
                    periods,
                    model_hash: emc_types::Hash(model_hash),
                })
                .await?;
            let token = match p.mint {
                emc_sdk::market::MintStatus::Minted { token_id } => format!("socket {token_id}"),
                emc_sdk::market::MintStatus::Pending => "the socket (mint pending)".into(),
            };
            out(
                purchase_json(&p),
                format!(
                    "bought {token} for {} EMC (purchase {})\n",
                    format_emc(p.price_e8s),
                    p.id
                ),
            )
        }
        SocketCmd::Transfer { id, to } => {
            let to = parse_account(&to)?;
            held_socket(emc, id).await?;
            progress(&format!("transferring socket {id} to {to}"));
            let block = sockets.transfer(id, to).await?;
            out(
                json!({ "id": id, "to": to.to_string(), "block": block }),
                format!("socket {id} now held by {to} (block {block})\n"),
            )
        }
        SocketCmd::Approve {
            id,
            spender,
            duration,
        } => {
            let spender = parse_account(&spender)?;
            held_socket(emc, id).await?;
            let expires_at = match duration {
                None => None,
                Some(d) => {
                    let now = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .context("the system clock is before 1970")?;
                    let at = now.checked_add(d).context("--for is too long")?.as_nanos();
                    Some(u64::try_from(at).context("--for is too long")?)
                }
            };
            let block = sockets.approve(id, spender, expires_at).await?;
            out(
                json!({ "id": id, "spender": spender.to_string(), "expires_at": expires_at, "block": block }),
                format!("{spender} may move socket {id} (block {block})\n"),
            )
        }
        SocketCmd::TransferFrom { id, from, to } => {
            needs_identity(emc)?;
            let (from, to) = (parse_account(&from)?, parse_account(&to)?);
            progress(&format!("moving socket {id} from {from} to {to}"));
            let block = sockets.transfer_from(id, from, to).await?;
            out(
                json!({ "id": id, "from": from.to_string(), "to": to.to_string(), "block": block }),
                format!("socket {id} now held by {to} (block {block})\n"),
            )
        }
        SocketCmd::Reclaim { purchase } => {
            needs_identity(emc)?;
            let t = emc.market().reclaim_socket(purchase).await?;
            out(
                json!({ "purchase": purchase, "transfer": t.id, "amount_e8s": t.amount_e8s, "status": format!("{:?}", t.status) }),
                format!(
                    "socket purchase {purchase}: {} EMC back to your escrow account (transfer {}, {:?})\n",
                    format_emc(t.amount_e8s),
                    t.id,
                    t.status
                ),
            )
        }
        SocketCmd::Bind { id, user_key } => {
            let key = read_user_key(&user_key)?;
            held_socket(emc, id).await?;
            emc.market().bind_socket_key(id, &key).await?;
            let k = node_id_hex(&emc_sdk::NodeId(key.verifying_key().to_bytes()));
            out(
                json!({ "id": id, "user_key": k }),
                format!("user key {k} bound to socket {id}\n"),
            )
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
        assert!(Cli::try_parse_from(["emc", "socket", "show", "x"]).is_err());
        assert!(
            Cli::try_parse_from(["emc", "socket", "buy", "1"]).is_err(),
            "--units"
        );
        let cli = Cli::try_parse_from(["emc", "socket", "buy", "1", "--units", "5"]).unwrap();
        assert!(matches!(
            cli.cmd,
            Cmd::Socket(SocketCmd::Buy {
                offer: 1,
                units: 5,
                periods: 30,
                ..
            })
        ));
        let cli =
            Cli::try_parse_from(["emc", "socket", "approve", "3", "2vxsx-fae", "--for", "2h"])
                .unwrap();
        assert!(matches!(
            cli.cmd,
            Cmd::Socket(SocketCmd::Approve { id: 3, duration: Some(d), .. }) if d.as_secs() == 7200
        ));
        assert!(
            Cli::try_parse_from(["emc", "socket", "approve", "3", "x", "--for", "soon"]).is_err()
        );
        assert!(
            Cli::try_parse_from(["emc", "socket", "transfer-from", "3", "2vxsx-fae"]).is_err(),
            "--from"
        );
        assert!(matches!(
            Cli::try_parse_from(["emc", "socket", "reclaim", "5"])
                .unwrap()
                .cmd,
            Cmd::Socket(SocketCmd::Reclaim { purchase: 5 })
        ));
    }
}

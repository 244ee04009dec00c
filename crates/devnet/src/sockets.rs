//! Computing sockets and compute pools on the devnet (issue #16): the sockets canister (the
//! market is its only minter and names it for socket sales) and one pool of the first two
//! compute nodes, listed in the market as one offer of compute node 0.

use anyhow::{anyhow, Context, Result};
use candid::{Decode, Encode, Principal};
use emc_ic_client::EmbeddedHost;
use emc_market::market::pools::{Pool, PoolOfferArgs};
use emc_market::{MarketError, Offer};
use emc_types::{MeterUnit, NodeId};

/// The app the devnet's pool serves (the compute nodes' app).
pub const POOL_APP: &str = "llm";

/// Creates and installs the sockets canister with the market as its minter, and lets the
/// market sell sockets through it. Returns its id.
pub(crate) async fn install_sockets(
    host: &EmbeddedHost,
    market: Principal,
    admin: Principal,
) -> Result<Principal> {
    let wasm = crate::wasm("sockets")?;
    let arg = Encode!(&emc_sockets::SocketsArg::Init(emc_sockets::InitArgs {
        minters: vec![market],
        governance: admin,
        name: None,
        symbol: None,
        description: None,
        limits: None,
    }))?;
    let set = Encode!(&Option::<Principal>::None)?;
    host.with_ic(move |ic| {
        let id = ic.create_canister(vec![admin]);
        ic.install_code(id, emc_embedded_ic::InstallMode::Install, &wasm, arg, admin)
            .map_err(|e| emc_ic_client::IcError::Host(e.to_string()))?;
        let set = Encode!(&Some(id)).unwrap_or(set);
        ic.update_call(market, admin, "execute_set_sockets", set)
            .map_err(|e| emc_ic_client::IcError::Host(format!("{e:?}")))?;
        Ok(id)
    })
    .await
    .context("installing the sockets canister")
}

/// Lists `members` (registered compute nodes, the first being the entry) as one pool offer of
/// `entry_owner`. Returns the offer id.
pub(crate) async fn list_pool(
    host: &EmbeddedHost,
    market: Principal,
    entry_owner: Principal,
    members: Vec<NodeId>,
) -> Result<u64> {
    let entry = *members
        .first()
        .ok_or_else(|| anyhow!("a pool needs members"))?;
    let arg = Encode!(&PoolOfferArgs {
        entry,
        members,
        app: POOL_APP.into(),
        unit: MeterUnit::Tokens,
        price_e8s: 1_000,
        capacity: 100,
    })?;
    let reply = host
        .with_ic(move |ic| {
            ic.update_call(market, entry_owner, "post_pool_offer", arg)
                .map_err(|e| emc_ic_client::IcError::Host(format!("{e:?}")))
        })
        .await
        .context("listing the devnet's pool")?;
    let r = Decode!(&reply, Result<(Offer, Pool), MarketError>)?;
    let (offer, _) = r.map_err(|e| anyhow!("the market refused the devnet's pool: {e}"))?;
    Ok(offer.id)
}

/// The market's record of pool `offer_id`.
pub async fn pool(
    host: &EmbeddedHost,
    market: Principal,
    caller: Principal,
    offer_id: u64,
) -> Result<Option<Pool>> {
    let arg = Encode!(&offer_id)?;
    let reply = host
        .with_ic(move |ic| {
            ic.query_call(market, caller, "pool", arg)
                .map_err(|e| emc_ic_client::IcError::Host(format!("{e:?}")))
        })
        .await?;
    Ok(Decode!(&reply, Option<Pool>)?)
}

fn host_err(e: impl std::fmt::Debug) -> emc_ic_client::IcError {
    emc_ic_client::IcError::Host(format!("{e:?}"))
}

/// An update call on the devnet's IC as `sender`, decoded.
async fn update<R: candid::CandidType + for<'de> candid::Deserialize<'de>>(
    host: &EmbeddedHost,
    canister: Principal,
    sender: Principal,
    method: &'static str,
    arg: Vec<u8>,
) -> Result<R> {
    let reply = host
        .with_ic(move |ic| {
            ic.update_call(canister, sender, method, arg)
                .map_err(host_err)
        })
        .await
        .with_context(|| format!("calling {method}"))?;
    Ok(Decode!(&reply, R)?)
}

/// `who` deposits `amount` e8s into its market escrow (ICRC-2 approve, then `deposit`).
pub async fn deposit(
    host: &EmbeddedHost,
    c: &crate::Canisters,
    who: Principal,
    amount: u64,
) -> Result<()> {
    use icrc_ledger_types::icrc1::account::Account;
    use icrc_ledger_types::icrc2::approve::{ApproveArgs, ApproveError};
    let approve = ApproveArgs {
        from_subaccount: None,
        spender: Account::from(c.market),
        amount: candid::Nat::from(amount + crate::DEVNET_FEE),
        expected_allowance: None,
        expires_at: None,
        fee: None,
        memo: None,
        created_at_time: None,
    };
    let r: Result<candid::Nat, ApproveError> =
        update(host, c.ledger, who, "icrc2_approve", Encode!(&approve)?).await?;
    r.map_err(|e| anyhow!("approve: {e:?}"))?;
    let r: Result<emc_market::EscrowView, MarketError> =
        update(host, c.market, who, "deposit", Encode!(&amount)?).await?;
    r.map_err(|e| anyhow!("deposit: {e}"))?;
    Ok(())
}

/// `who` buys a socket from `offer_id` (from its escrow), and the market mints it at once.
/// Returns the token id and the socket escrow's principal.
pub async fn buy_socket(
    host: &EmbeddedHost,
    c: &crate::Canisters,
    who: Principal,
    offer_id: u64,
    units_per_period: u64,
    periods: u32,
) -> Result<(u64, Principal)> {
    use emc_market::market::sockets::{BuySocketArgs, MintStatus, SocketPurchase};
    let a = BuySocketArgs {
        offer_id,
        units_per_period,
        periods,
        model_hash: emc_types::Hash([0; 32]),
    };
    let r: Result<SocketPurchase, MarketError> =
        update(host, c.market, who, "buy_socket", Encode!(&a)?).await?;
    let p = r.map_err(|e| anyhow!("buy_socket: {e}"))?;
    let _: u64 = update(host, c.market, c.admin, "run_socket_mints", Encode!()?).await?;
    let arg = Encode!(&p.id)?;
    let market = c.market;
    let reply = host
        .with_ic(move |ic| {
            ic.query_call(market, who, "socket_purchase", arg)
                .map_err(host_err)
        })
        .await?;
    match Decode!(&reply, Option<SocketPurchase>)?.map(|p| p.mint) {
        Some(MintStatus::Minted { token_id }) => Ok((token_id, p.escrow)),
        other => Err(anyhow!("socket not minted: {other:?}")),
    }
}

/// `from` transfers socket `token_id` to `to` (ICRC-7). Returns the block index.
pub async fn transfer_socket(
    host: &EmbeddedHost,
    c: &crate::Canisters,
    from: Principal,
    token_id: u64,
    to: Principal,
) -> Result<u64> {
    let arg = emc_sockets::TransferArg {
        from_subaccount: None,
        to: icrc_ledger_types::icrc1::account::Account::from(to),
        token_id: candid::Nat::from(token_id),
        memo: None,
        created_at_time: None,
    };
    let r: Vec<Option<emc_sockets::TransferResult>> = update(
        host,
        c.sockets,
        from,
        "icrc7_transfer",
        Encode!(&vec![arg])?,
    )
    .await?;
    match r.into_iter().next().flatten() {
        Some(Ok(i)) => Ok(emc_sockets::sockets::nat_u64(&i).unwrap_or(0)),
        other => Err(anyhow!("icrc7_transfer: {other:?}")),
    }
}

/// The socket's holder `who` binds `key` to the socket's escrow `escrow`.
pub async fn bind_socket_key(
    host: &EmbeddedHost,
    c: &crate::Canisters,
    who: Principal,
    token_id: u64,
    escrow: Principal,
    key: &ed25519_dalek::SigningKey,
) -> Result<std::result::Result<(), MarketError>> {
    use ed25519_dalek::Signer as _;
    let a = emc_market::BindKeyArgs {
        key: NodeId(key.verifying_key().to_bytes()),
        signature: emc_types::Signature(
            key.sign(&emc_market::market::bind_message(&escrow))
                .to_bytes(),
        ),
    };
    update(
        host,
        c.market,
        who,
        "bind_socket_key",
        Encode!(&token_id, &a)?,
    )
    .await
}

/// `emc-devnet --socket-demo`: validator 0's operator buys a socket from the devnet's pool,
/// calls through it with devnet user key 0, transfers it to validator 1's operator, who calls
/// with devnet user key 1; then the old holder's key calls again. Returns what happened, one
/// line per step.
pub async fn demo(cluster: &crate::Cluster) -> Result<Vec<String>> {
    let c = &cluster.canisters;
    let pool = cluster
        .pool_offer
        .ok_or_else(|| anyhow!("the socket demo needs two compute nodes (a pool)"))?;
    let api = cluster
        .api_addr(0)
        .ok_or_else(|| anyhow!("the socket demo needs router 0's API"))?;
    let (alice, bob) = (cluster.members[0].owner, cluster.members[1].owner);
    let mut out = Vec::new();
    deposit(&cluster.host, c, alice, 100 * crate::E8S).await?;
    let (token, escrow) = buy_socket(&cluster.host, c, alice, pool, 1_000, 7).await?;
    out.push(format!(
        "socket {token} bought by {alice} from pool offer {pool} (7 days, 1,000 tokens a day)"
    ));
    let body =
        br#"{"model":"emc-bigram","max_tokens":4,"messages":[{"role":"user","content":"hi"}]}"#;
    let call = |key: ed25519_dalek::SigningKey, who: &'static str| async move {
        let r = emc_router::client::Client::new(api, key)
            .call_through_socket("POST", "/v1/chat/completions", body, token)
            .await
            .map_err(|e| anyhow!("{e}"))?;
        let text = r.text();
        Ok::<String, anyhow::Error>(format!(
            "{who}'s call through socket {token}: HTTP {} {}",
            r.status,
            text.chars().take(100).collect::<String>()
        ))
    };
    // Keys without escrows of their own (the devnet funds users 0 and 1): the socket's escrow
    // pays for their calls.
    let k0 = crate::devnet_user_key(20);
    bind_socket_key(&cluster.host, c, alice, token, escrow, &k0)
        .await?
        .map_err(|e| anyhow!("binding the buyer's key: {e}"))?;
    out.push(call(k0.clone(), "the holder").await?);
    let block = transfer_socket(&cluster.host, c, alice, token, bob).await?;
    out.push(format!(
        "socket {token} transferred to {bob} (block {block})"
    ));
    let k1 = crate::devnet_user_key(21);
    bind_socket_key(&cluster.host, c, bob, token, escrow, &k1)
        .await?
        .map_err(|e| anyhow!("binding the new holder's key: {e}"))?;
    out.push(call(k1, "the new holder").await?);
    out.push(call(k0, "the old holder").await?);
    Ok(out)
}

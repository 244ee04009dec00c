//! Deploying EMC's canisters to a local replica (`emc-replica`, or any replica that serves
//! `provisional_create_canister_with_cycles` with `specified_id`) without dfx: what
//! `scripts/dfx-deploy.sh` does, with the project's own tools (`emc deploy`,
//! `scripts/replica-deploy.sh`, and the devnet's multi-process mode).
//!
//! Every canister gets the id it has on the devnet (and the SDK's defaults,
//! [`crate::CanisterIds::local_devnet`]): the ledger, the registry, the epochs canister, the
//! market, the sockets canister and the DAO canister are the first six canisters of a fresh
//! replica, created in that order, so each is created here with that `specified_id`. They are
//! wired as the devnet and `dfx-deploy.sh` wire them: the epochs canister is the ledger's
//! minting account and the registry's penalty reporter, mints trading rewards for the market
//! (`execute_set_market`) and grants for the DAO (`execute_set_dao`); the market is the only
//! minter of sockets (`execute_set_sockets`); the deployer is governance and treasury.

use crate::{CanisterIds, SdkError};
use candid::{CandidType, Decode, Encode, Principal};
use emc_ic_client::{AgentClient, IcClient, IcError};
use icrc_ledger_types::icrc1::account::Account;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// The canisters in creation order (the index is the local canister number).
pub const CANISTERS: [&str; 6] = ["ledger", "registry", "epochs", "market", "sockets", "dao"];

/// The deployer's genesis balance when no balances are given: 1,000,000 EMC, as
/// `dfx-deploy.sh` gives its identity.
pub const DEFAULT_DEPLOYER_BALANCE: u64 = 1_000_000 * 100_000_000;

/// The ids of a deployment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Deployed {
    /// The $EMC ledger.
    pub ledger: Principal,
    /// The node registry.
    pub registry: Principal,
    /// The epochs canister.
    pub epochs: Principal,
    /// The compute market.
    pub market: Principal,
    /// The computing sockets.
    pub sockets: Principal,
    /// Developer grants and the airdrop.
    pub dao: Principal,
}

impl Deployed {
    /// The ids every deployment to a fresh local replica gets (the devnet's).
    pub fn local() -> Self {
        let id = |i: u64| {
            let mut bytes = [0u8; 10];
            bytes[..8].copy_from_slice(&i.to_be_bytes());
            bytes[8] = 1;
            bytes[9] = 1;
            Principal::from_slice(&bytes)
        };
        Deployed {
            ledger: id(0),
            registry: id(1),
            epochs: id(2),
            market: id(3),
            sockets: id(4),
            dao: id(5),
        }
    }

    /// The ids as the SDK's [`CanisterIds`].
    pub fn canister_ids(&self) -> CanisterIds {
        CanisterIds {
            ledger: self.ledger,
            registry: self.registry,
            epochs: self.epochs,
            market: self.market,
            sockets: Some(self.sockets),
        }
    }

    fn by_name(&self, name: &str) -> Option<Principal> {
        Some(match name {
            "ledger" => self.ledger,
            "registry" => self.registry,
            "epochs" => self.epochs,
            "market" => self.market,
            "sockets" => self.sockets,
            "dao" => self.dao,
            _ => return None,
        })
    }
}

/// What to deploy with (the defaults are `dfx-deploy.sh`'s: protocol parameters, a 10,000 e8s
/// fee, the deployer holding 1,000,000 EMC).
#[derive(Clone, Debug)]
pub struct DeployConfig {
    /// Where `<name>.wasm.gz` (or `<name>.wasm`) are: `scripts/build-canisters.sh` writes
    /// `target/canisters`.
    pub wasm_dir: PathBuf,
    /// Genesis balances (empty: the deployer gets [`DEFAULT_DEPLOYER_BALANCE`]).
    pub initial_balances: Vec<(Account, u64)>,
    /// The treasury (fees, confiscations; default: the deployer).
    pub treasury: Option<Account>,
    /// The ledger's transfer fee, e8s.
    pub fee_e8s: u64,
    /// Start of epoch 0 (UNIX ns); none: the registry's default.
    pub genesis_time_ns: Option<u64>,
    /// Registry parameters (none: the protocol's).
    pub registry_params: Option<emc_registry::Params>,
    /// Epochs canister parameters (none: the protocol's).
    pub epochs_params: Option<emc_epochs::Params>,
}

impl DeployConfig {
    /// The defaults with the wasm from `wasm_dir`.
    pub fn new(wasm_dir: impl Into<PathBuf>) -> Self {
        DeployConfig {
            wasm_dir: wasm_dir.into(),
            initial_balances: Vec::new(),
            treasury: None,
            fee_e8s: 10_000,
            genesis_time_ns: None,
            registry_params: None,
            epochs_params: None,
        }
    }
}

/// Reads `<dir>/<name>.wasm.gz` (what dfx installs), else `<dir>/<name>.wasm`.
pub fn read_wasm(dir: &Path, name: &str) -> Result<Vec<u8>, SdkError> {
    let gz = dir.join(format!("{name}.wasm.gz"));
    let plain = dir.join(format!("{name}.wasm"));
    std::fs::read(&gz)
        .or_else(|_| std::fs::read(&plain))
        .map_err(|e| {
            SdkError::Config(format!(
                "{}: {e} (build the canisters with scripts/build-canisters.sh, or pass the folder \
             that holds them)",
                gz.display()
            ))
        })
}

fn encode<T: CandidType>(what: &str, value: &T) -> Result<Vec<u8>, SdkError> {
    Encode!(value).map_err(|e| SdkError::Ic(IcError::Encode(format!("{what}: {e}"))))
}

#[derive(CandidType)]
struct CreateArgs {
    amount: Option<candid::Nat>,
    settings: Option<Settings>,
    specified_id: Option<Principal>,
}

#[derive(CandidType)]
struct Settings {
    controllers: Option<Vec<Principal>>,
}

#[derive(CandidType, candid::Deserialize)]
struct CanisterIdRecord {
    canister_id: Principal,
}

#[derive(CandidType, candid::Deserialize)]
enum Mode {
    #[serde(rename = "install")]
    Install,
}

#[derive(CandidType)]
struct InstallArgs {
    mode: Mode,
    canister_id: Principal,
    wasm_module: serde_bytes::ByteBuf,
    arg: serde_bytes::ByteBuf,
}

/// The init arguments of every canister, in [`CANISTERS`] order.
pub fn init_args(
    ids: &Deployed,
    deployer: Principal,
    cfg: &DeployConfig,
) -> Result<Vec<Vec<u8>>, SdkError> {
    let treasury = cfg.treasury.unwrap_or(Account::from(deployer));
    let balances = if cfg.initial_balances.is_empty() {
        vec![(Account::from(deployer), DEFAULT_DEPLOYER_BALANCE)]
    } else {
        cfg.initial_balances.clone()
    };
    let ledger = emc_ledger::LedgerArg::Init(emc_ledger::InitArgs {
        fee_collector_account: Some(treasury),
        ..emc_ledger::InitArgs::emc(Account::from(ids.epochs), deployer, cfg.fee_e8s, balances)
    });
    let registry = emc_registry::RegistryArg::Init(emc_registry::InitArgs {
        ledger: ids.ledger,
        governance: deployer,
        treasury,
        epochs_canister: Some(ids.epochs),
        ledger_fee_e8s: Some(cfg.fee_e8s),
        params: cfg.registry_params.clone(),
        genesis_time: cfg.genesis_time_ns,
    });
    let epochs = emc_epochs::EpochsArg::Init(emc_epochs::InitArgs {
        ledger: ids.ledger,
        registry: ids.registry,
        governance: deployer,
        params: cfg.epochs_params.clone(),
    });
    let market = emc_market::MarketArg::Init(emc_market::InitArgs {
        ledger: ids.ledger,
        epochs: ids.epochs,
        registry: ids.registry,
        governance: deployer,
        treasury,
        market_open_epoch: 0,
        params: Some(emc_market::Params {
            ledger_fee_e8s: cfg.fee_e8s,
            ..emc_market::Params::default()
        }),
    });
    let sockets = emc_sockets::SocketsArg::Init(emc_sockets::InitArgs {
        minters: vec![ids.market],
        governance: deployer,
        name: None,
        symbol: None,
        description: None,
        limits: None,
    });
    let dao = emc_dao::InitArgs {
        governance: deployer,
        epochs: ids.epochs,
    };
    Ok(vec![
        encode("ledger init", &ledger)?,
        encode("registry init", &registry)?,
        encode("epochs init", &epochs)?,
        encode("market init", &market)?,
        encode("sockets init", &sockets)?,
        encode("dao init", &dao)?,
    ])
}

/// Creates, installs and wires every canister on the replica `client` talks to, as
/// `client`'s identity (which becomes controller, governance and, by default, treasury).
/// `progress` hears one line per step. Refuses, changing nothing, when any of the ids is taken
/// already (a replica deployed before: start it with a fresh `--state-dir`).
pub async fn deploy(
    client: &AgentClient,
    cfg: &DeployConfig,
    progress: impl Fn(&str),
) -> Result<Deployed, SdkError> {
    let deployer = client.principal();
    if deployer == Principal::anonymous() {
        return Err(SdkError::Config(
            "deploying needs an identity (it becomes the canisters' controller and governance)"
                .into(),
        ));
    }
    let ids = Deployed::local();
    // Everything is read and encoded before the first call.
    let wasms = CANISTERS
        .iter()
        .map(|name| read_wasm(&cfg.wasm_dir, name))
        .collect::<Result<Vec<_>, _>>()?;
    let args = init_args(&ids, deployer, cfg)?;
    client.fetch_root_key().await?;
    let mgmt = Principal::management_canister();
    for name in CANISTERS {
        let id = ids
            .by_name(name)
            .ok_or_else(|| SdkError::Input(name.into()))?;
        // A query to an existing canister answers (or rejects as "no such method"); an unknown
        // one is rejected as not found: the only case in which this deployment may go on.
        absent(client, id).await?;
    }
    for (i, name) in CANISTERS.iter().enumerate() {
        let id = ids
            .by_name(name)
            .ok_or_else(|| SdkError::Input((*name).into()))?;
        let create = CreateArgs {
            amount: None,
            settings: Some(Settings {
                controllers: Some(vec![deployer]),
            }),
            specified_id: Some(id),
        };
        let reply = client
            .update_with_effective_id(
                mgmt,
                id,
                "provisional_create_canister_with_cycles",
                encode("create", &create)?,
            )
            .await
            .map_err(|e| with_context(e, &format!("creating {name} ({id})")))?;
        let created = Decode!(&reply, CanisterIdRecord)
            .map_err(|e| SdkError::Ic(IcError::Decode(e.to_string())))?
            .canister_id;
        if created != id {
            return Err(SdkError::Config(format!(
                "the replica created {name} as {created}, not {id}: it ignores specified_id"
            )));
        }
        let install = InstallArgs {
            mode: Mode::Install,
            canister_id: id,
            wasm_module: serde_bytes::ByteBuf::from(wasms[i].clone()),
            arg: serde_bytes::ByteBuf::from(args[i].clone()),
        };
        client
            .update_with_effective_id(mgmt, id, "install_code", encode("install", &install)?)
            .await
            .map_err(|e| with_context(e, &format!("installing {name} ({id})")))?;
        progress(&format!("{name} {id} installed"));
    }
    // Governance (the deployer) wires the market's and the DAO's minting and socket sales.
    for (canister, method, arg) in [
        (ids.epochs, "execute_set_market", Some(ids.market)),
        (ids.epochs, "execute_set_dao", Some(ids.dao)),
        (ids.market, "execute_set_sockets", Some(ids.sockets)),
    ] {
        client
            .update(canister, method, encode(method, &arg)?)
            .await
            .map_err(|e| with_context(e, method))?;
        progress(&format!("{method}: done"));
    }
    Ok(ids)
}

/// Refuses when canister `id` exists. (Through the agent itself: the client would log the
/// expected "not found" as a warning.)
async fn absent(client: &AgentClient, id: Principal) -> Result<(), SdkError> {
    use ic_agent::AgentError;
    let reply = client
        .agent()
        .query(&id, "icrc1_symbol")
        .with_arg(encode("()", &())?)
        .call()
        .await;
    match reply {
        Err(AgentError::CertifiedReject { reject, .. })
        | Err(AgentError::UncertifiedReject { reject, .. })
            if reject.error_code.as_deref() == Some("IC0301")
                || reject
                    .reject_message
                    .contains(&format!("Canister {id} not found")) =>
        {
            Ok(())
        }
        Err(AgentError::CertifiedReject { .. })
        | Err(AgentError::UncertifiedReject { .. })
        | Ok(_) => Err(SdkError::Config(format!(
            "canister {id} exists already: this replica was deployed to before (start it \
             with a fresh --state-dir)"
        ))),
        Err(e) => Err(SdkError::Ic(IcError::Transport(format!(
            "{} did not answer: {e}",
            client.url()
        )))),
    }
}

fn with_context(e: IcError, what: &str) -> SdkError {
    match e {
        IcError::Reject { code, message } => SdkError::Ic(IcError::Reject {
            code,
            message: format!("{what}: {message}"),
        }),
        other => SdkError::Ic(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_deployment_ids_are_the_devnet_ones() {
        let d = Deployed::local();
        assert_eq!(d.canister_ids(), CanisterIds::local_devnet());
        assert_eq!(d.dao.to_text(), "rno2w-sqaaa-aaaaa-aaacq-cai");
        for name in CANISTERS {
            assert!(d.by_name(name).is_some(), "{name}");
        }
    }

    #[test]
    fn init_args_decode_as_the_canisters_expect() {
        let d = Deployed::local();
        let me = Principal::from_slice(&[7; 29]);
        let args = init_args(&d, me, &DeployConfig::new("/nowhere")).unwrap();
        let ledger = Decode!(&args[0], emc_ledger::LedgerArg).unwrap();
        let emc_ledger::LedgerArg::Init(l) = ledger else {
            panic!("not an init")
        };
        assert_eq!(l.minting_account, Account::from(d.epochs));
        assert_eq!(l.initial_balances.len(), 1);
        assert_eq!(l.initial_balances[0].0, Account::from(me));
        let emc_sockets::SocketsArg::Init(s) = Decode!(&args[4], emc_sockets::SocketsArg).unwrap()
        else {
            panic!("not an init")
        };
        assert_eq!(s.minters, vec![d.market]);
        let dao = Decode!(&args[5], emc_dao::InitArgs).unwrap();
        assert_eq!(dao.epochs, d.epochs);
    }

    #[test]
    fn a_missing_wasm_is_a_clear_error() {
        let e = read_wasm(Path::new("/nonexistent-emc"), "ledger").unwrap_err();
        assert!(e.to_string().contains("scripts/build-canisters.sh"), "{e}");
    }
}

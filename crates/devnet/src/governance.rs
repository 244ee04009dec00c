//! The devnet's DAO (issue #17): the stand-in SNS governance (`canisters/test-sns-governance`)
//! and the DAO canister (developer grants, airdrop), installed after the other canisters and
//! handed governance the way a mainnet DAO takes it (`scripts/sns-handover.sh`): the setup
//! principal registers every generic function by proposal, then sets every canister's
//! governance to the stand-in. From then on parameters change only through proposals.
//!
//! Neurons: the setup principal's neuron 1 holds a majority of the stake (a proposal it makes
//! is adopted at once, so a local developer can try a proposal in one call), and each node
//! operator has a neuron of equal, smaller stake (they vote, and can propose).

use anyhow::{anyhow, Context, Result};
use candid::{CandidType, Decode, Encode, Principal};
use emc_embedded_ic::InstallMode;
use emc_ic_client::{EmbeddedHost, IcError};
use emc_test_sns_governance::emc::{emc_functions, EmcCanisters};
use emc_test_sns_governance::{
    Action, ExecuteGenericNervousSystemFunction, GovernanceError, Neuron, Proposal, ProposalInput,
};

/// The setup principal's neuron.
pub const DEVNET_NEURON: u64 = 1;
/// Its stake (the majority).
const MAJORITY_STAKE: u64 = 1_000_000_000_000_000;
/// Each operator's neuron stake.
const OPERATOR_STAKE: u64 = 10_000_000_000_000;

/// The devnet DAO's canisters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DevnetDao {
    /// The stand-in SNS governance: every EMC canister's governance.
    pub governance: Principal,
    /// Grants and the airdrop.
    pub dao: Principal,
}

async fn call(
    host: &EmbeddedHost,
    canister: Principal,
    caller: Principal,
    method: &'static str,
    arg: Vec<u8>,
) -> Result<Vec<u8>> {
    host.with_ic(move |ic| {
        ic.update_call(canister, caller, method, arg)
            .map_err(|e| IcError::Host(format!("{method}: {e:?}")))
    })
    .await
    .map_err(|e| anyhow!("{e}"))
}

/// Installs the DAO canister and the stand-in governance (controlled by `admin`), lets the
/// DAO mint through the epochs canister, registers EMC's generic functions by proposal and
/// hands every canister's governance to the stand-in. `admin` must be the canisters'
/// governance until then.
pub async fn install(
    host: &EmbeddedHost,
    admin: Principal,
    registry: Principal,
    epochs: Principal,
    market: Principal,
    operators: &[Principal],
) -> Result<DevnetDao> {
    let (dao, governance) = host
        .with_ic(move |ic| {
            Ok((
                ic.create_canister(vec![admin]),
                ic.create_canister(vec![admin]),
            ))
        })
        .await?;
    let neurons: Vec<Neuron> = std::iter::once(Neuron {
        id: DEVNET_NEURON,
        controller: admin,
        stake_e8s: MAJORITY_STAKE,
    })
    .chain(operators.iter().enumerate().map(|(i, p)| Neuron {
        id: DEVNET_NEURON + 1 + i as u64,
        controller: *p,
        stake_e8s: OPERATOR_STAKE,
    }))
    .collect();
    let installs = [
        (
            dao,
            crate::wasm("dao")?,
            Encode!(&emc_dao::InitArgs {
                governance: admin,
                epochs
            })?,
        ),
        (
            governance,
            crate::wasm("test-sns-governance")?,
            Encode!(&emc_test_sns_governance::InitArgs {
                neurons,
                voting_period_seconds: Some(24 * 3600),
            })?,
        ),
    ];
    for (id, wasm, arg) in installs {
        host.with_ic(move |ic| {
            ic.install_code(id, InstallMode::Install, &wasm, arg, admin)
                .map_err(|e| IcError::Host(e.to_string()))
        })
        .await
        .with_context(|| format!("installing {id}"))?;
    }
    call(host, epochs, admin, "execute_set_dao", Encode!(&Some(dao))?)
        .await
        .context("letting the DAO canister mint")?;
    let d = DevnetDao { governance, dao };
    for f in emc_functions(&EmcCanisters {
        registry,
        epochs,
        market,
        dao,
    }) {
        let id = f.id;
        let p = propose(
            host,
            &d,
            admin,
            &format!("Register generic function {id}"),
            Action::AddGenericNervousSystemFunction(f),
        )
        .await?;
        anyhow::ensure!(
            matches!(p.status, emc_test_sns_governance::ProposalStatus::Executed),
            "registering function {id}: {:?}",
            p.status
        );
    }
    for c in [registry, epochs, market, dao] {
        call(
            host,
            c,
            admin,
            "execute_set_governance",
            Encode!(&governance)?,
        )
        .await
        .with_context(|| format!("handing {c}'s governance to the DAO"))?;
    }
    Ok(d)
}

/// Submits a proposal with the setup principal's majority neuron (adopted at once) and
/// returns it as stored after its execution.
pub async fn propose(
    host: &EmbeddedHost,
    dao: &DevnetDao,
    admin: Principal,
    title: &str,
    action: Action,
) -> Result<Proposal> {
    let input = ProposalInput {
        title: title.into(),
        summary: format!("{title} (devnet)"),
        action,
    };
    let out = call(
        host,
        dao.governance,
        admin,
        "make_proposal",
        Encode!(&DEVNET_NEURON, &input)?,
    )
    .await?;
    let id = Decode!(&out, Result<u64, GovernanceError>)?.map_err(|e| anyhow!("{e}"))?;
    let gov = dao.governance;
    let bytes = host
        .with_ic(move |ic| {
            ic.query_call(gov, admin, "get_proposal", Encode!(&id).unwrap_or_default())
                .map_err(|e| IcError::Host(format!("{e:?}")))
        })
        .await?;
    Decode!(&bytes, Option<Proposal>)?.ok_or_else(|| anyhow!("proposal {id} is gone"))
}

/// A generic-function proposal: `function` with `payload` (any candid argument).
pub fn execute<T: CandidType>(function: u64, payload: &T) -> Result<Action> {
    Ok(Action::ExecuteGenericNervousSystemFunction(
        ExecuteGenericNervousSystemFunction {
            function_id: function,
            payload: serde_bytes::ByteBuf::from(Encode!(payload)?),
        },
    ))
}

//! `node doctor`: is a node registered, staked, reachable from a router, seen online in recent
//! epochs, PoC passed, and if not, why and what to do. [`diagnose`] is pure (facts in, checks
//! out); [`gather`] reads the facts from the canisters.

use crate::{node_id_hex, Emc, SdkError};
use emc_epochs::{Payout, PayoutStatus};
use emc_registry::{Node, NodeState, Role, StakeInfo};
use emc_types::NodeId;
use serde::Serialize;
use serde_json::Value;

/// A check's outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Fine.
    Pass,
    /// Works, but worth a look.
    Warn,
    /// The operator must act.
    Fail,
    /// Could not be checked (not applicable, no data yet, not asked for).
    Skip,
}

/// One line of the diagnosis.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Check {
    /// What is checked (`registered`, `active`, `staked`, `router`, `online`, `poc`).
    pub name: &'static str,
    /// The outcome.
    pub status: Status,
    /// What was found.
    pub detail: String,
    /// What to do, when something is wrong.
    pub fix: Option<String>,
}

/// What a router said about the node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RouterProbe {
    /// The router answered; whether it routes to one of the node's apps (compute nodes: one
    /// of the node's offered apps is among the router's models).
    Answered {
        /// The router's URL.
        router: String,
        /// The apps of the node's offers it lists.
        listed_apps: Vec<String>,
        /// The node's offered apps.
        offered_apps: Vec<String>,
    },
    /// The router could not be reached.
    Unreachable {
        /// The router's URL.
        router: String,
        /// Why.
        error: String,
    },
}

/// Everything the diagnosis needs.
#[derive(Clone, Debug, Default)]
pub struct NodeFacts {
    /// The node as registered.
    pub node: Option<Node>,
    /// Its stake.
    pub stake: Option<StakeInfo>,
    /// The registry's minimum stake for its role (`None` for compute: staking is optional).
    pub min_stake_e8s: Option<u64>,
    /// The last epoch the epochs canister closed.
    pub last_closed_epoch: Option<u64>,
    /// The node's payout in that epoch.
    pub last_payout: Option<Payout>,
    /// The router check (`None`: not asked for).
    pub router: Option<RouterProbe>,
}

fn check(name: &'static str, status: Status, detail: String, fix: Option<&str>) -> Check {
    Check {
        name,
        status,
        detail,
        fix: fix.map(str::to_string),
    }
}

/// The checks, in order; only `registered` when the node is unknown.
pub fn diagnose(id: &NodeId, f: &NodeFacts) -> Vec<Check> {
    use Status::*;
    let Some(node) = &f.node else {
        return vec![check(
            "registered",
            Fail,
            format!("node {} is not in the registry", node_id_hex(id)),
            Some(
                "register it: start the node with its owner's identity (it registers itself), \
                 or check the node id (64 hex digits, the node's ed25519 public key)",
            ),
        )];
    };
    let mut out = vec![check(
        "registered",
        Pass,
        format!(
            "{:?} node owned by {}, address {}",
            node.role,
            node.owner.to_text(),
            node.network_address
        ),
        None,
    )];

    out.push(match node.state {
        NodeState::Retired { at } => check(
            "active",
            Fail,
            format!("retired at {at} ns"),
            Some("a retired node cannot come back: register a new node key"),
        ),
        NodeState::Impeached { at, case_id } => check(
            "active",
            Fail,
            format!("impeached at {at} ns (case {case_id}; its stake was confiscated)"),
            Some("an impeached node cannot come back: register a new node key"),
        ),
        NodeState::Live if node.suspended => check(
            "active",
            Fail,
            format!(
                "suspended: {} EMC of penalties due",
                crate::amount::format_emc(node.penalty_due_e8s)
            ),
            Some("top up the stake so the penalty can be paid (`stake` again); the node is listed again once it is covered"),
        ),
        NodeState::Live => check("active", Pass, "live".into(), None),
    });

    let stake = f.stake.as_ref().map_or(node.stake_e8s, |s| s.stake_e8s);
    let term = f
        .stake
        .as_ref()
        .and_then(|s| s.term.clone())
        .or(node.term.clone());
    out.push(match (node.role, f.min_stake_e8s) {
        (_, _) if term.as_ref().is_some_and(|t| t.expired) => check(
            "staked",
            Fail,
            format!(
                "{} EMC staked, but the term has expired",
                crate::amount::format_emc(stake)
            ),
            Some("renew the stake for a new term (`renew_stake`), or retire the node"),
        ),
        (Role::Compute, _) if stake == 0 => check(
            "staked",
            Warn,
            "not staked (optional for compute nodes: E counts at x1)".into(),
            Some("stake for a term to multiply the node's E (and its rewards)"),
        ),
        (_, Some(min)) if stake < min => check(
            "staked",
            Fail,
            format!(
                "{} EMC staked, the {:?} minimum is {} EMC",
                crate::amount::format_emc(stake),
                node.role,
                crate::amount::format_emc(min)
            ),
            Some("approve the registry and stake at least the minimum for the role"),
        ),
        _ => check(
            "staked",
            Pass,
            format!(
                "{} EMC staked{}",
                crate::amount::format_emc(stake),
                term.map(|t| format!(", {}-day term", t.term_days))
                    .unwrap_or_default()
            ),
            None,
        ),
    });

    out.push(match &f.router {
        None => check(
            "router",
            Skip,
            "no router given".into(),
            Some("pass --router <url> to check what a router serves"),
        ),
        Some(RouterProbe::Unreachable { router, error }) => check(
            "router",
            Fail,
            format!("router {router} did not answer: {error}"),
            Some("check the router URL, or try another router"),
        ),
        Some(RouterProbe::Answered {
            router,
            listed_apps,
            offered_apps,
        }) => {
            if node.role != Role::Compute {
                check("router", Pass, format!("router {router} answers"), None)
            } else if offered_apps.is_empty() {
                check(
                    "router",
                    Warn,
                    format!("router {router} answers; the node has no market offer"),
                    Some("post an offer for the node's app so routers send it calls"),
                )
            } else if listed_apps.is_empty() {
                check(
                    "router",
                    Fail,
                    format!(
                        "router {router} lists none of the node's apps ({})",
                        offered_apps.join(", ")
                    ),
                    Some(
                        "the router has not reached the node: check that it runs, that its \
                         registered address accepts QUIC (UDP) from routers, and its app is up",
                    ),
                )
            } else {
                check(
                    "router",
                    Pass,
                    format!("router {router} serves {}", listed_apps.join(", ")),
                    None,
                )
            }
        }
    });

    out.push(match (f.last_closed_epoch, &f.last_payout) {
        (None, _) => check(
            "online",
            Skip,
            "no epoch has closed yet".into(),
            None,
        ),
        (Some(e), Some(p)) if p.amount_e8s > 0 => {
            let stuck = p.status == PayoutStatus::Stuck;
            check(
                "online",
                if stuck { Warn } else { Pass },
                format!(
                    "rewarded {} EMC in epoch {e} ({:?})",
                    crate::amount::format_emc(p.amount_e8s),
                    p.status
                ),
                stuck.then_some("the payout's ledger transfer is stuck: governance settles it"),
            )
        }
        (Some(e), _) => check(
            "online",
            Fail,
            format!("no reward in epoch {e}: the validators did not see it online long enough (or it joined after the epoch's snapshot)"),
            Some(&format!(
                "check that the node runs and that {} is reachable from the validators; \
                 a node registered during epoch {e} counts from the next epoch",
                node.network_address
            )),
        ),
    });

    if node.role == Role::Compute {
        out.push(if node.poc_e > 0 {
            check("poc", Pass, format!("PoC E = {}", node.poc_e), None)
        } else {
            check(
                "poc",
                Fail,
                "no passed proof of computing on record (E = 0)".into(),
                Some(
                    "keep the node online during PoC challenges and check its prover (GPU \
                     driver, `--prover`); E reaches the registry when an epoch closes",
                ),
            )
        });
    }
    out
}

/// Whether any check failed.
pub fn any_failed(checks: &[Check]) -> bool {
    checks.iter().any(|c| c.status == Status::Fail)
}

/// Reads the facts about `id` from the canisters (the router probe is the caller's).
pub async fn gather(emc: &Emc, id: NodeId) -> Result<NodeFacts, SdkError> {
    let registry = emc.registry();
    let Some(node) = registry.node(id).await? else {
        return Ok(NodeFacts::default());
    };
    let stake = registry.stake_info(id).await?;
    let params = registry.config().await?.params;
    let min_stake_e8s = match node.role {
        Role::Validator => Some(params.validator.min_stake_e8s),
        Role::Router => Some(params.router.min_stake_e8s),
        Role::Compute => None,
    };
    let epochs = emc.epochs();
    let last_closed_epoch = epochs.stats().await?.last_closed_epoch;
    let last_payout = match last_closed_epoch {
        Some(e) => epochs.node_reward(id, e).await?,
        None => None,
    };
    Ok(NodeFacts {
        node: Some(node),
        stake,
        min_stake_e8s,
        last_closed_epoch,
        last_payout,
        router: None,
    })
}

/// Asks a router which models it serves (`GET /v1/models`, the OpenAI-compatible list) and
/// which of `offered` apps it lists.
pub async fn probe_router(router: &str, offered: Vec<String>) -> RouterProbe {
    let url = format!("{}/v1/models", router.trim_end_matches('/'));
    let r = async {
        let client = crate::compute::http_client()?;
        let resp = client.get(&url).send().await.map_err(|e| e.to_string())?;
        if !resp.status().is_success() {
            return Err(format!("HTTP {}", resp.status()));
        }
        let text = resp.text().await.map_err(|e| e.to_string())?;
        serde_json::from_str::<Value>(&text).map_err(|e| format!("not a model list: {e}"))
    }
    .await;
    match r {
        Err(error) => RouterProbe::Unreachable {
            router: router.to_string(),
            error,
        },
        Ok(body) => {
            let apps: Vec<String> = body["data"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|m| m["emc"]["app"].as_str().or(m["owned_by"].as_str()))
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default();
            RouterProbe::Answered {
                router: router.to_string(),
                listed_apps: offered
                    .iter()
                    .filter(|a| apps.contains(a))
                    .cloned()
                    .collect(),
                offered_apps: offered,
            }
        }
    }
}

/// The apps of the market offers for `node` (compute nodes; empty for the other roles).
pub async fn offered_apps(emc: &Emc, node: &Node) -> Result<Vec<String>, SdkError> {
    if node.role != Role::Compute {
        return Ok(Vec::new());
    }
    Ok(emc
        .market()
        .offers_of(node.owner)
        .await?
        .into_iter()
        .filter(|o| o.node == node.id)
        .map(|o| o.app)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use candid::Principal;

    fn node(role: Role) -> Node {
        Node {
            id: NodeId([1; 32]),
            role,
            owner: Principal::anonymous(),
            network_address: "10.0.0.1:4000".into(),
            region: "eu".into(),
            hardware: String::new(),
            registered_at: 0,
            state: NodeState::Live,
            suspended: false,
            term: None,
            stake_e8s: 0,
            penalty_due_e8s: 0,
            pending_movement: None,
            poc_e: 0,
        }
    }

    fn status(checks: &[Check], name: &str) -> Status {
        checks.iter().find(|c| c.name == name).unwrap().status
    }

    #[test]
    fn unknown_node_is_one_failure() {
        let c = diagnose(&NodeId([9; 32]), &NodeFacts::default());
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].status, Status::Fail);
        assert!(c[0].detail.contains(&"09".repeat(32)));
        assert!(any_failed(&c));
    }

    #[test]
    fn under_staked_validator_and_healthy_one() {
        let mut f = NodeFacts {
            node: Some(node(Role::Validator)),
            min_stake_e8s: Some(100),
            ..NodeFacts::default()
        };
        let c = diagnose(&NodeId([1; 32]), &f);
        assert_eq!(status(&c, "staked"), Status::Fail);
        assert_eq!(status(&c, "online"), Status::Skip);
        assert_eq!(status(&c, "router"), Status::Skip);
        assert!(
            c.iter().all(|c| c.name != "poc"),
            "PoC is for compute nodes"
        );
        f.node.as_mut().unwrap().stake_e8s = 100;
        f.last_closed_epoch = Some(3);
        f.last_payout = Some(Payout {
            epoch: 3,
            node: NodeId([1; 32]),
            owner: Principal::anonymous(),
            amount_e8s: 5,
            created_at_time: 0,
            attempts: 1,
            status: PayoutStatus::Paid { block: 7 },
        });
        let c = diagnose(&NodeId([1; 32]), &f);
        assert!(!any_failed(&c), "{c:?}");
        assert_eq!(status(&c, "online"), Status::Pass);
    }

    #[test]
    fn compute_node_failures_say_why() {
        let mut n = node(Role::Compute);
        n.suspended = true;
        n.penalty_due_e8s = 150_000_000;
        let f = NodeFacts {
            node: Some(n),
            last_closed_epoch: Some(2),
            router: Some(RouterProbe::Answered {
                router: "http://r".into(),
                listed_apps: vec![],
                offered_apps: vec!["llama".into()],
            }),
            ..NodeFacts::default()
        };
        let c = diagnose(&NodeId([1; 32]), &f);
        assert_eq!(status(&c, "active"), Status::Fail);
        assert!(c[1].detail.contains("1.5 EMC"));
        assert_eq!(status(&c, "staked"), Status::Warn);
        assert_eq!(status(&c, "router"), Status::Fail);
        assert_eq!(status(&c, "online"), Status::Fail);
        assert_eq!(status(&c, "poc"), Status::Fail);
        assert!(c
            .iter()
            .filter(|c| c.status == Status::Fail)
            .all(|c| c.fix.is_some()));
    }
}

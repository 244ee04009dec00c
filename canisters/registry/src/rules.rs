//! Pure rules: the registration message, term and renewal rules, penalty arithmetic, the
//! validator-set size, impeachment tallies. No state, no clock: everything comes in as arguments.

use crate::types::{Params, RegistryError, Role, Term, DAY, E_SCALE};
use candid::Principal;
use ed25519_dalek::{Signature, VerifyingKey};

/// Domain tag of the registration message.
pub const REGISTER_DOMAIN: &[u8] = b"emc-register-v1";

/// The bytes a node signs to register:
/// `b"emc-register-v1" || u32_be(len(owner)) || owner || nonce (32) || role code (1 byte)`.
pub fn registration_message(owner: &Principal, nonce: &[u8; 32], role: Role) -> Vec<u8> {
    let mut m = Vec::with_capacity(REGISTER_DOMAIN.len() + 4 + 29 + 33);
    m.extend_from_slice(REGISTER_DOMAIN);
    emc_types::put_len_prefixed(&mut m, owner.as_slice());
    m.extend_from_slice(nonce);
    m.push(role.code());
    m
}

/// Verifies the node's registration signature (strict ed25519: no small-order keys, canonical
/// signatures).
pub fn verify_registration(
    public_key: &[u8],
    signature: &[u8],
    owner: &Principal,
    nonce: &[u8; 32],
    role: Role,
) -> Result<[u8; 32], RegistryError> {
    let pk: [u8; 32] = public_key
        .try_into()
        .map_err(|_| RegistryError::BadPublicKey)?;
    let key = VerifyingKey::from_bytes(&pk).map_err(|_| RegistryError::BadPublicKey)?;
    if key.is_weak() {
        return Err(RegistryError::BadPublicKey);
    }
    let sig: [u8; 64] = signature
        .try_into()
        .map_err(|_| RegistryError::BadSignature)?;
    let sig = Signature::from_bytes(&sig);
    key.verify_strict(&registration_message(owner, nonce, role), &sig)
        .map_err(|_| RegistryError::BadSignature)?;
    Ok(pk)
}

/// The largest `3F+1` not above `eligible` (0 when none is eligible): 1, 4, 7, 10, 13, ...
pub fn validator_set_size(eligible: u64) -> u64 {
    if eligible == 0 {
        0
    } else {
        (eligible - 1) / 3 * 3 + 1
    }
}

/// The minimum stake of a role for a node with PoC E `poc_e` (compute: `1000 EMC x E`,
/// rounded down to the e8s).
pub fn min_stake(params: &Params, role: Role, poc_e: u64) -> u64 {
    match role {
        Role::Validator => params.validator.min_stake_e8s,
        Role::Router => params.router.min_stake_e8s,
        Role::Compute => mul_div(params.compute_stake_per_e_e8s, poc_e, E_SCALE),
    }
}

/// `a * b / c` rounded down, saturating at u64::MAX (c = 0 gives 0).
pub fn mul_div(a: u64, b: u64, c: u64) -> u64 {
    if c == 0 {
        return 0;
    }
    let r = u128::from(a) * u128::from(b) / u128::from(c);
    u64::try_from(r).unwrap_or(u64::MAX)
}

/// Checks a first term; returns the E multiplier of the term.
pub fn check_first_term(params: &Params, role: Role, days: u32) -> Result<u64, RegistryError> {
    match role {
        Role::Validator | Role::Router => {
            let t = if role == Role::Validator {
                &params.validator
            } else {
                &params.router
            };
            if days < t.min_term_days {
                return Err(RegistryError::BadTerm(format!(
                    "the {role:?} term is at least {} days",
                    t.min_term_days
                )));
            }
            if days > 3650 {
                return Err(RegistryError::BadTerm("a term is at most 3650 days".into()));
            }
            Ok(E_SCALE)
        }
        Role::Compute => compute_multiplier(params, days).ok_or_else(|| {
            let allowed: Vec<u32> = params.compute_terms.iter().map(|t| t.days).collect();
            RegistryError::BadTerm(format!("compute terms are {allowed:?} days"))
        }),
    }
}

/// The multiplier of a compute term of `days`, if it is an allowed term.
pub fn compute_multiplier(params: &Params, days: u32) -> Option<u64> {
    params
        .compute_terms
        .iter()
        .find(|t| t.days == days)
        .map(|t| t.multiplier)
}

/// Checks a renewal of `term` by `days` at `now` and returns the renewed term.
///
/// Rules: asked before the end (and not after the term expired); validator: at most
/// `max_renewals` (1) of at least 180 days; router: unlimited, at least 90 days; compute: an
/// allowed compute term, whose multiplier the node gets from now on.
pub fn renew(
    params: &Params,
    role: Role,
    term: &Term,
    days: u32,
    now: u64,
) -> Result<Term, RegistryError> {
    if term.expired || now >= term.end {
        return Err(RegistryError::BadTerm(
            "a renewal must be asked before the term ends".into(),
        ));
    }
    let mut t = term.clone();
    match role {
        Role::Validator | Role::Router => {
            let r = if role == Role::Validator {
                &params.validator
            } else {
                &params.router
            };
            if let Some(max) = r.max_renewals {
                if term.renewals >= max {
                    return Err(RegistryError::BadTerm(format!(
                        "at most {max} renewal(s) for a {role:?}"
                    )));
                }
            }
            if days < r.renewal_min_days {
                return Err(RegistryError::BadTerm(format!(
                    "a {role:?} renewal is at least {} days",
                    r.renewal_min_days
                )));
            }
            if days > 3650 {
                return Err(RegistryError::BadTerm(
                    "a renewal is at most 3650 days".into(),
                ));
            }
        }
        Role::Compute => {
            t.multiplier = compute_multiplier(params, days)
                .ok_or_else(|| RegistryError::BadTerm("not an allowed compute term".into()))?;
        }
    }
    t.end = term.end.saturating_add(u64::from(days).saturating_mul(DAY));
    t.term_days = days;
    t.renewals = term.renewals.saturating_add(1);
    Ok(t)
}

/// The penalty for `missed_minutes` (spec 4), in e8s, before capping at the stake.
///
/// Whole periods only (`missed_minutes / period`, rounded down; the rest is not carried: the
/// epochs canister reports whole periods). Validator: 115.7 EMC per 60 minutes; router:
/// 3.86 EMC per 10 minutes; compute: `stake x periods / (term_days x 24)` rounded down to the
/// e8s (stake / term_days / 24 per hour, one division so that rounding happens once), with
/// `stake` the node's stake when the penalty is applied. Unstaked compute nodes pay nothing.
pub fn penalty_e8s(
    params: &Params,
    role: Role,
    missed_minutes: u64,
    stake_e8s: u64,
    term_days: u32,
) -> u64 {
    match role {
        Role::Validator => {
            let periods = missed_minutes / u64::from(params.validator_penalty_minutes.max(1));
            periods.saturating_mul(params.validator_penalty_e8s)
        }
        Role::Router => {
            let periods = missed_minutes / u64::from(params.router_penalty_minutes.max(1));
            periods.saturating_mul(params.router_penalty_e8s)
        }
        Role::Compute => {
            let periods = missed_minutes / u64::from(params.compute_penalty_minutes.max(1));
            mul_div(stake_e8s, periods, u64::from(term_days).saturating_mul(24))
        }
    }
}

/// Impeachment tally: `Some(true)` when the yes votes are more than half of the electorate
/// (upheld), `Some(false)` when the no votes make that impossible, `None` while open.
pub fn tally(electorate: u64, yes: u64, no: u64) -> Option<bool> {
    if yes.saturating_mul(2) > electorate {
        Some(true)
    } else if electorate.saturating_sub(no).saturating_mul(2) <= electorate {
        Some(false)
    } else {
        None
    }
}

/// Checks the parameters governance proposes.
pub fn check_params(p: &Params) -> Result<(), RegistryError> {
    let bad = |m: &str| Err(RegistryError::InvalidArgument(m.to_string()));
    for (name, t) in [("validator", &p.validator), ("router", &p.router)] {
        if t.min_term_days == 0 || t.min_term_days > 3650 || t.renewal_min_days == 0 {
            return bad(&format!("{name} terms must be 1 to 3650 days"));
        }
    }
    if p.compute_terms.is_empty() || p.compute_terms.len() > 16 {
        return bad("1 to 16 compute terms");
    }
    for (i, t) in p.compute_terms.iter().enumerate() {
        if t.days == 0 || t.days > 3650 || t.multiplier == 0 {
            return bad("compute terms need 1 to 3650 days and a positive multiplier");
        }
        if p.compute_terms[..i].iter().any(|o| o.days == t.days) {
            return bad("compute term days must be distinct");
        }
    }
    if p.validator_penalty_minutes == 0
        || p.router_penalty_minutes == 0
        || p.compute_penalty_minutes == 0
    {
        return bad("penalty periods must be positive");
    }
    if p.impeachment_period_secs == 0 || p.key_leak_period_secs == 0 {
        return bad("voting periods must be positive");
    }
    if p.epoch_length_secs < 60 || p.epoch_length_secs > 30 * 86_400 {
        return bad("the epoch length is 1 minute to 30 days");
    }
    if p.nonce_ttl_secs == 0 || p.nonce_ttl_secs > 86_400 {
        return bad("the nonce lifetime is 1 second to 1 day");
    }
    if p.max_compute_candidates
        .is_some_and(|c| c == 0 || c > MAX_COMPUTE_CANDIDATES)
    {
        return bad("max_compute_candidates is 1 to 10,000");
    }
    if p.candidate_epochs.is_some_and(|c| c == 0 || c > 100) {
        return bad("candidate_epochs is 1 to 100");
    }
    if p.address_change_interval_secs
        .is_some_and(|s| s > 30 * 86_400)
    {
        return bad("address_change_interval_secs is at most 30 days");
    }
    Ok(())
}

/// The largest [`Params::max_compute_candidates`] governance may set: candidates cost every
/// validator a PoC verification each, so their number per epoch stays small.
pub const MAX_COMPUTE_CANDIDATES: u32 = 10_000;

/// Whether a node whose network address last changed at `last_change` (None: never since
/// registration) may change it at `now`: at most one change per `interval_secs`, the first
/// one always. An address is only a hint for dialers (they authenticate the node key in the
/// QUIC handshake, so a node pointing at someone else's host gets each dialer one failed
/// handshake per backoff); the limit keeps an owner from steering the network's dials at a
/// new victim every few seconds.
pub fn check_address_change(
    last_change: Option<u64>,
    now: u64,
    interval_secs: u64,
) -> Result<(), RegistryError> {
    let Some(last) = last_change else {
        return Ok(());
    };
    let next = last.saturating_add(interval_secs.saturating_mul(crate::types::SEC));
    if now < next {
        return Err(RegistryError::AddressChangeTooSoon {
            next_allowed_at: next,
        });
    }
    Ok(())
}

/// The registry's ledger subaccount of a node: its id (32 bytes).
pub fn node_subaccount(node: &emc_types::NodeId) -> [u8; 32] {
    node.0
}

/// The memo of a journal movement: `b"emc-reg:" || id_be64` (16 bytes).
pub fn movement_memo(id: u64) -> Vec<u8> {
    let mut m = b"emc-reg:".to_vec();
    m.extend_from_slice(&id.to_be_bytes());
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::E8S;

    #[test]
    fn set_size_is_largest_3f_plus_1() {
        let table = [
            (0, 0),
            (1, 1),
            (3, 1),
            (4, 4),
            (6, 4),
            (7, 7),
            (12, 10),
            (13, 13),
            (15, 13),
            (16, 16),
            (100, 100),
            (101, 100),
        ];
        for (n, s) in table {
            assert_eq!(validator_set_size(n), s, "n={n}");
            assert!(s == 0 || (s - 1) % 3 == 0);
        }
    }

    #[test]
    fn penalties_match_the_spec() {
        let p = Params::default();
        assert_eq!(penalty_e8s(&p, Role::Validator, 59, 0, 360), 0);
        assert_eq!(penalty_e8s(&p, Role::Validator, 60, 0, 360), 11_570_000_000);
        assert_eq!(
            penalty_e8s(&p, Role::Validator, 179, 0, 360),
            2 * 11_570_000_000
        );
        assert_eq!(penalty_e8s(&p, Role::Router, 10, 0, 180), 386_000_000);
        assert_eq!(penalty_e8s(&p, Role::Router, 35, 0, 180), 3 * 386_000_000);
        // compute: 7000 EMC over 7 days: 7000 / 7 / 24 = 41.66666666 EMC per hour.
        assert_eq!(
            penalty_e8s(&p, Role::Compute, 60, 7000 * E8S, 7),
            4_166_666_666
        );
        assert_eq!(
            penalty_e8s(&p, Role::Compute, 120, 7000 * E8S, 7),
            8_333_333_333
        );
        assert_eq!(penalty_e8s(&p, Role::Compute, 60, 0, 7), 0);
    }

    #[test]
    fn tallies() {
        assert_eq!(tally(12, 6, 0), None);
        assert_eq!(tally(12, 7, 0), Some(true));
        assert_eq!(tally(12, 0, 6), Some(false));
        assert_eq!(tally(13, 6, 6), None);
        assert_eq!(tally(13, 6, 7), Some(false));
        assert_eq!(tally(1, 1, 0), Some(true));
        assert_eq!(tally(0, 0, 0), Some(false));
    }

    #[test]
    fn renewal_rules() {
        let p = Params::default();
        let t = Term {
            start: 0,
            end: 360 * DAY,
            term_days: 360,
            renewals: 0,
            multiplier: E_SCALE,
            expired: false,
        };
        assert!(renew(&p, Role::Validator, &t, 179, 1).is_err());
        let r = renew(&p, Role::Validator, &t, 180, 1).unwrap();
        assert_eq!(r.end, 540 * DAY);
        assert!(
            renew(&p, Role::Validator, &r, 200, 2).is_err(),
            "one renewal only"
        );
        assert!(
            renew(&p, Role::Validator, &t, 180, 360 * DAY).is_err(),
            "after the end"
        );
        let mut rt = renew(&p, Role::Router, &t, 90, 1).unwrap();
        for _ in 0..5 {
            rt = renew(&p, Role::Router, &rt, 90, 1).unwrap();
        }
        assert!(renew(&p, Role::Router, &t, 89, 1).is_err());
        let c = renew(&p, Role::Compute, &t, 90, 1).unwrap();
        assert_eq!(c.multiplier, 62_000);
        assert!(renew(&p, Role::Compute, &t, 8, 1).is_err());
        assert_eq!(check_first_term(&p, Role::Compute, 30).unwrap(), 27_000);
        assert!(check_first_term(&p, Role::Validator, 359).is_err());
        assert!(check_first_term(&p, Role::Router, 180).is_ok());
    }

    #[test]
    fn address_changes_are_rate_limited() {
        let h = 3_600 * crate::types::SEC;
        assert_eq!(check_address_change(None, 5, 3_600), Ok(()));
        assert_eq!(
            check_address_change(Some(10), 10 + h - 1, 3_600),
            Err(RegistryError::AddressChangeTooSoon {
                next_allowed_at: 10 + h
            })
        );
        assert_eq!(check_address_change(Some(10), 10 + h, 3_600), Ok(()));
        assert!(check_address_change(Some(u64::MAX), 0, u64::MAX).is_err());
        assert_eq!(check_address_change(Some(7), 7, 0), Ok(()));
    }

    #[test]
    fn candidate_params_are_checked() {
        let ok = Params::default();
        assert_eq!(check_params(&ok), Ok(()));
        for p in [
            Params {
                max_compute_candidates: Some(0),
                ..Params::default()
            },
            Params {
                max_compute_candidates: Some(MAX_COMPUTE_CANDIDATES + 1),
                ..Params::default()
            },
            Params {
                candidate_epochs: Some(0),
                ..Params::default()
            },
            Params {
                address_change_interval_secs: Some(31 * 86_400),
                ..Params::default()
            },
        ] {
            assert!(check_params(&p).is_err(), "{p:?}");
        }
        let unset = Params {
            max_compute_candidates: None,
            candidate_epochs: None,
            address_change_interval_secs: None,
            ..Params::default()
        };
        assert_eq!(check_params(&unset), Ok(()));
        assert_eq!(unset.max_compute_candidates(), 64);
        assert_eq!(unset.candidate_epochs(), 3);
        assert_eq!(unset.address_change_interval_secs(), 3_600);
    }

    #[test]
    fn compute_min_stake_is_1000_e() {
        let p = Params::default();
        assert_eq!(min_stake(&p, Role::Compute, 14_451), 144_510_000_000);
        assert_eq!(min_stake(&p, Role::Validator, 0), 1_000_000 * E8S);
    }

    proptest::proptest! {
        #[test]
        fn tally_is_monotone(e in 0u64..1000, y in 0u64..1000, n in 0u64..1000) {
            let (y, n) = (y.min(e), n.min(e - y.min(e)));
            if tally(e, y, n) == Some(true) { proptest::prop_assert_eq!(tally(e, y + 1, n), Some(true)); }
            // Upheld and rejected are never both reachable.
            if tally(e, y, n) == Some(false) { proptest::prop_assert!(2 * (e - n) <= e); }
        }

        #[test]
        fn penalty_never_exceeds_stake_per_term(stake in 0u64..u64::MAX / 2, days in 1u32..400) {
            let p = Params::default();
            // A whole term of missed hours costs at most the stake.
            let all = penalty_e8s(&p, Role::Compute, u64::from(days) * 24 * 60, stake, days);
            proptest::prop_assert!(all <= stake);
            proptest::prop_assert!(stake - all < 1 + u64::from(days) * 24);
        }

        #[test]
        fn set_size_props(n in 0u64..100_000) {
            let s = validator_set_size(n);
            proptest::prop_assert!(s <= n);
            proptest::prop_assert!(n == 0 || (s % 3 == 1 && n - s < 3));
        }
    }
}

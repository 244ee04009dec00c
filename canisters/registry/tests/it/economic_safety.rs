//! Issue #21, the registry's part: economic safety under Byzantine validators and sybils.
//! Each test pins one finding (its number in the issue) on the pure core; `check_invariants`
//! runs after every step through the `pure_core` helpers.

use super::pure_core::*;
use emc_registry::*;

/// #8: a renewal grants a new term (and a compute node a new multiplier) only while the stake,
/// net of the penalties due, is still at the role's minimum (compute: 1000 x the last E).
#[test]
fn a_renewal_needs_the_stake_net_of_penalties_at_the_minimum() {
    let mut r = new_registry();
    let renew = |seed, days| RenewArgs {
        node_id: id(seed),
        days,
    };
    // A compute node staked at 1000 x E with E = 1, then measured at E = 2: its stake is half
    // the minimum, so it cannot renew into the x10 multiplier.
    register(&mut r, p(1), 1, Role::Compute, T0).unwrap();
    stake(&mut r, p(1), 1, 1_000 * E8S, 7, T0);
    assert_eq!(r.e_multiplier(&id(1), T0), Some(14_000));
    r.report_compute_e(epochs(), &id(1), 2 * E_SCALE).unwrap();
    assert_eq!(
        r.renew(p(1), &renew(1, 180), T0 + DAY),
        Err(RegistryError::StakeBelowMinimum {
            minimum_e8s: 2_000 * E8S
        })
    );
    assert_eq!(r.e_multiplier(&id(1), T0 + DAY), Some(14_000), "unchanged");
    assert_eq!(r.get_node(&id(1)).unwrap().term.unwrap().end, T0 + 7 * DAY);
    r.check_invariants(T0 + DAY).unwrap();

    // A compute node whose stake covers its E renews as before.
    register(&mut r, p(2), 2, Role::Compute, T0).unwrap();
    r.report_compute_e(epochs(), &id(2), 2 * E_SCALE).unwrap();
    stake(&mut r, p(2), 2, 2_000 * E8S, 7, T0);
    r.renew(p(2), &renew(2, 180), T0 + DAY).unwrap();
    assert_eq!(r.e_multiplier(&id(2), T0 + DAY), Some(100_000));

    // A router whose penalties due take it under 100,000 EMC cannot renew, neither before nor
    // after the penalty is paid.
    register(&mut r, p(3), 3, Role::Router, T0).unwrap();
    stake(&mut r, p(3), 3, R_MIN + E8S, 180, T0);
    let out = r
        .apply_penalties(
            epochs(),
            1,
            &[PenaltyReport {
                node_id: id(3),
                missed_minutes: 10,
            }],
            T0,
        )
        .unwrap();
    assert!(out[0].penalty_e8s > E8S);
    assert_eq!(
        r.renew(p(3), &renew(3, 90), T0 + DAY),
        Err(RegistryError::StakeBelowMinimum { minimum_e8s: R_MIN })
    );
    tick_ok(&mut r, T0 + DAY);
    assert_eq!(
        r.renew(p(3), &renew(3, 90), T0 + DAY),
        Err(RegistryError::StakeBelowMinimum { minimum_e8s: R_MIN })
    );
    assert_eq!(r.get_node(&id(3)).unwrap().term.unwrap().renewals, 0);
    r.check_invariants(T0 + DAY).unwrap();
}

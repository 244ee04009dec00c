use super::sim::{self, SimConfig, SimRng};
use super::*;

const MS: u64 = 1_000_000;

fn id(i: u8) -> NodeId {
    NodeId([i; 32])
}

fn serves(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(a, m)| (a.to_string(), m.to_string()))
        .collect()
}

/// A dispatcher with nodes `1..=n` serving ("app", "m"), capacity `cap`.
fn fleet(n: u8, cap: u32, cfg: DispatchConfig) -> Dispatcher {
    let mut d = Dispatcher::new(cfg);
    for i in 1..=n {
        d.upsert_node(id(i), serves(&[("app", "m")]), cap);
    }
    d
}

/// One completed call on `node` with time to first byte `ttfb` (the node must be the only
/// eligible one or be picked; we force it by excluding the others).
fn sample(d: &mut Dispatcher, node: NodeId, ttfb: u64, at: u64) {
    let others: Vec<NodeId> = d.nodes.keys().copied().filter(|k| *k != node).collect();
    let t = d
        .pick_excluding("app", "m", None, &others, at, 0)
        .expect("node eligible");
    assert_eq!(t.node(), node);
    d.on_first_byte(&t, at + ttfb);
    d.on_success(t, at + ttfb);
}

#[test]
fn filtering_by_app_model_health_capacity_and_earlier_attempts() {
    let mut d = Dispatcher::new(DispatchConfig::default());
    d.upsert_node(id(1), serves(&[("app", "m"), ("app", "other")]), 4);
    d.upsert_node(id(2), serves(&[("app", "m")]), 4);
    d.upsert_node(id(3), serves(&[("app", "m")]), 4);
    d.upsert_node(id(4), serves(&[("app", "m")]), 4);
    d.upsert_node(id(5), serves(&[("app2", "m")]), 4);
    d.set_reachable(&id(2), false); // unreachable
    d.report_load(&id(3), 4, 4); // full by its own report
                                 // Which nodes may take ("app", "m") excluding `ex`, or why none may.
    type Case<'a> = (&'a str, &'a str, &'a [u8], Result<&'a [u8], NoNodeReason>);
    let table: &[Case<'_>] = &[
        ("app", "m", &[], Ok(&[1, 4])),
        ("app", "m", &[1], Ok(&[4])),
        ("app", "m", &[1, 4], Err(NoNodeReason::AtCapacity)),
        ("app", "other", &[], Ok(&[1])),
        ("app", "other", &[1], Err(NoNodeReason::AllTried)),
        ("app2", "m", &[], Ok(&[5])),
        ("app", "nope", &[], Err(NoNodeReason::NotServed)),
        ("nope", "m", &[], Err(NoNodeReason::NotServed)),
    ];
    for (app, model, ex, want) in table {
        let ex: Vec<NodeId> = ex.iter().map(|i| id(*i)).collect();
        let mut seen = std::collections::BTreeSet::new();
        for r in 0..200u64 {
            match d.pick_excluding(app, model, None, &ex, 0, r) {
                Ok(t) => {
                    seen.insert(t.node().0[0]);
                    d.cancel(t);
                }
                Err(e) => {
                    assert_eq!(Err(e.reason), *want, "{app}/{model} excluding {ex:?}");
                    break;
                }
            }
        }
        if let Ok(nodes) = want {
            assert_eq!(
                seen.into_iter().collect::<Vec<_>>(),
                nodes.to_vec(),
                "{app}/{model}"
            );
        }
    }
    // Only unhealthy nodes left: Unhealthy.
    d.set_reachable(&id(1), false);
    d.set_reachable(&id(4), false);
    d.report_load(&id(3), 0, 4);
    d.set_reachable(&id(3), false);
    let e = d.pick("app", "m", None, 0, 0).unwrap_err();
    assert_eq!(e.reason, NoNodeReason::Unhealthy);
    assert_eq!(d.open_tickets(), 0);
    for n in 1..=5 {
        assert_eq!(d.node(&id(n), 0).unwrap().in_flight, 0);
    }
}

#[test]
fn no_node_reasons_map_to_http_statuses() {
    let table = [
        (NoNodeReason::NotServed, 404),
        (NoNodeReason::AtCapacity, 503),
        (NoNodeReason::Unhealthy, 503),
        (NoNodeReason::AllTried, 502),
    ];
    for (reason, status) in table {
        assert_eq!(reason.http_status(), status, "{reason:?}");
        assert_eq!(CallError::NoNode(NoNode { reason }).http_status(), status);
    }
    assert_eq!(CallError::Exhausted(3).http_status(), 502);
}

#[test]
fn capacity_is_respected_with_local_calls_and_reported_load() {
    let mut d = fleet(2, 3, DispatchConfig::default());
    let mut open = Vec::new();
    for r in 0..6u64 {
        open.push(d.pick("app", "m", None, 0, r).expect("room"));
    }
    assert_eq!(
        d.pick("app", "m", None, 0, 7).unwrap_err().reason,
        NoNodeReason::AtCapacity
    );
    for n in [1, 2] {
        assert_eq!(d.node(&id(n), 0).unwrap().in_flight, 3);
    }
    // One call ends: one slot again, on that node.
    let t = open.pop().unwrap();
    let freed = t.node();
    d.on_success(t, 10);
    let t = d.pick("app", "m", None, 10, 9).unwrap();
    assert_eq!(t.node(), freed);
    open.push(t);
    for t in open {
        d.cancel(t);
    }
    // A node's own report (other routers' calls) counts too.
    d.report_load(&id(1), 3, 3);
    for r in 0..50u64 {
        let t = d.pick("app", "m", None, 20, r).unwrap();
        assert_eq!(t.node(), id(2));
        d.cancel(t);
    }
    // Capacity 0: the node takes nothing.
    d.report_load(&id(2), 0, 0);
    assert_eq!(
        d.pick("app", "m", None, 20, 0).unwrap_err().reason,
        NoNodeReason::AtCapacity
    );
}

#[test]
fn p2c_prefers_the_cheaper_node() {
    // Classic P2C with the linear load term, to check the cost formula.
    let cfg = DispatchConfig {
        explore_ppm: 0,
        slow_factor: f64::INFINITY,
        choices: 2,
        load_bias: 1.0,
        ..DispatchConfig::default()
    };
    let mut d = fleet(2, 16, cfg);
    sample(&mut d, id(1), 100 * MS, 0);
    sample(&mut d, id(2), 300 * MS, 0);
    let now = 300 * MS;
    // Both drawn, the cheaper wins: 100 ms × 1 < 300 ms × 1.
    for r in 0..100u64 {
        let t = d.pick("app", "m", None, now, r).unwrap();
        assert_eq!((t.node(), t.choice()), (id(1), Choice::Cost));
        d.cancel(t);
    }
    // Load counts: with 3 calls open node 1 costs 100 × 4 > 300 × 1.
    let held: Vec<Ticket> = (0..3)
        .map(|r| d.pick("app", "m", None, now, r).unwrap())
        .collect();
    assert!(held.iter().all(|t| t.node() == id(1)));
    let t = d.pick("app", "m", None, now, 3).unwrap();
    assert_eq!(t.node(), id(2));
    d.cancel(t);
    for t in held {
        d.cancel(t);
    }
    // Among many nodes, P2C sends most calls to the cheapest ones.
    let mut d = fleet(8, 16, DispatchConfig::default());
    for i in 1..=8u8 {
        sample(&mut d, id(i), (50 + u64::from(i) * 10) * MS, 0);
    }
    let mut count = [0u32; 9];
    for r in 0..4000u64 {
        let t = d.pick("app", "m", None, 400 * MS, r).unwrap();
        count[usize::from(t.node().0[0])] += 1;
        d.cancel(t);
    }
    assert!(count[1] > count[2] && count[2] > count[3], "{count:?}");
    assert_eq!(
        count[8], 0,
        "130 ms > 2 × 60 ms, outside the draw: {count:?}"
    );
}

#[test]
fn peak_ewma_jumps_on_a_spike_and_moves_with_tau() {
    let cfg = DispatchConfig::default();
    let tau = cfg.decay_ns;
    let mut d = fleet(1, 4, cfg);
    let est = |d: &Dispatcher, at: u64| d.node(&id(1), at).unwrap().estimate_ns.unwrap();
    assert_eq!(d.node(&id(1), 0).unwrap().estimate_ns, None);
    sample(&mut d, id(1), 100 * MS, 0);
    assert_eq!(est(&d, 100 * MS), 100e6);
    // A spike is taken at once.
    sample(&mut d, id(1), 2_000 * MS, 100 * MS);
    assert_eq!(est(&d, 2_100 * MS), 2_000e6);
    // A lower sample right after barely moves it (weight 1 - e^(-Δt/τ), Δt ≈ 0).
    let t = d.pick("app", "m", None, 2_100 * MS, 0).unwrap();
    d.on_first_byte(&t, 2_100 * MS + MS);
    d.on_success(t, 2_100 * MS + MS);
    let e = est(&d, 2_101 * MS);
    assert!(e > 1_990e6 && e < 2_000e6, "{e}");
    // A sample τ later moves it 63 % of the way.
    let at = 2_101 * MS + tau - 100 * MS;
    sample(&mut d, id(1), 100 * MS, at);
    let e = est(&d, at + 100 * MS);
    let want = e_at(2_000e6 - 0.0, 100e6);
    assert!((e - want).abs() / want < 0.01, "{e} vs {want}");
    // Idle, the estimate is held (a slow node left alone is not taken for fast).
    let now = at + 100 * MS;
    assert_eq!(est(&d, now + 100 * tau), e);

    fn e_at(from: f64, to: f64) -> f64 {
        let w = (-1.0f64).exp();
        from * w + to * (1.0 - w)
    }
}

#[test]
fn failures_only_raise_the_estimate() {
    let mut d = fleet(1, 4, DispatchConfig::default());
    let t = d.pick("app", "m", None, 0, 0).unwrap();
    d.on_failure(t, MS);
    assert_eq!(
        d.node(&id(1), MS).unwrap().estimate_ns,
        None,
        "a fast failure is no sample"
    );
    sample(&mut d, id(1), 100 * MS, MS);
    let t = d.pick("app", "m", None, 200 * MS, 0).unwrap();
    d.on_failure(t, 201 * MS); // failed after 1 ms: no lower estimate
    let e = d.node(&id(1), 101 * MS).unwrap().estimate_ns.unwrap();
    assert_eq!(e, 100e6, "unchanged since the sample at 101 ms");
    let t = d.pick("app", "m", None, 300 * MS, 0).unwrap();
    d.on_failure(t, 1_300 * MS); // a 1 s timeout raises it
    assert_eq!(
        d.node(&id(1), 1_300 * MS).unwrap().estimate_ns,
        Some(1_000e6)
    );
}

#[test]
fn a_failing_node_is_ejected_then_readmitted_with_a_growing_backoff() {
    let cfg = DispatchConfig::default();
    let (base, after) = (cfg.base_ejection_ns, cfg.eject_after);
    let mut d = fleet(2, 8, cfg);
    let fail = |d: &mut Dispatcher, n: u32, at: u64| {
        for _ in 0..n {
            let t = d
                .pick_excluding("app", "m", None, &[id(2)], at, 0)
                .expect("node 1 eligible");
            d.on_failure(t, at);
        }
    };
    // Four failures, a success, four more: never five in a row, never ejected.
    fail(&mut d, after - 1, 0);
    sample(&mut d, id(1), MS, 0);
    fail(&mut d, after - 1, 0);
    assert!(d.node(&id(1), 0).unwrap().healthy);
    fail(&mut d, 1, 0); // five in a row
    let v = d.node(&id(1), 0).unwrap();
    assert!(!v.healthy);
    assert_eq!(v.ejected_until_ns, base);
    // Ejected: every call goes to node 2; node 1 alone: Unhealthy.
    for r in 0..20 {
        let t = d.pick("app", "m", None, base - 1, r).unwrap();
        assert_eq!(t.node(), id(2));
        d.cancel(t);
    }
    assert_eq!(
        d.pick_excluding("app", "m", None, &[id(2)], base - 1, 0)
            .unwrap_err()
            .reason,
        NoNodeReason::Unhealthy
    );
    // Re-admitted when the time is up; failing again at once: ejected twice as long.
    assert!(d.node(&id(1), base).unwrap().healthy);
    fail(&mut d, after, base);
    assert_eq!(d.node(&id(1), base).unwrap().ejected_until_ns, 3 * base);
    // Many more in a row: capped at the maximum.
    let mut at = 3 * base;
    for _ in 0..20 {
        fail(&mut d, after, at);
        at = d.node(&id(1), at).unwrap().ejected_until_ns;
    }
    let max = d.config().max_ejection_ns;
    let v = d.node(&id(1), at).unwrap();
    assert!(v.healthy);
    fail(&mut d, after, at);
    assert_eq!(d.node(&id(1), at).unwrap().ejected_until_ns, at + max);
    // Healthy for a long time after: forgiven, back to the base.
    let at = at + max + 100 * base;
    fail(&mut d, after, at);
    assert_eq!(d.node(&id(1), at).unwrap().ejected_until_ns, at + base);
    // Unreachable is unhealthy too, until reachable again.
    d.set_reachable(&id(2), false);
    assert!(!d.node(&id(2), 0).unwrap().healthy);
    d.set_reachable(&id(2), true);
    assert!(d.node(&id(2), 0).unwrap().healthy);
}

#[test]
fn the_retry_plan_tries_other_nodes_before_the_first_byte_only() {
    let mut d = fleet(4, 8, DispatchConfig::default());
    // Retryable failures: three distinct nodes, then Exhausted; none charged.
    let mut plan = CallPlan::new("app", "m", None);
    for attempt in 0..3u64 {
        let t = plan.next(&mut d, attempt, attempt).expect("a node");
        let more = plan.on_failure(&mut d, t, attempt, true);
        assert_eq!(more, attempt < 2);
    }
    let tried = plan.tried().to_vec();
    assert_eq!(tried.len(), 3);
    assert!(tried[0] != tried[1] && tried[1] != tried[2] && tried[0] != tried[2]);
    assert_eq!(
        plan.next(&mut d, 5, 5).unwrap_err(),
        CallError::Exhausted(3)
    );
    // Success on the second attempt: the charged node is the second one.
    let mut plan = CallPlan::new("app", "m", None);
    let t = plan.next(&mut d, 10, 1).unwrap();
    assert!(plan.on_failure(&mut d, t, 10, true));
    let t = plan.next(&mut d, 11, 2).unwrap();
    let second = t.node();
    assert_ne!(second, plan.tried()[0]);
    assert_eq!(
        plan.next(&mut d, 11, 3).unwrap_err(),
        CallError::Over,
        "one at a time"
    );
    plan.on_first_byte(&mut d, &t, 12);
    assert_eq!(plan.on_success(&mut d, t, 13), second);
    assert_eq!(plan.next(&mut d, 14, 4).unwrap_err(), CallError::Over);
    // After the first byte: no retry.
    let mut plan = CallPlan::new("app", "m", None);
    let t = plan.next(&mut d, 20, 1).unwrap();
    plan.on_first_byte(&mut d, &t, 21);
    assert!(!plan.on_failure(&mut d, t, 22, true));
    assert_eq!(plan.next(&mut d, 23, 2).unwrap_err(), CallError::Over);
    // A non-retryable failure: no retry.
    let mut plan = CallPlan::new("app", "m", None);
    let t = plan.next(&mut d, 30, 1).unwrap();
    assert!(!plan.on_failure(&mut d, t, 31, false));
    assert_eq!(plan.next(&mut d, 32, 2).unwrap_err(), CallError::Over);
    // Two nodes only: the third attempt finds every node tried.
    let mut d2 = fleet(2, 8, DispatchConfig::default());
    let mut plan = CallPlan::new("app", "m", None);
    for r in 0..2 {
        let t = plan.next(&mut d2, r, r).unwrap();
        assert!(plan.on_failure(&mut d2, t, r, true));
    }
    let e = plan.next(&mut d2, 3, 3).unwrap_err();
    assert_eq!(
        e,
        CallError::NoNode(NoNode {
            reason: NoNodeReason::AllTried
        })
    );
    assert_eq!(e.http_status(), 502);
    assert_eq!(d.open_tickets() + d2.open_tickets(), 0);
}

#[test]
fn in_flight_never_leaks_across_success_failure_retry_cancel_and_expiry() {
    let mut rng = SimRng::new(42);
    let cfg = DispatchConfig::default();
    let timeout = cfg.ticket_timeout_ns;
    let mut d = fleet(5, 3, cfg);
    let mut live: Vec<(CallPlan, Option<Ticket>)> = Vec::new();
    let mut leaked: Vec<Ticket> = Vec::new(); // dropped by a "buggy shell": expire reclaims them
    let mut now = 0u64;
    for step in 0..20_000u32 {
        now += rng.next_u64() % (5 * MS);
        match rng.next_u64() % 8 {
            0 | 1 => {
                let key = (rng.next_u64() % 3 == 0).then(|| rng.next_u64() % 10);
                let mut plan = CallPlan::new("app", "m", key);
                if let Ok(t) = plan.next(&mut d, now, rng.next_u64()) {
                    live.push((plan, Some(t)));
                }
            }
            _ if live.is_empty() => {}
            op => {
                let i = (rng.next_u64() % live.len() as u64) as usize;
                let (mut plan, t) = live.swap_remove(i);
                let Some(t) = t else { continue };
                match op {
                    2 => {
                        plan.on_first_byte(&mut d, &t, now);
                        live.push((plan, Some(t)));
                    }
                    3 => {
                        plan.on_success(&mut d, t, now);
                    }
                    4 | 5 => {
                        let retryable = op == 4;
                        if plan.on_failure(&mut d, t, now, retryable) {
                            if let Ok(t) = plan.next(&mut d, now, rng.next_u64()) {
                                live.push((plan, Some(t)));
                            }
                        }
                    }
                    6 => plan.cancel(&mut d, t),
                    _ if rng.next_u64() % 20 == 0 => leaked.push(t),
                    _ => live.push((plan, Some(t))),
                }
            }
        }
        let in_flight: u32 = (1..=5)
            .map(|n| d.node(&id(n), now).unwrap().in_flight)
            .sum();
        assert_eq!(in_flight as usize, d.open_tickets(), "step {step}");
        assert_eq!(d.open_tickets(), live.len() + leaked.len(), "step {step}");
        for n in 1..=5 {
            let v = d.node(&id(n), now).unwrap();
            assert!(v.in_flight <= v.capacity, "step {step}: capacity");
        }
    }
    for (mut plan, t) in live {
        if let Some(t) = t {
            plan.on_success(&mut d, t, now);
        }
    }
    assert_eq!(d.open_tickets(), leaked.len());
    assert_eq!(d.expire(now), 0, "nothing is old enough yet");
    let n = leaked.len();
    assert!(n > 0);
    assert_eq!(d.expire(now + timeout + 1), n);
    // A late completion of a reclaimed ticket changes nothing.
    for t in leaked {
        d.on_success(t, now + timeout + 2);
    }
    assert_eq!(d.open_tickets(), 0);
    for n in 1..=5 {
        assert_eq!(d.node(&id(n), now).unwrap().in_flight, 0);
    }
    // A removed node's ticket ends quietly.
    let later = now + timeout + 3; // past any ejection
    let t = d.pick("app", "m", None, later, 1).unwrap();
    d.remove_node(&t.node());
    d.on_failure(t, later);
    assert_eq!(d.open_tickets(), 0);
}

#[test]
fn affinity_sticks_and_yields_when_the_sticky_node_is_much_slower_or_full() {
    let cfg = DispatchConfig {
        explore_ppm: 0,
        ..DispatchConfig::default()
    };
    let mut d = fleet(6, 2, cfg);
    for i in 1..=6u8 {
        sample(&mut d, id(i), 100 * MS, 0);
    }
    let now = 100 * MS;
    let key = affinity_key(b"session-7");
    // Sticks: every call with the key goes to one node.
    let first = d.pick("app", "m", Some(key), now, 0).unwrap();
    let sticky = first.node();
    assert_eq!(first.choice(), Choice::Sticky);
    d.on_success(first, now);
    for r in 1..200u64 {
        let t = d.pick("app", "m", Some(key), now, r).unwrap();
        assert_eq!(t.node(), sticky);
        d.cancel(t);
    }
    // Other keys spread over the nodes.
    let spread: std::collections::BTreeSet<NodeId> = (0..200u64)
        .map(|k| {
            let t = d.pick("app", "m", Some(k), now, k).unwrap();
            let n = t.node();
            d.cancel(t);
            n
        })
        .collect();
    assert!(spread.len() >= 5, "{}", spread.len());
    // Full: the key falls to one other node, the same each time; back when there is room.
    let hold: Vec<Ticket> = (0..2)
        .map(|r| {
            d.pick_excluding("app", "m", None, &others(sticky), now, r)
                .unwrap()
        })
        .collect();
    let t = d.pick("app", "m", Some(key), now, 1).unwrap();
    let second = t.node();
    assert_ne!(second, sticky);
    d.cancel(t);
    for r in 0..50u64 {
        let t = d.pick("app", "m", Some(key), now, r).unwrap();
        assert_eq!(t.node(), second);
        d.cancel(t);
    }
    for t in hold {
        d.cancel(t);
    }
    let t = d.pick("app", "m", Some(key), now, 2).unwrap();
    assert_eq!(t.node(), sticky);
    d.cancel(t);
    // A little slower (1.5×): still sticky. Much slower (5×): yields to the P2C choice.
    sample(&mut d, sticky, 150 * MS, now);
    let t = d.pick("app", "m", Some(key), now + 150 * MS, 3).unwrap();
    assert_eq!(t.node(), sticky);
    d.cancel(t);
    sample(&mut d, sticky, 500 * MS, now + 150 * MS);
    for r in 0..50u64 {
        let t = d.pick("app", "m", Some(key), now + 650 * MS, r).unwrap();
        assert_ne!(t.node(), sticky);
        assert_eq!(t.choice(), Choice::Cost);
        d.cancel(t);
    }

    fn others(n: NodeId) -> Vec<NodeId> {
        (1..=6u8).map(id).filter(|i| *i != n).collect()
    }
}

/// A node that was slow and got fast again: it gets nothing but probes while its estimate is
/// fresh; once stale (`probe_after_ns`) one exploration probe sees its new speed and it wins
/// calls back. A node that stays slow costs about one probe per `probe_after_ns`.
#[test]
fn a_stale_node_is_probed_and_a_recovered_one_wins_calls_back() {
    let cfg = DispatchConfig::default();
    let probe_after = cfg.probe_after_ns;
    let mut d = fleet(3, 1000, cfg);
    sample(&mut d, id(1), 100 * MS, 0);
    sample(&mut d, id(2), 100 * MS, 0);
    sample(&mut d, id(3), 900 * MS, 0);
    // A call every 10 ms; nodes 1 and 2 answer in 100 ms, node 3 in 900 ms, then (from
    // `fast_from`) in 50 ms.
    let fast_from = 2 * probe_after;
    let mut to_3 = Vec::new();
    let mut now = MS;
    let mut r = 0u64;
    while now < 4 * probe_after {
        r += 1;
        let t = d
            .pick("app", "m", None, now, r.wrapping_mul(0x9E37_79B9_7F4A_7C15))
            .unwrap();
        let ttfb = match (t.node() == id(3), now >= fast_from) {
            (false, _) => 100 * MS,
            (true, false) => 900 * MS,
            (true, true) => 50 * MS,
        };
        if t.node() == id(3) {
            to_3.push((now, t.choice()));
        }
        d.on_first_byte(&t, now + ttfb);
        d.on_success(t, now + ttfb);
        now += 10 * MS;
    }
    let slow: Vec<_> = to_3.iter().filter(|(at, _)| *at < fast_from).collect();
    // While slow: probes only, about one per probe_after.
    assert!(slow.iter().all(|(_, c)| *c == Choice::Explore), "{slow:?}");
    assert!(!slow.is_empty() && slow.len() <= 3, "{slow:?}");
    // Once fast: probed within about probe_after, then preferred.
    let first_fast = to_3
        .iter()
        .find(|(at, _)| *at >= fast_from)
        .map(|(at, _)| *at)
        .unwrap();
    assert!(
        first_fast <= fast_from + probe_after + 2 * SEC,
        "{first_fast}"
    );
    let won = to_3.iter().filter(|(at, _)| *at > first_fast + SEC).count();
    assert!(won > 1000, "the recovered node takes most calls: {won}");
}

#[test]
fn exploration_gives_new_nodes_some_calls() {
    let mut d = fleet(4, 1000, DispatchConfig::default());
    for i in 1..=4u8 {
        sample(&mut d, id(i), 100 * MS, 0);
    }
    d.upsert_node(id(9), serves(&[("app", "m")]), 1000);
    let (mut explored, mut to_new) = (0u32, 0u32);
    let n = 20_000u64;
    for r in 0..n {
        let t = d
            .pick("app", "m", None, 100 * MS, r.wrapping_mul(0x9E37_79B9))
            .unwrap();
        if t.choice() == Choice::Explore {
            explored += 1;
            assert_eq!(t.node(), id(9));
        }
        if t.node() == id(9) {
            to_new += 1;
        }
        d.cancel(t);
    }
    // 5 % explore, plus the new node's P2C share at the median cost.
    let share = f64::from(explored) / n as f64;
    assert!((0.04..0.06).contains(&share), "{share}");
    assert!(to_new > explored);
    // Once sampled, no more exploration.
    sample(&mut d, id(9), 100 * MS, 100 * MS);
    for r in 0..1000u64 {
        let t = d.pick("app", "m", None, 200 * MS, r).unwrap();
        assert_ne!(t.choice(), Choice::Explore);
        d.cancel(t);
    }
    // Without samples anywhere, new nodes cost the default and P2C still spreads.
    let mut fresh = fleet(3, 10, DispatchConfig::default());
    let t = fresh.pick("app", "m", None, 0, 5).unwrap();
    fresh.cancel(t);
}

/// The issue's `dispatch_p99_vs_oracle` on the standard workload (module `sim`): six nodes at
/// 1×, 1×, 2×, 2×, 4×, 4× a 100 ms service time, at 30, 50 and 70 % load, with independent
/// slots and (30, 50 %) with calls that slow each other: the target, p99 at most 1.3 × the
/// oracle's, holds on every workload (measured 0.94–1.03 on seeds 1–10).
#[test]
fn dispatch_p99_vs_oracle() {
    let cfg = DispatchConfig::default();
    for seed in [1u64, 2, 3] {
        for (load, contention) in [(0.3, 0.0), (0.5, 0.0), (0.7, 0.0), (0.3, 0.5), (0.5, 0.5)] {
            let mut w = SimConfig::standard(seed, load);
            w.contention = contention;
            let (r, ours, oracle) = sim::p99_vs_oracle(&w, &cfg);
            assert!(
                r <= 1.3,
                "seed {seed} load {load} contention {contention}: {r} ({ours:?} vs {oracle:?})"
            );
            assert_eq!(ours.open_tickets, 0);
        }
    }
}

#[test]
fn a_node_with_injected_latency_gets_fewer_calls() {
    let mut w = SimConfig::standard(9, 0.5);
    w.service_ns = vec![100 * MS, 100 * MS, 100 * MS, 100 * MS + 300 * MS];
    let ours = sim::run(&w, &sim::Policy::Dispatch(DispatchConfig::default()));
    let c = &ours.calls_per_node;
    assert!(c[..3].iter().all(|f| *f > 3 * c[3]), "{c:?}");
    assert_eq!(ours.open_tickets, 0);
    // And on the standard fleet, faster nodes serve more.
    let ours = sim::run(
        &SimConfig::standard(9, 0.5),
        &sim::Policy::Dispatch(DispatchConfig::default()),
    );
    let c = &ours.calls_per_node;
    assert!(
        c[0] > c[2] && c[1] > c[3] && c[2] > c[4] && c[3] > c[5],
        "{c:?}"
    );
}

#[test]
fn the_simulation_is_deterministic() {
    let w = SimConfig::standard(5, 0.5);
    let p = sim::Policy::Dispatch(DispatchConfig::default());
    assert_eq!(sim::run(&w, &p), sim::run(&w, &p));
}

/// A call bound to one node (a socket's offer node, a pool's entry) goes only there, whatever
/// the others' costs; once it failed there is nowhere else; a bound node that is away or does
/// not serve the app is 503 (`Unhealthy`), never another node.
#[test]
fn a_bound_call_goes_only_to_its_node() {
    let mut d = fleet(4, 8, DispatchConfig::default());
    for r in 0..50u64 {
        let mut plan = CallPlan::new("app", "m", None).only(Some(id(3)));
        let t = plan.next(&mut d, r, r).expect("its node");
        assert_eq!(t.node(), id(3));
        plan.cancel(&mut d, t);
    }
    let mut plan = CallPlan::new("app", "m", None).only(Some(id(3)));
    let t = plan.next(&mut d, 60, 1).unwrap();
    assert!(plan.on_failure(&mut d, t, 61, true));
    assert_eq!(
        plan.next(&mut d, 62, 2).unwrap_err(),
        CallError::NoNode(NoNode {
            reason: NoNodeReason::AllTried
        })
    );
    // Unbound, the same fleet spreads calls.
    let picked: std::collections::BTreeSet<NodeId> = (0..50u64)
        .map(|r| {
            let mut plan = CallPlan::new("app", "m", None).only(None);
            let t = plan.next(&mut d, 100 + r, r).unwrap();
            let n = t.node();
            plan.cancel(&mut d, t);
            n
        })
        .collect();
    assert!(picked.len() > 1);
    // A bound node the router does not have, or that serves another app: 503, not another.
    for node in [id(9), id(2)] {
        if node == id(2) {
            d.upsert_node(id(2), serves(&[("other", "m")]), 8);
        }
        let mut plan = CallPlan::new("app", "m", None).only(Some(node));
        let e = plan.next(&mut d, 200, 1).unwrap_err();
        assert_eq!(
            e,
            CallError::NoNode(NoNode {
                reason: NoNodeReason::Unhealthy
            })
        );
        assert_eq!(e.http_status(), 503);
    }
}

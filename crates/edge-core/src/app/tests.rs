use super::*;
use emc_epochs::data::{chunk_hash, root_from_proof};

const L: u64 = 10;

fn id(i: u8) -> NodeId {
    NodeId([i; 32])
}

fn cfg() -> AppConfig {
    AppConfig {
        epoch_length: L,
        chunk_records: 2,
        // A PoC round at every block.
        poc_period_blocks: 1,
        // Activity judged per block (outage tests set their own slot).
        slot_blocks: 1,
        ..AppConfig::default()
    }
}

fn validators() -> Vec<NodeId> {
    (1..=4).map(id).collect()
}

/// The snapshot and the set of `epoch` on every app.
fn prepare(apps: &mut [EdgeApp], epoch: u64, nodes: &[RegistryNode]) {
    for a in apps.iter_mut() {
        a.set_snapshot(epoch, Some(nodes.to_vec()));
        a.set_members(epoch, validators());
    }
}

/// One height: every validator records a pass (E = 2.0) for the nodes the last round gave
/// it, then validator `h % 4 + 1` proposes and everyone validates and commits.
fn step(apps: &mut [EdgeApp], h: u64) {
    record_verdicts(apps, 20_000);
    let p = (h % 4) as usize;
    let b = block(&mut apps[p], p as u8 + 1, h);
    for a in apps.iter() {
        a.validate(&b).unwrap();
    }
    for a in apps.iter_mut() {
        a.on_commit(&b);
    }
}

/// Every validator records a pass with `e` for the nodes the last round gave it.
fn record_verdicts(apps: &mut [EdgeApp], e: u64) {
    for (i, a) in apps.iter_mut().enumerate() {
        let me = id(i as u8 + 1);
        if let Some(r) = a.started_round() {
            for n in a.assigned_to(r.height, &me) {
                a.record_poc(n, e, true);
            }
        }
    }
}

fn registry() -> Vec<RegistryNode> {
    let node = |i: u8, role: Role, stake: u64, multiplier: u64| RegistryNode {
        id: id(i),
        owner: Principal::from_slice(&[i, 1]),
        role,
        stake_e8s: stake,
        multiplier,
    };
    vec![
        node(1, Role::Validator, 100, 0),
        node(2, Role::Validator, 100, 0),
        node(3, Role::Validator, 100, 0),
        node(4, Role::Validator, 100, 0),
        node(5, Role::Router, 10, 0),
        node(6, Role::Compute, 0, 10_000),
    ]
}

/// A block by `proposer` at `height` with the proposer's application's proposal, after the
/// parent commit sealed by all four validators.
fn block(app: &mut EdgeApp, proposer: u8, height: u64) -> Block {
    sealed_block(app, proposer, height, &[1, 2, 3, 4])
}

/// The parent commit consensus puts first in a block (the app does not verify seals: that is
/// consensus's job, so dummy signatures do).
fn parent_commit(signers: &[u8]) -> StateBit {
    StateBit::ParentCommit(emc_types::ParentCommit {
        round: 0,
        seals: signers
            .iter()
            .map(|s| emc_types::Seal {
                signer: id(*s),
                signature: emc_types::Signature([0; 64]),
            })
            .collect(),
    })
}

/// A block of the proposer's application's proposal alone (no parent commit).
fn proposal(app: &mut EdgeApp, proposer: u8, height: u64) -> Block {
    let bits = app.propose(height, 0);
    Block::new(height, Hash([0; 32]), id(proposer), height, bits)
}

/// [`block`] with the parent commit sealed by `signers`.
fn sealed_block(app: &mut EdgeApp, proposer: u8, height: u64, signers: &[u8]) -> Block {
    let mut bits = vec![parent_commit(signers)];
    bits.extend(app.propose(height, 0));
    Block::new(height, Hash([0; 32]), id(proposer), height, bits)
}

/// Four validators take turns for `blocks` heights; each saw the others and the router
/// online, and each measured the compute node at E = 2.0 whenever a round gave it the node.
fn run(blocks: u64) -> Vec<EdgeApp> {
    let mut apps: Vec<EdgeApp> = (1..=4).map(|i| EdgeApp::new(id(i), cfg())).collect();
    prepare(&mut apps, 0, &registry());
    for a in &mut apps {
        for s in 1..=5 {
            a.observe(id(s), true);
        }
    }
    for h in 1..=blocks {
        step(&mut apps, h);
    }
    apps
}

#[test]
fn a_proposer_reports_only_itself_once_per_subject() {
    let mut app = EdgeApp::new(id(1), cfg());
    app.observe(id(1), true); // itself: ignored
    app.observe(id(2), true);
    app.observe(id(2), false); // latest outcome wins
    app.observe(id(3), true);
    let b = proposal(&mut app, 1, 1);
    assert_eq!(b.bits.len(), 2);
    assert!(matches!(&b.bits[0], StateBit::Liveness(l) if l.subject == id(2) && !l.online));
    app.validate(&b).unwrap();

    let liveness = |observer: u8, subject: u8| {
        StateBit::Liveness(LivenessObservation {
            observer: id(observer),
            subject: id(subject),
            online: true,
        })
    };
    let with = |bits: Vec<StateBit>| Block::new(1, Hash([0; 32]), id(1), 1, bits);
    assert!(
        app.validate(&with(vec![liveness(2, 3)])).is_err(),
        "another observer"
    );
    assert!(app.validate(&with(vec![liveness(1, 1)])).is_err(), "itself");
    assert!(
        app.validate(&with(vec![liveness(1, 3), liveness(1, 3)]))
            .is_err(),
        "twice"
    );
    // A PoC result needs an open challenge of its validator, which a committed round opens.
    let poc = |validator: NodeId, e: u64, passed: bool| {
        StateBit::Poc(PocResult {
            node: id(6),
            e_fixed: e,
            passed,
            validator,
        })
    };
    let by =
        |proposer: NodeId, bits: Vec<StateBit>| Block::new(2, Hash([0; 32]), proposer, 2, bits);
    assert!(
        app.validate(&by(id(1), vec![poc(id(1), 5, true)])).is_err(),
        "no round yet"
    );
    app.set_snapshot(0, Some(registry()));
    app.set_members(0, validators());
    app.on_commit(&b);
    let round = app.started_round().expect("block 1 starts a round");
    let c = app
        .open_challenge(round.height, &id(6))
        .expect("node 6 has a challenger");
    let other = validators().into_iter().find(|v| *v != c).unwrap();
    assert!(app.validate(&by(c, vec![poc(c, 5, true)])).is_ok());
    assert!(app.validate(&by(c, vec![poc(c, 0, false)])).is_ok());
    assert!(
        app.validate(&by(c, vec![poc(other, 5, true)])).is_err(),
        "another validator than the proposer"
    );
    assert!(
        app.validate(&by(other, vec![poc(other, 5, true)])).is_err(),
        "not the round's challenger"
    );
    assert!(
        app.validate(&by(c, vec![poc(c, 5, true), poc(c, 6, true)]))
            .is_err(),
        "two results about one node"
    );
    assert!(
        app.validate(&by(c, vec![poc(c, 5, false)])).is_err(),
        "failed with an E"
    );
    assert!(app
        .validate(&by(c, vec![poc(c, MAX_E_FIXED + 1, true)]))
        .is_err());
    // Once committed, the challenge is closed: the same result again is refused.
    app.on_commit(&by(c, vec![poc(c, 5, true)]));
    let again = Block::new(3, Hash([1; 32]), c, 3, vec![poc(c, 5, true)]);
    let reopened = app
        .started_round()
        .is_some_and(|r| app.open_challenge(r.height, &id(6)) == Some(c));
    assert_eq!(
        app.validate(&again).is_ok(),
        reopened,
        "only a new round reopens it"
    );
}

/// Issue #21, finding 1: one Byzantine validator floods its blocks with PoC results, a
/// maximal E for its own sybil compute node and failures for the honest one. Only results
/// for challenges a committed round gave it are admitted (one per round and node), so its
/// floods are refused and the honest node's E stands; the sybil, which answers nobody,
/// earns nothing.
#[test]
fn a_byzantine_proposer_cannot_set_any_nodes_e() {
    let mut nodes = registry();
    nodes.push(RegistryNode {
        id: id(7),
        owner: Principal::from_slice(&[4, 1]),
        role: Role::Compute,
        stake_e8s: 0,
        multiplier: 10_000,
    });
    // A longer epoch: ten Byzantine turns. When a round did draw the Byzantine validator as a
    // node's challenger, its result about that node is admitted (its share of the results).
    const LONG: u64 = 40;
    let long = AppConfig {
        epoch_length: LONG,
        ..cfg()
    };
    let mut apps: Vec<EdgeApp> = (1..=4).map(|i| EdgeApp::new(id(i), long.clone())).collect();
    prepare(&mut apps, 0, &nodes);
    let byzantine = 3; // validator 4
    let flood = |h: u64| {
        let bits = vec![
            StateBit::Poc(PocResult {
                node: id(7),
                e_fixed: MAX_E_FIXED,
                passed: true,
                validator: id(4),
            }),
            StateBit::Poc(PocResult {
                node: id(6),
                e_fixed: 0,
                passed: false,
                validator: id(4),
            }),
        ];
        Block::new(h, Hash([0; 32]), id(4), h, bits)
    };
    let mut refused = 0;
    for h in 1..=LONG {
        // Honest validators pass node 6 (E = 2.0) and fail the silent sybil.
        for (i, a) in apps.iter_mut().enumerate() {
            let me = id(i as u8 + 1);
            if i == byzantine {
                continue;
            }
            if let Some(r) = a.started_round() {
                for n in a.assigned_to(r.height, &me) {
                    a.record_poc(n, 20_000, n == id(6));
                }
            }
        }
        let p = (h % 4) as usize;
        let mut b = if p == byzantine {
            flood(h)
        } else {
            block(&mut apps[p], p as u8 + 1, h)
        };
        if p == byzantine {
            let verdicts: Vec<bool> = apps.iter().map(|a| a.validate(&b).is_ok()).collect();
            assert!(
                verdicts.windows(2).all(|w| w[0] == w[1]),
                "every validator judges alike"
            );
            if !verdicts[0] {
                // Refused: the next validator proposes in the next round instead.
                refused += 1;
                b = block(&mut apps[0], 1, h);
            }
        }
        for a in apps.iter() {
            a.validate(&b).unwrap();
        }
        for a in apps.iter_mut() {
            a.on_commit(&b);
        }
    }
    assert!(refused > 0, "the floods were refused");
    let data = apps[0].epoch_data(0).unwrap();
    let e = |n: u8| data.records.iter().find(|r| r.node == id(n)).unwrap().poc_e;
    assert_eq!(e(6), 20_000, "the honest node's E stands");
    assert_eq!(e(7), 0, "the sybil earns nothing");
}

/// Results for rounds older than the last `poc_rounds_kept` are no longer admitted, and the
/// proposer drops them from its queue.
#[test]
fn results_of_old_rounds_expire() {
    let mut apps: Vec<EdgeApp> = (1..=4).map(|i| EdgeApp::new(id(i), cfg())).collect();
    prepare(&mut apps, 0, &registry());
    let b1 = Block::new(1, Hash([0; 32]), id(2), 1, vec![]);
    for a in apps.iter_mut() {
        a.on_commit(&b1);
    }
    let r1 = apps[0].started_round().unwrap().height;
    let c = apps[0].open_challenge(r1, &id(6)).unwrap();
    let ci = validators().iter().position(|v| *v == c).unwrap();
    apps[ci].record_poc(id(6), 15_000, true);
    // Two more rounds pass with empty blocks by another validator.
    let other = validators().into_iter().find(|v| *v != c).unwrap();
    for h in 2..=3 {
        let b = Block::new(h, Hash([0; 32]), other, h, vec![]);
        for a in apps.iter_mut() {
            a.on_commit(&b);
        }
    }
    assert_eq!(apps[0].open_challenge(r1, &id(6)), None, "round 1 closed");
    let late = Block::new(
        4,
        Hash([0; 32]),
        c,
        4,
        vec![StateBit::Poc(PocResult {
            node: id(6),
            e_fixed: 15_000,
            passed: true,
            validator: c,
        })],
    );
    let open_now = apps[0].admits_poc(&id(6), &c);
    assert_eq!(apps[0].validate(&late).is_ok(), open_now);
    if !open_now {
        assert!(
            proposal(&mut apps[ci], ci as u8 + 1, 4).bits.is_empty(),
            "dropped from the queue"
        );
    }
}

#[test]
fn the_closing_block_commits_to_the_epoch_records_and_every_validator_agrees() {
    let apps = run(L);
    let data = apps[0].epoch_data(0).expect("epoch 0 closed");
    for a in &apps[1..] {
        assert_eq!(
            a.epoch_data(0),
            Some(data),
            "same records on every validator"
        );
    }
    let closing = Block::new(L, Hash([0; 32]), id(3), L, vec![]);
    assert_eq!(apps[0].state_root(&closing), header_hash(&data.header));
    let other = Block::new(L - 1, Hash([0; 32]), id(3), L - 1, vec![]);
    assert_eq!(
        apps[0].state_root(&other),
        other.hash(),
        "not a closing block"
    );

    let by: BTreeMap<NodeId, &NodeRecord> = data.records.iter().map(|r| (r.node, r)).collect();
    assert!(data.records.windows(2).all(|w| w[0].node < w[1].node));
    for v in 1..=4 {
        // Every block: the proposer itself or seen online by the proposer.
        assert_eq!(by[&id(v)].active_blocks, L, "validator {v}");
    }
    assert_eq!(
        by[&id(5)].active_blocks,
        L,
        "the router was seen in every block"
    );
    assert_eq!(by[&id(6)].poc_e, 20_000);
    assert_eq!(by[&id(6)].multiplier, 10_000);
    assert_eq!(data.header.epoch_blocks, L);
    assert_eq!(data.header.node_count, 6);
    // The chunks authenticate against the header's root.
    assert_eq!(data.chunks.len(), 3);
    for c in &data.chunks {
        let leaf = chunk_hash(0, c.index, &c.records);
        assert_eq!(
            root_from_proof(leaf, c.index, data.header.chunk_count, &c.proof),
            Some(data.header.chunks_root)
        );
    }
    // The next epoch starts from zero.
    assert!(apps[0]
        .current_records()
        .iter()
        .all(|r| r.active_blocks == 0));
}

#[test]
fn silence_costs_activity_and_a_replayed_block_counts_once() {
    let mut apps = run(L / 2);
    // Validator 4 stops being seen (and stops proposing: the others take its turns).
    for a in &mut apps {
        a.observe(id(4), false);
    }
    for h in L / 2 + 1..=L {
        let p = (h % 3) as usize;
        let b = sealed_block(&mut apps[p], p as u8 + 1, h, &[1, 2, 3]);
        for a in &mut apps {
            a.on_commit(&b);
            a.on_commit(&b); // a replay is ignored
        }
    }
    let data = apps[1].epoch_data(0).unwrap();
    let v4 = data.records.iter().find(|r| r.node == id(4)).unwrap();
    assert_eq!(v4.active_blocks, L / 2);
}

#[test]
fn epoch_e_is_the_median_of_passed_results_when_most_passed() {
    let t = |passed: &[u64], failed: u64| Tally {
        poc_passed: passed.to_vec(),
        poc_failed: failed,
        ..Tally::default()
    };
    assert_eq!(epoch_e(&t(&[], 0)), 0);
    assert_eq!(epoch_e(&t(&[10, 30, 20], 0)), 20);
    assert_eq!(
        epoch_e(&t(&[10, 30, 1_000_000], 1)),
        30,
        "one outlier moves nothing"
    );
    assert_eq!(epoch_e(&t(&[10, 30], 2)), 0, "half failed");
}

#[test]
fn pending_poc_results_leave_the_queue_once_our_block_commits() {
    // Validator 1 alone: every round gives it every compute node.
    let mut app = EdgeApp::new(id(1), cfg());
    let mut nodes = registry();
    nodes.push(RegistryNode {
        id: id(7),
        owner: Principal::from_slice(&[7, 1]),
        role: Role::Compute,
        stake_e8s: 0,
        multiplier: 10_000,
    });
    app.set_snapshot(0, Some(nodes));
    app.set_members(0, vec![id(1)]);
    app.on_commit(&Block::new(1, Hash([0; 32]), id(1), 1, vec![]));
    app.record_poc(id(6), 15_000, true);
    app.record_poc(id(7), 9_999, false);
    let b = proposal(&mut app, 1, 2);
    assert_eq!(b.bits.len(), 2);
    assert!(matches!(&b.bits[1], StateBit::Poc(p) if p.e_fixed == 0 && !p.passed));
    // Not committed yet: proposed again.
    assert_eq!(proposal(&mut app, 1, 2).bits.len(), 2);
    app.on_commit(&b);
    assert!(proposal(&mut app, 1, 3).bits.is_empty());
}

/// Drives `apps` (validators 1..=4 taking turns) from `from` to `to` inclusive.
fn drive(apps: &mut [EdgeApp], from: u64, to: u64) {
    for h in from..=to {
        step(apps, h);
    }
}

#[test]
fn validators_that_fetched_the_registry_at_different_moments_agree_on_the_records() {
    // Validators 1, 3 and 4 fetched epoch 1's snapshot as soon as the registry took it (in
    // the middle of epoch 0); validator 2 only as epoch 0 ended (its registry calls were slow,
    // and stakes and registrations changed in between). The snapshot of an epoch is immutable
    // and fetched by epoch id, so all four derive the same records and closing state root.
    // (The shell feeds an epoch's validator set only with its snapshot, so no validator
    // enters an epoch without it.)
    let mut apps = run(L / 2);
    for i in [0, 2, 3] {
        apps[i].set_snapshot(1, Some(registry()));
    }
    drive(&mut apps, L / 2 + 1, L);
    apps[1].set_snapshot(1, Some(registry()));
    for a in &mut apps {
        a.set_members(1, validators());
    }
    drive(&mut apps, L + 1, 2 * L);
    let root = |a: &EdgeApp| a.state_root(&Block::new(2 * L, Hash([0; 32]), id(1), 2 * L, vec![]));
    let first = apps[0].epoch_data(1).cloned().expect("closed");
    for a in &apps[1..] {
        assert_eq!(a.epoch_data(1), Some(&first));
        assert_eq!(root(a), root(&apps[0]));
    }
    assert_eq!(root(&apps[0]), header_hash(&first.header));
}

#[test]
fn a_second_snapshot_for_an_epoch_changes_nothing_and_closed_epochs_ignore_snapshots() {
    let mut app = EdgeApp::new(id(1), cfg());
    app.set_snapshot(0, Some(registry()));
    let mut changed = registry();
    changed[0].stake_e8s = 999;
    app.set_snapshot(0, Some(changed.clone()));
    assert_eq!(
        app.current_records()[0].stake_e8s,
        100,
        "the first one stays"
    );
    let mut apps = [app];
    for h in 1..=L {
        let b = Block::new(h, Hash([0; 32]), id(1), h, vec![]);
        apps[0].on_commit(&b);
    }
    assert_eq!(apps[0].epoch(), 1);
    apps[0].set_snapshot(0, Some(changed));
    assert!(!apps[0].has_snapshot(0), "epoch 0 is closed: ignored");
}

#[test]
fn without_a_snapshot_an_epoch_closes_with_no_data_and_the_block_hash_as_root() {
    let mut app = EdgeApp::new(id(1), cfg());
    for h in 1..=L {
        app.on_commit(&Block::new(h, Hash([0; 32]), id(1), h, vec![]));
    }
    let closing = Block::new(L, Hash([0; 32]), id(1), L, vec![]);
    assert_eq!(app.epoch_data(0), None);
    assert_eq!(app.state_root(&closing), closing.hash());
    // Told the registry has none: the same outcome, deterministically.
    let mut told = EdgeApp::new(id(2), cfg());
    told.set_snapshot(0, None::<Vec<RegistryNode>>);
    assert!(told.has_snapshot(0));
    for h in 1..=L {
        told.on_commit(&Block::new(h, Hash([0; 32]), id(1), h, vec![]));
    }
    assert_eq!(told.state_root(&closing), closing.hash());
}

#[test]
fn closed_epochs_are_taken_once_and_memory_stays_bounded_over_fifty_epochs() {
    let mut apps: Vec<EdgeApp> = (1..=4).map(|i| EdgeApp::new(id(i), cfg())).collect();
    let mut sizes = Vec::new();
    for e in 0..50u64 {
        prepare(&mut apps, e, &registry());
        prepare(&mut apps, e + 1, &registry());
        drive(&mut apps, e * L + 1, (e + 1) * L);
        // The shell hands every other epoch's data to its anchor; the rest stays until the cap.
        if e % 2 == 0 {
            let d = apps[0].take_epoch_data(e).expect("closed with data");
            assert_eq!(d.header.epoch, e);
            assert_eq!(apps[0].take_epoch_data(e), None, "taken once");
        }
        sizes.push((apps[0].closed_epochs(), apps[0].snapshots_held()));
    }
    let (closed, snaps) = sizes
        .iter()
        .fold((0, 0), |m, s| (m.0.max(s.0), m.1.max(s.1)));
    assert!(closed <= cfg().max_closed, "closed epochs held: {closed}");
    assert!(snaps <= 2, "snapshots held: {snaps}");
    apps[0].prune_before(50);
    assert_eq!(apps[0].closed_epochs(), 0);
}

#[test]
fn a_validator_restored_from_a_compacted_log_closes_only_the_epochs_it_replays() {
    // Its log starts at the first block of epoch 3: epochs 0..=2 are not its to close.
    let mut app = EdgeApp::new(id(1), cfg());
    app.set_snapshot(3, Some(registry()));
    app.set_members(3, validators());
    for h in 3 * L + 1..=4 * L {
        app.on_commit(&Block::new(h, Hash([0; 32]), id(2), h, vec![]));
    }
    assert_eq!(app.closed_epochs(), 1);
    let d = app.epoch_data(3).expect("epoch 3 closed");
    let v2 = d.records.iter().find(|r| r.node == id(2)).unwrap();
    assert_eq!(v2.active_blocks, L);
}

/// Liveness bits by `observer` about `subjects`, all `online` or all offline.
fn seen(observer: u8, subjects: &[u8], online: bool) -> Vec<StateBit> {
    subjects
        .iter()
        .map(|s| {
            StateBit::Liveness(LivenessObservation {
                observer: id(observer),
                subject: id(*s),
                online,
            })
        })
        .collect()
}

/// The records of epoch 0 after the blocks `build(height, turn)` gives as (proposer, bits)
/// (validator `turn` of 1..=4 has the turn), for the nodes of `nodes` (validators 1..=4 are
/// the set).
fn records_after(
    cfg: AppConfig,
    nodes: Vec<RegistryNode>,
    build: impl Fn(u64, u8) -> (u8, Vec<StateBit>),
) -> BTreeMap<NodeId, NodeRecord> {
    let mut app = EdgeApp::new(id(1), cfg.clone());
    app.set_snapshot(0, Some(nodes));
    app.set_members(0, validators());
    for h in 1..=cfg.epoch_length {
        let (proposer, bits) = build(h, (h % 4) as u8 + 1);
        let b = Block::new(h, Hash([0; 32]), id(proposer), h, bits);
        app.on_commit(&b);
    }
    let data = app.take_epoch_data(0).expect("epoch 0 closed");
    data.records.into_iter().map(|r| (r.node, r)).collect()
}

/// Validators 1..=4, router 5 and compute node 6, all staked.
fn staked_nodes() -> Vec<RegistryNode> {
    vec![
        node(1, Role::Validator, 100),
        node(2, Role::Validator, 100),
        node(3, Role::Validator, 100),
        node(4, Role::Validator, 100),
        node(5, Role::Router, 10),
        node(6, Role::Compute, 1_000),
    ]
}

fn node(i: u8, role: Role, stake_e8s: u64) -> RegistryNode {
    RegistryNode {
        id: id(i),
        owner: Principal::from_slice(&[i, 1]),
        role,
        stake_e8s,
        multiplier: 10_000,
    }
}

/// Issue #21, finding 3: one Byzantine validator of four (F = 1) leaves an honest validator's
/// seal out of its blocks' parent commits and reports the honest router and compute node
/// offline, and reports its own dead router online. Activity is judged per minute from agreed
/// facts (seals; most proposers' reports), so the honest nodes' records are exactly those of
/// a run without the Byzantine validator, and the dead router is fined for every 10 minutes.
/// (Before: a node was active only in blocks whose proposer saw it online, so the omissions
/// cost the honest nodes a quarter of their blocks, and missed blocks were fined as minutes.)
#[test]
fn a_byzantine_proposer_cannot_cost_honest_nodes_activity_or_fines() {
    let cfg = AppConfig {
        epoch_length: 480,
        slot_blocks: 4,
        ..cfg()
    };
    let mut nodes = staked_nodes();
    nodes.push(node(7, Role::Router, 10));
    let honest = |_h: u64, p: u8| {
        let mut bits = vec![parent_commit(&[1, 2, 3, 4])];
        bits.extend(seen(p, &[5, 6], true));
        bits.extend(seen(p, &[7], false));
        (p, bits)
    };
    let byzantine = |h: u64, p: u8| {
        if p != 4 {
            return honest(h, p);
        }
        let mut bits = vec![parent_commit(&[2, 3, 4])];
        bits.extend(seen(p, &[5, 6], false));
        bits.extend(seen(p, &[7], true));
        (p, bits)
    };
    let clean = records_after(cfg.clone(), nodes.clone(), honest);
    let attacked = records_after(cfg.clone(), nodes, byzantine);
    for n in [1, 2, 3, 5, 6] {
        assert_eq!(attacked[&id(n)], clean[&id(n)], "node {n}");
        assert_eq!(attacked[&id(n)].active_blocks, 480, "node {n}");
        assert_eq!(attacked[&id(n)].penalty_minutes, 0, "node {n}");
    }
    // 120 minutes offline in most proposers' eyes: twelve 10-minute periods.
    assert_eq!(attacked[&id(7)].active_blocks, 0);
    assert_eq!(attacked[&id(7)].penalty_minutes, 120);
}

/// Issue #21, findings 3 and 8: outages are continuous runs of inactive minutes, fined per
/// whole period (validators 60, routers 10, staked compute nodes 60); a validator outside
/// the epoch's set is neither paid nor fined; an unstaked compute node is not fined; a node
/// that joined after the epoch's snapshot has no record (nothing before it existed).
#[test]
fn outages_are_continuous_runs_fined_per_whole_period() {
    // One block a minute, 200 minutes.
    let cfg = AppConfig {
        epoch_length: 200,
        slot_blocks: 1,
        ..cfg()
    };
    let mut nodes = staked_nodes();
    nodes.push(node(8, Role::Compute, 0));
    nodes.push(node(9, Role::Validator, 100));
    let down = |v: u8, h: u64| match v {
        // 70 minutes, then 40 and 40 (not continuous): one period.
        4 => (11..=80).contains(&h) || (101..=140).contains(&h) || (151..=190).contains(&h),
        // 25 minutes: two periods.
        5 => (21..=45).contains(&h),
        // 130 minutes: two periods.
        6 => (31..=160).contains(&h),
        8 => true,
        _ => false,
    };
    let records = records_after(cfg, nodes, |h, p| {
        // A silent validator neither seals nor proposes (the next one proposes instead).
        let p = if down(p, h) { p % 4 + 1 } else { p };
        let signers: Vec<u8> = (1..=4).filter(|v| !down(*v, h)).collect();
        let mut bits = vec![parent_commit(&signers)];
        for s in [5, 6, 8] {
            bits.extend(seen(p, &[s], !down(s, h)));
        }
        (p, bits)
    });
    let r = |i: u8| {
        (
            records[&id(i)].active_blocks,
            records[&id(i)].penalty_minutes,
        )
    };
    assert_eq!(r(1), (200, 0));
    assert_eq!(r(4), (200 - 70 - 40 - 40, 60));
    assert_eq!(r(5), (200 - 25, 20));
    assert_eq!(r(6), (200 - 130, 120));
    assert_eq!(r(8), (0, 0), "unstaked compute: no fine");
    assert_eq!(r(9), (0, 0), "outside the set: no pay, no fine");
    assert!(!records.contains_key(&id(10)), "joined later: no record");
}

/// Issue #21, the whole network: four validators run an epoch, one of them Byzantine. It lies
/// as a challenger (fails the honest compute node, passes its own silent sybil at the largest
/// E), floods PoC results it has no challenge for (those blocks are refused and the next
/// validator proposes instead), reports the honest router and compute node offline, and
/// leaves an honest validator's seal out of its parent commits. Every honest node's record,
/// reward weight and penalty are exactly those of the same epoch without the attack, and the
/// sybil earns nothing.
#[test]
fn one_byzantine_validator_changes_no_honest_reward_or_penalty() {
    const EPOCH: u64 = 480;
    let cfg = AppConfig {
        epoch_length: EPOCH,
        slot_blocks: 4,
        ..cfg()
    };
    const EMC: u64 = 100_000_000;
    let mut nodes = registry();
    for n in &mut nodes[..4] {
        n.stake_e8s = 1_000_000 * EMC;
    }
    nodes[4].stake_e8s = 100_000 * EMC;
    nodes[5].stake_e8s = 2_000 * EMC; // the compute node is staked (fined for outages)
    nodes.push(RegistryNode {
        id: id(7),
        owner: Principal::from_slice(&[4, 1]),
        role: Role::Compute,
        stake_e8s: 0,
        multiplier: 10_000,
    });
    let run = |attack: bool| {
        let mut apps: Vec<EdgeApp> = (1..=4).map(|i| EdgeApp::new(id(i), cfg.clone())).collect();
        prepare(&mut apps, 0, &nodes);
        let byzantine = 3; // validator 4
        let mut refused = 0;
        for h in 1..=EPOCH {
            for (i, a) in apps.iter_mut().enumerate() {
                let me = id(i as u8 + 1);
                let lying = attack && i == byzantine;
                for s in 1..=5 {
                    a.observe(id(s), !lying || s < 5);
                }
                a.observe(id(6), !lying);
                a.observe(id(7), lying);
                if let Some(r) = a.started_round() {
                    for n in a.assigned_to(r.height, &me) {
                        // Honest: the compute node passes at E = 2.0, the silent sybil fails.
                        let (e, passed) = match (lying, n == id(6)) {
                            (false, true) => (20_000, true),
                            (false, false) => (0, false),
                            (true, true) => (0, false),
                            (true, false) => (MAX_E_FIXED, true),
                        };
                        a.record_poc(n, e, passed);
                    }
                }
            }
            let p = (h % 4) as usize;
            let b = if attack && p == byzantine {
                let mut b = sealed_block(&mut apps[p], 4, h, &[2, 3, 4]);
                if h % 8 == 3 {
                    // A flood of results without a challenge.
                    let mut bits = b.bits.clone();
                    bits.push(StateBit::Poc(PocResult {
                        node: id(6),
                        e_fixed: 0,
                        passed: false,
                        validator: id(4),
                    }));
                    bits.push(StateBit::Poc(PocResult {
                        node: id(7),
                        e_fixed: MAX_E_FIXED,
                        passed: true,
                        validator: id(4),
                    }));
                    b = Block::new(h, Hash([0; 32]), id(4), h, bits);
                }
                if apps.iter().take(3).any(|a| a.validate(&b).is_err()) {
                    refused += 1;
                    block(&mut apps[0], 1, h)
                } else {
                    b
                }
            } else {
                block(&mut apps[p], p as u8 + 1, h)
            };
            for a in apps.iter().take(3) {
                a.validate(&b).unwrap();
            }
            for a in apps.iter_mut() {
                a.on_commit(&b);
            }
        }
        assert_eq!(refused > 0, attack, "floods refused");
        let data = apps[0].take_epoch_data(0).unwrap();
        for a in &mut apps[1..3] {
            assert_eq!(
                a.take_epoch_data(0).unwrap(),
                data,
                "honest validators agree"
            );
        }
        data.records
    };
    let (clean, attacked) = (run(false), run(true));
    let params = emc_epochs::Params::default();
    let weights = |records: &[NodeRecord]| -> Vec<(NodeId, u64, u64)> {
        records
            .iter()
            .map(|r| {
                let w = emc_epochs::epochs::weight_of(r, EPOCH, &params);
                (r.node, w, r.penalty_minutes)
            })
            .collect()
    };
    let (wc, wa) = (weights(&clean), weights(&attacked));
    for n in [1, 2, 3, 5, 6] {
        let i = clean.iter().position(|r| r.node == id(n)).unwrap();
        assert_eq!(attacked[i], clean[i], "node {n}'s record");
        assert_eq!(wa[i], wc[i], "node {n}'s weight and penalty");
        assert!(
            wc[i].1 > 0 && wc[i].2 == 0,
            "node {n} is paid and not fined"
        );
    }
    // Rewards are shares of the total weight: the total did not move either.
    let total = |w: &[(NodeId, u64, u64)]| w.iter().map(|x| x.1).sum::<u64>();
    assert_eq!(total(&wa), total(&wc));
    let sybil = attacked.iter().find(|r| r.node == id(7)).unwrap();
    assert_eq!(sybil.poc_e, 0, "the sybil earns nothing");
}

/// A receipt of `user` paying `node` through router 5, signed by both (`units` at price 3).
fn receipt(
    user: &emc_consensus::Ed25519Signer,
    node: &emc_consensus::Ed25519Signer,
    epoch: u64,
    nonce: u64,
    units: u64,
    cumulative_e8s: u64,
) -> emc_types::ComputeReceipt {
    use emc_consensus::Signer;
    let mut r = emc_types::ComputeReceipt {
        user: user.node_id(),
        node: node.node_id(),
        router: id(5),
        epoch,
        nonce,
        request_hash: Hash([nonce as u8; 32]),
        response_hash: Hash([0xaa; 32]),
        unit: emc_types::MeterUnit::Tokens,
        units,
        price_e8s: 3,
        cumulative_e8s,
        node_signature: emc_types::Signature([0; 64]),
        user_signature: emc_types::Signature([0; 64]),
    };
    let body = r.body_hash();
    r.node_signature = node.sign(&body.0);
    r.user_signature = user.sign(&body.0);
    r
}

/// Issue #14: a receipt enters a block only of its epoch, between a compute node and a router
/// of the epoch's snapshot, signed by both the node and the user over the same body, and
/// moving its lane forward (higher nonce, cumulative amount covering the lane's last plus this
/// call). Forged, altered, replayed and non-monotone receipts are refused by the proposer's
/// queue and by every validator's `validate`; lanes start again with each epoch.
#[test]
fn receipts_enter_blocks_signed_by_both_and_moving_their_lane_forward() {
    use crate::receipts::ReceiptError;
    use emc_consensus::{Ed25519Signer, Signer};
    let user = Ed25519Signer::from_seed([21; 32]);
    let gpu = Ed25519Signer::from_seed([22; 32]);
    let mallory = Ed25519Signer::from_seed([23; 32]);
    let mut nodes = registry();
    nodes.push(RegistryNode {
        id: gpu.node_id(),
        owner: Principal::from_slice(&[22, 1]),
        role: Role::Compute,
        stake_e8s: 0,
        multiplier: 10_000,
    });
    let mut app = EdgeApp::new(id(1), cfg());
    app.set_snapshot(0, Some(nodes.clone()));
    app.set_members(0, validators());
    app.set_snapshot(1, Some(nodes));
    app.set_members(1, validators());

    let r1 = receipt(&user, &gpu, 0, 1, 10, 30);
    app.record_receipt(r1.clone()).unwrap();
    let b1 = block(&mut app, 1, 1);
    assert!(b1.bits.contains(&StateBit::Receipt(r1.clone())));
    app.validate(&b1).unwrap();
    app.on_commit(&b1);
    let lane = app.lane(&user.node_id(), &gpu.node_id()).unwrap();
    assert_eq!((lane.nonce, lane.cumulative_e8s), (1, 30));
    assert_eq!(app.pending_receipts(), 0, "committed: no longer queued");

    let not_monotone = |nonce, cumulative| ReceiptError::NotMonotone {
        last_nonce: nonce,
        last_cumulative_e8s: cumulative,
    };
    let mut altered = receipt(&user, &gpu, 0, 2, 10, 60);
    altered.units = 1_000;
    altered.cumulative_e8s = 3_030;
    let mut forged_user = receipt(&user, &gpu, 0, 2, 10, 60);
    forged_user.user_signature = mallory.sign(&forged_user.body_hash().0);
    let bad = [
        (r1.clone(), not_monotone(1, 30)), // replayed
        (receipt(&user, &gpu, 0, 2, 10, 50), not_monotone(1, 30)), // under the lane's amount
        (altered, ReceiptError::BadNodeSignature),
        (forged_user, ReceiptError::BadUserSignature),
        (
            receipt(&user, &gpu, 1, 2, 10, 60),
            ReceiptError::WrongEpoch { got: 1, want: 0 },
        ),
        (
            receipt(&user, &mallory, 0, 1, 10, 30),
            ReceiptError::UnknownNode,
        ),
        (receipt(&user, &gpu, 0, 2, 0, 60), ReceiptError::BadAmount),
    ];
    for (r, why) in bad {
        assert_eq!(app.record_receipt(r.clone()), Err(why.clone()), "{why}");
        let b = Block::new(
            2,
            Hash([0; 32]),
            id(2),
            2,
            vec![parent_commit(&[1, 2, 3, 4]), StateBit::Receipt(r)],
        );
        assert!(app.validate(&b).is_err(), "{why} in a block");
    }
    // A router that is not a router of the epoch.
    let mut via_validator = receipt(&user, &gpu, 0, 2, 10, 60);
    via_validator.router = id(2);
    assert_eq!(
        app.record_receipt(via_validator),
        Err(ReceiptError::UnknownRouter)
    );

    // Two receipts of one lane in one block: in order they pass, out of order not.
    let (r2, r3) = (
        receipt(&user, &gpu, 0, 2, 10, 60),
        receipt(&user, &gpu, 0, 3, 10, 90),
    );
    // r2 was verified when a router handed it over, so `validate` skips its signatures; the
    // same body under another user signature is a different receipt and is still refused.
    app.record_receipt(r2.clone()).unwrap();
    // A restarted node resumes from the latest receipt here, pending ones included.
    assert_eq!(
        app.lane_state(&user.node_id(), &gpu.node_id(), 0),
        Some((2, 60))
    );
    assert_eq!(app.lane_state(&user.node_id(), &gpu.node_id(), 1), None);
    assert_eq!(app.lane_state(&gpu.node_id(), &user.node_id(), 0), None);
    let mut r2_forged = r2.clone();
    r2_forged.user_signature = mallory.sign(&r2.body_hash().0);
    let forged_block = Block::new(
        2,
        Hash([0; 32]),
        id(3),
        2,
        vec![parent_commit(&[1, 2, 3, 4]), StateBit::Receipt(r2_forged)],
    );
    assert!(app
        .validate(&forged_block)
        .is_err_and(|e| e.contains("user signature")));
    let two = |a: &emc_types::ComputeReceipt, b: &emc_types::ComputeReceipt| {
        Block::new(
            2,
            Hash([0; 32]),
            id(3),
            2,
            vec![
                parent_commit(&[1, 2, 3, 4]),
                StateBit::Receipt(a.clone()),
                StateBit::Receipt(b.clone()),
            ],
        )
    };
    assert!(app.validate(&two(&r3, &r2)).is_err());
    let b2 = two(&r2, &r3);
    app.validate(&b2).unwrap();
    app.on_commit(&b2);
    assert_eq!(app.lane(&user.node_id(), &gpu.node_id()).unwrap().nonce, 3);

    // The next epoch starts every lane again.
    for h in 3..=L {
        let b = block(&mut app, (h % 4) as u8 + 1, h);
        app.on_commit(&b);
    }
    assert_eq!(app.lane(&user.node_id(), &gpu.node_id()), None);
    app.record_receipt(receipt(&user, &gpu, 1, 1, 10, 30))
        .unwrap();
}

/// A router's batch is admitted exactly as receipt by receipt: with one bad signature (of
/// the node or the user) among good ones, only that receipt is refused; a block carrying
/// receipts this validator never verified checks them all together, and one bad signature
/// among them refuses the block.
#[test]
fn a_batch_with_one_bad_signature_refuses_just_that_receipt_and_any_block_with_it() {
    use crate::receipts::ReceiptError;
    use emc_consensus::{Ed25519Signer, Signer};
    let users: Vec<Ed25519Signer> = (0..5)
        .map(|i| Ed25519Signer::from_seed([40 + i; 32]))
        .collect();
    let gpu = Ed25519Signer::from_seed([22; 32]);
    let mallory = Ed25519Signer::from_seed([23; 32]);
    let mut nodes = registry();
    nodes.push(RegistryNode {
        id: gpu.node_id(),
        owner: Principal::from_slice(&[22, 1]),
        role: Role::Compute,
        stake_e8s: 0,
        multiplier: 10_000,
    });
    let fresh = || {
        let mut app = EdgeApp::new(id(1), cfg());
        app.set_snapshot(0, Some(nodes.clone()));
        app.set_members(0, validators());
        app
    };
    // Four receipts per user, in lane order.
    let good: Vec<emc_types::ComputeReceipt> = (1..=4u64)
        .flat_map(|n| users.iter().map(move |u| (u, n)))
        .map(|(u, n)| receipt(u, &gpu, 0, n, 10, 30 * n))
        .collect();
    for (bad_at, by_node) in [(0, true), (7, false), (19, true), (12, false)] {
        let mut batch = good.clone();
        let body = batch[bad_at].body_hash();
        if by_node {
            batch[bad_at].node_signature = mallory.sign(&body.0);
        } else {
            batch[bad_at].user_signature = mallory.sign(&body.0);
        }
        let want = if by_node {
            ReceiptError::BadNodeSignature
        } else {
            ReceiptError::BadUserSignature
        };
        let mut one_by_one = fresh();
        let singles: Vec<_> = batch
            .iter()
            .map(|r| one_by_one.record_receipt(r.clone()))
            .collect();
        let mut app = fresh();
        let verdicts = app.record_receipts(batch.clone());
        assert_eq!(verdicts, singles);
        for (i, v) in verdicts.iter().enumerate() {
            assert_eq!(
                v,
                &if i == bad_at {
                    Err(want.clone())
                } else {
                    Ok(())
                }
            );
        }
        assert_eq!(app.pending_receipts(), good.len() - 1);

        // Blocks: a validator that never saw them verifies every signature.
        let with = |rs: &[emc_types::ComputeReceipt]| {
            let mut bits = vec![parent_commit(&[1, 2, 3, 4])];
            bits.extend(rs.iter().cloned().map(StateBit::Receipt));
            Block::new(1, Hash([0; 32]), id(2), 1, bits)
        };
        let stranger = fresh();
        stranger.validate(&with(&good)).unwrap();
        let err = stranger.validate(&with(&batch)).unwrap_err();
        assert!(err.contains(&want.to_string()), "{err}");
        // Our own queue never proposes the bad one.
        let b = block(&mut app, 1, 1);
        assert_eq!(
            b.bits
                .iter()
                .filter(|x| matches!(x, StateBit::Receipt(_)))
                .count(),
            good.len() - 1
        );
        assert!(!b.bits.contains(&StateBit::Receipt(batch[bad_at].clone())));
    }
}

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
        ..AppConfig::default()
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

/// A block by `proposer` at `height` with the proposer's application's proposal.
fn block(app: &mut EdgeApp, proposer: u8, height: u64) -> Block {
    let bits = app.propose(height, 0);
    Block::new(height, Hash([0; 32]), id(proposer), height, bits)
}

/// Four validators take turns for `blocks` heights; each saw the others and the router
/// online, and validator 1 measured the compute node at E = 2.0 in every block of its own.
fn run(blocks: u64) -> Vec<EdgeApp> {
    let mut apps: Vec<EdgeApp> = (1..=4).map(|i| EdgeApp::new(id(i), cfg())).collect();
    for a in &mut apps {
        a.set_snapshot(0, Some(registry()));
        for s in 1..=5 {
            a.observe(id(s), true);
        }
    }
    for h in 1..=blocks {
        let p = (h % 4) as usize;
        if p == 0 {
            apps[0].record_poc(id(6), 20_000, true);
        }
        let b = block(&mut apps[p], p as u8 + 1, h);
        for a in &apps {
            a.validate(&b).unwrap();
        }
        for a in &mut apps {
            a.on_commit(&b);
        }
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
    let b = block(&mut app, 1, 1);
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
    let poc = |validator: u8, e: u64, passed: bool| {
        StateBit::Poc(PocResult {
            node: id(6),
            e_fixed: e,
            passed,
            validator: id(validator),
        })
    };
    assert!(app.validate(&with(vec![poc(1, 5, true)])).is_ok());
    assert!(
        app.validate(&with(vec![poc(2, 5, true)])).is_err(),
        "another validator"
    );
    assert!(
        app.validate(&with(vec![poc(1, 5, false)])).is_err(),
        "failed with an E"
    );
    assert!(app
        .validate(&with(vec![poc(1, MAX_E_FIXED + 1, true)]))
        .is_err());
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
        let b = block(&mut apps[p], p as u8 + 1, h);
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
        active_blocks: 0,
        poc_passed: passed.to_vec(),
        poc_failed: failed,
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
    let mut app = EdgeApp::new(id(1), cfg());
    app.record_poc(id(6), 15_000, true);
    app.record_poc(id(7), 9_999, false);
    let b = block(&mut app, 1, 1);
    assert_eq!(b.bits.len(), 2);
    assert!(matches!(&b.bits[1], StateBit::Poc(p) if p.e_fixed == 0 && !p.passed));
    // Not committed yet: proposed again.
    assert_eq!(block(&mut app, 1, 1).bits.len(), 2);
    app.on_commit(&b);
    assert!(block(&mut app, 1, 2).bits.is_empty());
}

/// Drives `apps` (validators 1..=4 taking turns) from `from` to `to` inclusive.
fn drive(apps: &mut [EdgeApp], from: u64, to: u64) {
    for h in from..=to {
        let p = (h % 4) as usize;
        let b = block(&mut apps[p], p as u8 + 1, h);
        for a in apps.iter() {
            a.validate(&b).unwrap();
        }
        for a in apps.iter_mut() {
            a.on_commit(&b);
        }
    }
}

#[test]
fn validators_that_fetched_the_registry_at_different_moments_agree_on_the_records() {
    // Validators 1, 3 and 4 fetched epoch 1's snapshot as soon as the registry took it;
    // validator 2 only one block before the epoch closes (its registry calls were slow, and
    // stakes and registrations changed in between). The snapshot of an epoch is immutable and
    // fetched by epoch id, so all four derive the same records and closing state root.
    let mut apps = run(L);
    for i in [0, 2, 3] {
        apps[i].set_snapshot(1, Some(registry()));
    }
    drive(&mut apps, L + 1, 2 * L - 1);
    apps[1].set_snapshot(1, Some(registry()));
    drive(&mut apps, 2 * L, 2 * L);
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
    let mut apps = vec![app];
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
        for a in &mut apps {
            a.set_snapshot(e, Some(registry()));
            a.set_snapshot(e + 1, Some(registry()));
        }
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
    for h in 3 * L + 1..=4 * L {
        app.on_commit(&Block::new(h, Hash([0; 32]), id(2), h, vec![]));
    }
    assert_eq!(app.closed_epochs(), 1);
    let d = app.epoch_data(3).expect("epoch 3 closed");
    let v2 = d.records.iter().find(|r| r.node == id(2)).unwrap();
    assert_eq!(v2.active_blocks, L);
}

//! Tests of the embedded IC through the test canister (canisters/test-canister), on every
//! backend of `emc-test-env` where the behaviour is the IC's, and on the embedded IC alone where
//! they look inside it (instruction counts, heap size, configurable limits).

use candid::{Decode, Encode, Principal};
use emc_embedded_ic::{certificate, EmbeddedIc, IcConfig, IcError, RejectCode};
use emc_test_env::{canister_wasm, user, EmbeddedEnv, TestEnv, TestEnvExt};
use std::time::Duration;

fn wasm() -> Vec<u8> {
    canister_wasm("test-canister")
}

fn admin() -> Principal {
    user(1)
}

fn no_arg() -> Vec<u8> {
    Encode!(&None::<InitArg>).unwrap()
}

#[derive(candid::CandidType)]
struct InitArg {
    greeting: String,
}

fn greeting_arg(g: &str) -> Vec<u8> {
    Encode!(&Some(InitArg {
        greeting: g.to_string()
    }))
    .unwrap()
}

fn install(env: &mut dyn TestEnv) -> Principal {
    env.install(&wasm(), no_arg(), vec![admin()])
        .expect("install")
}

/// Runs `scenario` on every backend available here.
fn on_all(scenario: impl Fn(&mut dyn TestEnv)) {
    for mut env in emc_test_env::all() {
        eprintln!("backend: {}", env.name());
        scenario(env.as_mut());
    }
}

fn get(env: &mut dyn TestEnv, id: Principal) -> u64 {
    let (n,): (u64,) = env.query_candid(id, admin(), "get", ()).unwrap();
    n
}

#[test]
fn replies_and_explicit_rejects() {
    on_all(|env| {
        let id = install(env);
        let (s,): (String,) = env.query_candid(id, admin(), "greet", ("EMC",)).unwrap();
        assert_eq!(s, "Hello, EMC!");
        let (b,): (Vec<u8>,) = env
            .update_candid(id, admin(), "echo", (vec![1u8, 2, 3],))
            .unwrap();
        assert_eq!(b, vec![1, 2, 3]);
        let r = env
            .update(id, admin(), "reject_with", Encode!(&"no thanks").unwrap())
            .unwrap_err();
        assert_eq!(r.code, RejectCode::CanisterReject);
        assert_eq!(r.message, "no thanks");
    });
}

#[test]
fn init_arguments_reach_the_canister() {
    on_all(|env| {
        let id = env
            .install(&wasm(), greeting_arg("Salut"), vec![admin()])
            .unwrap();
        let (s,): (String,) = env.query_candid(id, admin(), "greet", ("EMC",)).unwrap();
        assert_eq!(s, "Salut, EMC!");
        let err = env
            .install(&wasm(), greeting_arg("trap"), vec![admin()])
            .unwrap_err();
        assert!(err.contains("asked to trap"), "{err}");
    });
}

#[test]
fn a_trap_rolls_back_heap_stable_memory_and_certified_data() {
    on_all(|env| {
        let id = install(env);
        let (n,): (u64,) = env.update_candid(id, admin(), "inc", ()).unwrap();
        assert_eq!(n, 1);
        env.update_candid::<_, ()>(id, admin(), "set_certified", (vec![9u8; 32],))
            .unwrap();
        let r = env
            .update(id, admin(), "write_then_trap", Encode!(&"k", &"v").unwrap())
            .unwrap_err();
        assert_eq!(r.code, RejectCode::CanisterError);
        assert!(
            r.message.contains("deliberate trap after writing"),
            "{}",
            r.message
        );
        assert_eq!(get(env, id), 1, "heap write survived the trap");
        let (h,): (Option<String>,) = env.query_candid(id, admin(), "heap_get", ("k",)).unwrap();
        assert_eq!(h, None);
        let (s,): (Option<String>,) = env.query_candid(id, admin(), "stable_get", ("k",)).unwrap();
        assert_eq!(s, None, "stable-memory write survived the trap");
        let (cert,): (Option<Vec<u8>>,) = env.query_candid(id, admin(), "certificate", ()).unwrap();
        let tree = certificate::decode_certificate_tree(&cert.unwrap()).unwrap();
        let data = tree
            .lookup(&[b"canister", id.as_slice(), b"certified_data"])
            .unwrap();
        assert_eq!(
            data,
            &[9u8; 32][..],
            "certified data changed by a trapped message"
        );
        // The canister keeps serving.
        let (n,): (u64,) = env.update_candid(id, admin(), "inc", ()).unwrap();
        assert_eq!(n, 2);
    });
}

#[test]
fn queries_never_persist() {
    on_all(|env| {
        let id = install(env);
        let (n,): (u64,) = env.query_candid(id, admin(), "inc_in_query", ()).unwrap();
        assert_eq!(n, 1);
        assert_eq!(get(env, id), 0);
        // A query method called as an update runs in replicated mode and is discarded too.
        let (n,): (u64,) = env.update_candid(id, admin(), "inc_in_query", ()).unwrap();
        assert_eq!(n, 1);
        assert_eq!(get(env, id), 0);
    });
}

#[test]
fn stable_memory_survives_upgrade_and_the_heap_does_not() {
    on_all(|env| {
        let id = install(env);
        env.update_candid::<_, ()>(id, admin(), "stable_put", ("a", "1"))
            .unwrap();
        env.update_candid::<_, ()>(id, admin(), "heap_put", ("b", "2"))
            .unwrap();
        env.upgrade(id, &wasm(), greeting_arg("Hi"), admin())
            .unwrap();
        let (s,): (Option<String>,) = env.query_candid(id, admin(), "stable_get", ("a",)).unwrap();
        assert_eq!(s.as_deref(), Some("1"));
        let (h,): (Option<String>,) = env.query_candid(id, admin(), "heap_get", ("b",)).unwrap();
        assert_eq!(h, None);
        let (u,): (u64,) = env.query_candid(id, admin(), "upgrades", ()).unwrap();
        assert_eq!(u, 1);
        let (g,): (String,) = env.query_candid(id, admin(), "greet", ("x",)).unwrap();
        assert_eq!(g, "Hi, x!");
    });
}

#[test]
fn a_failed_upgrade_leaves_the_canister_as_it_was() {
    on_all(|env| {
        let id = install(env);
        env.update_candid::<_, ()>(id, admin(), "stable_put", ("a", "1"))
            .unwrap();
        env.update_candid::<_, ()>(id, admin(), "heap_put", ("b", "2"))
            .unwrap();
        let err = env
            .upgrade(id, &wasm(), greeting_arg("trap"), admin())
            .unwrap_err();
        assert!(err.contains("asked to trap"), "{err}");
        assert!(env.upgrade(id, b"not wasm", no_arg(), admin()).is_err());
        let (h,): (Option<String>,) = env.query_candid(id, admin(), "heap_get", ("b",)).unwrap();
        assert_eq!(h.as_deref(), Some("2"));
        let (s,): (Option<String>,) = env.query_candid(id, admin(), "stable_get", ("a",)).unwrap();
        assert_eq!(s.as_deref(), Some("1"));
        let (u,): (u64,) = env.query_candid(id, admin(), "upgrades", ()).unwrap();
        assert_eq!(u, 0);
    });
}

#[test]
fn reinstall_wipes_all_state() {
    on_all(|env| {
        let id = install(env);
        env.update_candid::<_, ()>(id, admin(), "stable_put", ("a", "1"))
            .unwrap();
        env.update_candid::<_, (u64,)>(id, admin(), "inc", ())
            .unwrap();
        env.reinstall(id, &wasm(), no_arg(), admin()).unwrap();
        let (s,): (Option<String>,) = env.query_candid(id, admin(), "stable_get", ("a",)).unwrap();
        assert_eq!(s, None);
        assert_eq!(get(env, id), 0);
    });
}

#[test]
fn only_controllers_manage_a_canister() {
    on_all(|env| {
        let id = install(env);
        let (yes,): (bool,) = env
            .query_candid(id, admin(), "is_controller", (admin(),))
            .unwrap();
        let (no,): (bool,) = env
            .query_candid(id, admin(), "is_controller", (user(2),))
            .unwrap();
        assert!(yes && !no);
        assert!(env.upgrade(id, &wasm(), no_arg(), user(2)).is_err());
        assert!(env.stop(id, user(2)).is_err());
    });
}

#[test]
fn caller_identity_and_time() {
    on_all(|env| {
        let id = install(env);
        let (who,): (Principal,) = env.query_candid(id, user(7), "whoami", ()).unwrap();
        assert_eq!(who, user(7));
        let (me,): (Principal,) = env.query_candid(id, user(7), "self_id", ()).unwrap();
        assert_eq!(me, id);
        let (t0,): (u64,) = env.query_candid(id, admin(), "time", ()).unwrap();
        assert_eq!(t0, env.time_nanos());
        env.advance_time(Duration::from_secs(60));
        let (t1,): (u64,) = env.query_candid(id, admin(), "time", ()).unwrap();
        assert!(t1 >= t0 + 60_000_000_000, "{t0} -> {t1}");
    });
}

#[test]
fn inter_canister_calls_and_call_chains() {
    on_all(|env| {
        let a = install(env);
        let b = install(env);
        let c = install(env);
        let (r,): (Result<Vec<u8>, String>,) = env
            .update_candid(a, admin(), "call_echo", (b, vec![4u8, 5]))
            .unwrap();
        assert_eq!(r, Ok(vec![4, 5]));
        let (seen,): (Vec<String>,) = env
            .update_candid(a, admin(), "chain", (vec![b, c], "t1"))
            .unwrap();
        assert_eq!(seen, vec![c.to_text(), b.to_text(), a.to_text()]);
        for (canister, name) in [(a, a.to_text()), (b, b.to_text()), (c, c.to_text())] {
            let (events,): (Vec<String>,) =
                env.query_candid(canister, admin(), "events", ()).unwrap();
            assert_eq!(
                events,
                vec![format!("enter t1 at {name}"), format!("exit t1 at {name}")]
            );
        }
    });
}

#[test]
fn messages_between_two_canisters_keep_their_order() {
    on_all(|env| {
        let a = install(env);
        let b = install(env);
        let (sent,): (u32,) = env
            .update_candid(a, admin(), "send_many", (b, 40u32))
            .unwrap();
        assert_eq!(sent, 40);
        for _ in 0..5 {
            env.tick();
        }
        let (events,): (Vec<String>,) = env.query_candid(b, admin(), "events", ()).unwrap();
        let expected: Vec<String> = (0..40).map(|i| format!("msg {i}")).collect();
        assert_eq!(events, expected);
    });
}

#[test]
fn a_trap_in_a_callback_rolls_back_only_the_callback() {
    on_all(|env| {
        let a = install(env);
        let b = install(env);
        let r = env
            .update(a, admin(), "trap_in_callback", Encode!(&b).unwrap())
            .unwrap_err();
        assert_eq!(r.code, RejectCode::CanisterError);
        assert!(
            r.message.contains("deliberate trap in a callback"),
            "{}",
            r.message
        );
        // The increment before the await was its own message and persists; the callback's not.
        assert_eq!(get(env, a), 1);
        // ic-cdk's cleanup ran: the canister serves further calls with awaits.
        let (r,): (Result<Vec<u8>, String>,) = env
            .update_candid(a, admin(), "call_echo", (b, vec![1u8]))
            .unwrap();
        assert_eq!(r, Ok(vec![1]));
    });
}

#[test]
fn self_calls_work() {
    on_all(|env| {
        let id = install(env);
        let (n,): (u64,) = env.update_candid(id, admin(), "self_call", ()).unwrap();
        assert_eq!(n, 1);
        assert_eq!(get(env, id), 1);
    });
}

#[test]
fn calls_to_missing_canisters_and_methods_are_rejected() {
    on_all(|env| {
        let a = install(env);
        let missing = emc_embedded_ic::canister_id(9_999);
        let (r,): (Option<(u32, String)>,) = env
            .update_candid(a, admin(), "call_expect_reject", (missing, "echo"))
            .unwrap();
        let (code, msg) = r.unwrap();
        assert_eq!(code, RejectCode::DestinationInvalid as u32, "{msg}");
        let (r,): (Option<(u32, String)>,) = env
            .update_candid(a, admin(), "call_expect_reject", (a, "no_such_method"))
            .unwrap();
        let (code, msg) = r.unwrap();
        assert_eq!(code, RejectCode::CanisterError as u32, "{msg}");
        assert!(msg.contains("no_such_method"), "{msg}");
    });
}

#[test]
fn timers_fire_when_due_and_repeat() {
    on_all(|env| {
        let id = install(env);
        env.update_candid::<_, ()>(id, admin(), "set_timer", (10u64,))
            .unwrap();
        env.advance_time(Duration::from_secs(5));
        env.tick();
        let (n,): (u64,) = env.query_candid(id, admin(), "timer_fires", ()).unwrap();
        assert_eq!(n, 0, "fired early");
        env.advance_time(Duration::from_secs(6));
        env.tick();
        let (n,): (u64,) = env.query_candid(id, admin(), "timer_fires", ()).unwrap();
        assert_eq!(n, 1);
        env.update_candid::<_, ()>(id, admin(), "set_interval", (10u64,))
            .unwrap();
        for _ in 0..3 {
            env.advance_time(Duration::from_secs(10));
            env.tick();
        }
        let (n,): (u64,) = env.query_candid(id, admin(), "timer_fires", ()).unwrap();
        assert_eq!(n, 4);
    });
}

#[test]
fn certified_data_is_in_the_query_certificate_only() {
    on_all(|env| {
        let id = install(env);
        let data: Vec<u8> = (0..32).collect();
        env.update_candid::<_, ()>(id, admin(), "set_certified", (data.clone(),))
            .unwrap();
        let (cert,): (Option<Vec<u8>>,) = env.query_candid(id, admin(), "certificate", ()).unwrap();
        let tree = certificate::decode_certificate_tree(&cert.expect("a certificate")).unwrap();
        assert_eq!(
            tree.lookup(&[b"canister", id.as_slice(), b"certified_data"]),
            Some(&data[..])
        );
        let (none,): (Option<Vec<u8>>,) = env
            .update_candid(id, admin(), "certificate_in_update", ())
            .unwrap();
        assert_eq!(none, None);
        let r = env.update(
            id,
            admin(),
            "set_certified",
            Encode!(&vec![0u8; 33]).unwrap(),
        );
        assert_eq!(r.unwrap_err().code, RejectCode::CanisterError);
    });
}

#[test]
fn inspect_message_can_refuse_ingress() {
    on_all(|env| {
        let id = install(env);
        let r = env
            .update(id, admin(), "blocked_by_inspect", Encode!().unwrap())
            .unwrap_err();
        assert_eq!(r.code, RejectCode::CanisterReject, "{}", r.message);
    });
}

#[test]
fn stopped_canisters_reject_calls_until_started() {
    on_all(|env| {
        let id = install(env);
        env.stop(id, admin()).unwrap();
        let r = env
            .update(id, admin(), "inc", Encode!().unwrap())
            .unwrap_err();
        assert_eq!(r.code, RejectCode::CanisterError, "{}", r.message);
        env.start(id, admin()).unwrap();
        let (n,): (u64,) = env.update_candid(id, admin(), "inc", ()).unwrap();
        assert_eq!(n, 1);
    });
}

#[test]
fn bad_input_is_rejected_without_state_change() {
    on_all(|env| {
        let id = install(env);
        env.update_candid::<_, (u64,)>(id, admin(), "inc", ())
            .unwrap();
        // Unknown method.
        let r = env
            .update(id, admin(), "no_such_method", Encode!().unwrap())
            .unwrap_err();
        assert_eq!(r.code, RejectCode::CanisterError);
        assert!(r.message.contains("no_such_method"), "{}", r.message);
        // Malformed candid.
        let r = env
            .update(id, admin(), "echo", vec![0xde, 0xad, 0xbe, 0xef])
            .unwrap_err();
        assert_eq!(r.code, RejectCode::CanisterError, "{}", r.message);
        // Out-of-bounds memory access by the canister.
        let r = env
            .update(id, admin(), "out_of_bounds", Encode!().unwrap())
            .unwrap_err();
        assert_eq!(r.code, RejectCode::CanisterError, "{}", r.message);
        // A call to a canister that does not exist.
        let missing = emc_embedded_ic::canister_id(12_345);
        let r = env
            .update(missing, admin(), "inc", Encode!().unwrap())
            .unwrap_err();
        assert_eq!(r.code, RejectCode::DestinationInvalid, "{}", r.message);
        // Wasm that is not a canister.
        assert!(env
            .install(b"\0asm garbage", no_arg(), vec![admin()])
            .is_err());
        assert_eq!(get(env, id), 1);
    });
}

#[test]
fn randomness_comes_from_the_management_canister() {
    on_all(|env| {
        let id = install(env);
        let (a,): (Vec<u8>,) = env.update_candid(id, admin(), "random", ()).unwrap();
        let (b,): (Vec<u8>,) = env.update_candid(id, admin(), "random", ()).unwrap();
        assert_eq!(a.len(), 32);
        assert_ne!(a, b);
    });
}

// --- embedded IC only ---------------------------------------------------------------------------

#[test]
fn modules_that_are_not_canisters_get_clear_errors() {
    let mut ic = EmbeddedIc::new();
    let garbage = ic
        .install_canister(b"hello", vec![], vec![admin()])
        .unwrap_err();
    assert!(matches!(garbage, IcError::InvalidWasm(_)), "{garbage}");
    let env_import = wat::parse_str(r#"(module (import "env" "f" (func)) (memory 1))"#).unwrap();
    let err = ic
        .install_canister(&env_import, vec![], vec![admin()])
        .unwrap_err();
    assert!(err.to_string().contains("env.f"), "{err}");
    // An unimplemented ic0 import still links and traps with its name when called.
    let unimplemented = wat::parse_str(
        r#"(module (import "ic0" "root_key_size" (func $rk (result i32))) (memory 1)
             (func (export "canister_update f") (drop (call $rk))))"#,
    )
    .unwrap();
    let id = ic
        .install_canister(&unimplemented, vec![], vec![admin()])
        .unwrap();
    let r = ic.update_call(id, admin(), "f", vec![]).unwrap_err();
    assert!(r.message.contains("root_key_size"), "{}", r.message);
    assert!(ic.canister_ids().len() == 1);
}

#[test]
fn the_instruction_limit_traps_the_message_and_nothing_else() {
    let config = IcConfig {
        update_instruction_limit: 50_000_000,
        query_instruction_limit: 20_000_000,
        ..IcConfig::default()
    };
    let mut env = EmbeddedEnv::with_config(config);
    let id = install(&mut env);
    env.update_candid::<_, (u64,)>(id, admin(), "inc", ())
        .unwrap();
    let r = env
        .update(id, admin(), "loop_forever", Encode!().unwrap())
        .unwrap_err();
    assert_eq!(r.code, RejectCode::CanisterError);
    assert!(
        r.message
            .contains("exceeded the limit of 50000000 instructions"),
        "{}",
        r.message
    );
    let r = env
        .query(id, admin(), "spin_query", Encode!(&100_000_000u64).unwrap())
        .unwrap_err();
    assert!(
        r.message
            .contains("exceeded the limit of 20000000 instructions"),
        "{}",
        r.message
    );
    assert!(env.ic.last_instructions() >= 20_000_000);
    assert_eq!(get(&mut env, id), 1);
}

#[test]
fn instruction_counts_are_deterministic_and_linear() {
    let count = |n: u64| {
        let mut env = EmbeddedEnv::new();
        let id = install(&mut env);
        let (inside,): (u64,) = env.update_candid(id, admin(), "spin", (n,)).unwrap();
        (inside, env.ic.last_instructions())
    };
    let (a1, t1) = count(1_000);
    let (a2, t2) = count(1_000);
    assert_eq!((a1, t1), (a2, t2), "counts differ between runs");
    let (b, tb) = count(2_000);
    let (c, tc) = count(3_000);
    assert!(a1 > 1_000 && t1 > a1, "{a1} {t1}");
    assert_eq!(b - a1, c - b, "the loop's cost is not linear");
    assert_eq!(tb - t1, tc - tb);
}

#[test]
fn a_trap_after_growing_the_heap_shrinks_it_back() {
    let mut env = EmbeddedEnv::new();
    let id = install(&mut env);
    let (len,): (u64,) = env.update_candid(id, admin(), "ballast", (1u32,)).unwrap();
    assert_eq!(len, 1 << 20);
    let heap = env.ic.heap_size(id).unwrap();
    let (sum,): (u64,) = env
        .query_candid(id, admin(), "ballast_checksum", ())
        .unwrap();
    let r = env
        .update(id, admin(), "grow_then_trap", Encode!(&8u32).unwrap())
        .unwrap_err();
    assert!(
        r.message.contains("deliberate trap after growing"),
        "{}",
        r.message
    );
    assert_eq!(env.ic.heap_size(id).unwrap(), heap);
    let (after,): (u64,) = env
        .query_candid(id, admin(), "ballast_checksum", ())
        .unwrap();
    assert_eq!(after, sum);
    let r = env
        .update(id, admin(), "touch_then_trap", Encode!().unwrap())
        .unwrap_err();
    assert_eq!(r.code, RejectCode::CanisterError);
    let (after,): (u64,) = env
        .query_candid(id, admin(), "ballast_checksum", ())
        .unwrap();
    assert_eq!(after, sum);
    env.update_candid::<_, (u64,)>(id, admin(), "inc", ())
        .unwrap();
}

#[test]
fn performance_counter_and_call_context_instructions() {
    let mut env = EmbeddedEnv::new();
    let id = install(&mut env);
    let (inside,): (u64,) = env
        .update_candid(id, admin(), "spin", (10_000u64,))
        .unwrap();
    assert!(inside > 10_000);
    assert!(env.ic.last_instructions() >= inside);
    let msg = env
        .ic
        .submit_update(id, admin(), "self_call", Encode!().unwrap())
        .unwrap();
    let reply = env.ic.await_update(msg).unwrap().unwrap();
    assert_eq!(Decode!(&reply, u64).unwrap(), 1);
    let total = env.ic.message_instructions(msg).unwrap();
    assert!(total > 0);
}

#[test]
fn the_candid_interface_can_be_read_from_the_wasm() {
    let did = EmbeddedIc::candid_interface(&wasm()).unwrap();
    assert!(did.contains("greet : (text) -> (text) query"), "{did}");
    assert!(EmbeddedIc::candid_interface(b"nope").is_err());
}

// --- gzipped modules and metadata (as the IC's install_code and read_state) --------------------

fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

#[test]
fn a_gzipped_module_installs_and_runs_like_the_plain_one() {
    use sha2::Digest;
    let gz = gzip(&wasm());
    assert!(gz.len() < wasm().len());
    let mut ic = EmbeddedIc::new();
    let id = ic.install_canister(&gz, no_arg(), vec![admin()]).unwrap();
    let reply = ic
        .query_call(id, admin(), "greet", Encode!(&"EMC").unwrap())
        .unwrap();
    assert_eq!(Decode!(&reply, String).unwrap(), "Hello, EMC!");
    // The IC reports the hash of the module as installed: of the gzipped bytes.
    let hash: [u8; 32] = sha2::Sha256::digest(&gz).into();
    assert_eq!(ic.module_hash(id), Some(hash));
    // Upgrades and reinstalls take gzipped modules too; the interface reads from one as well.
    ic.upgrade_canister(id, &gz, no_arg(), admin()).unwrap();
    ic.reinstall_canister(id, &gz, no_arg(), admin()).unwrap();
    assert_eq!(
        EmbeddedIc::candid_interface(&gz).unwrap(),
        EmbeddedIc::candid_interface(&wasm()).unwrap()
    );
}

#[test]
fn a_gzip_bomb_and_a_corrupt_stream_are_refused_and_create_nothing() {
    let config = IcConfig {
        max_decompressed_module_bytes: 1024 * 1024,
        ..IcConfig::default()
    };
    let mut ic = EmbeddedIc::with_config(config);
    // Compresses ~1000:1: a small upload that would decompress to 16 MiB.
    let bomb = gzip(&vec![0u8; 16 * 1024 * 1024]);
    let err = ic
        .install_canister(&bomb, vec![], vec![admin()])
        .unwrap_err();
    assert!(
        matches!(&err, IcError::InvalidWasm(m) if m.contains("more than 1048576")),
        "{err}"
    );
    let mut corrupt = gzip(&wasm());
    corrupt.truncate(corrupt.len() / 2);
    let err = ic
        .install_canister(&corrupt, vec![], vec![admin()])
        .unwrap_err();
    assert!(matches!(err, IcError::InvalidWasm(_)), "{err}");
    assert!(ic.canister_ids().is_empty());
}

fn module_with_metadata(sections: &str) -> Vec<u8> {
    wat::parse_str(format!(
        r#"(module (memory 1) (func (export "canister_update f")) {sections})"#
    ))
    .unwrap()
}

#[test]
fn metadata_sections_are_read_as_read_state_serves_them() {
    let mut ic = EmbeddedIc::new();
    let wasm = module_with_metadata(
        r#"(@custom "icp:public candid:service" "service : {}")
           (@custom "icp:private build" "secret")
           (@custom "name" "not metadata")"#,
    );
    let id = ic
        .install_canister(&gzip(&wasm), vec![], vec![admin()])
        .unwrap();
    assert_eq!(
        ic.canister_metadata(id, "candid:service").as_deref(),
        Some(&b"service : {}"[..])
    );
    // Private sections: controllers only; the plain accessor is anyone's view.
    assert_eq!(ic.canister_metadata(id, "build"), None);
    assert_eq!(ic.canister_metadata_as(id, "build", user(9)), None);
    assert_eq!(
        ic.canister_metadata_as(id, "build", admin()).as_deref(),
        Some(&b"secret"[..])
    );
    assert_eq!(ic.canister_metadata(id, "name"), None);
    assert_eq!(ic.canister_metadata(id, "missing"), None);
    assert_eq!(
        ic.canister_metadata(Principal::anonymous(), "candid:service"),
        None
    );
    assert_eq!(
        ic.canister_metadata_names(id),
        vec![
            ("build".to_string(), emc_embedded_ic::Visibility::Private),
            (
                "candid:service".to_string(),
                emc_embedded_ic::Visibility::Public
            ),
        ]
    );
    // An upgrade replaces the metadata with the new module's.
    let next = module_with_metadata(r#"(@custom "icp:public git_commit" "abc")"#);
    ic.upgrade_canister(id, &next, vec![], admin()).unwrap();
    assert_eq!(ic.canister_metadata(id, "candid:service"), None);
    assert_eq!(
        ic.canister_metadata(id, "git_commit").as_deref(),
        Some(&b"abc"[..])
    );
}

#[test]
fn modules_with_invalid_metadata_sections_are_refused() {
    let mut ic = EmbeddedIc::new();
    for sections in [
        r#"(@custom "icp:dummy x" "")"#,
        r#"(@custom "icp:public a" "1") (@custom "icp:private a" "2")"#,
    ] {
        let err = ic
            .install_canister(&module_with_metadata(sections), vec![], vec![admin()])
            .unwrap_err();
        assert!(
            matches!(&err, IcError::InvalidWasm(m) if m.contains("custom section")),
            "{sections}: {err}"
        );
    }
    assert!(ic.canister_ids().is_empty());
}

// --- the management canister for canister callers -----------------------------------------------

mod management_for_canisters {
    use super::*;
    use emc_embedded_ic::management::{
        CanisterIdRecord, CanisterSettings, CanisterStatusResult, CanisterStatusType,
        InstallCodeArgs, InstallCodeMode, UpdateSettingsArgs,
    };

    use sha2::Digest;

    type Raw = Result<Vec<u8>, (u32, String)>;

    /// `caller` (a test canister) calls the management canister's `method` with `arg`.
    fn mgmt(ic: &mut EmbeddedIc, caller: Principal, method: &str, arg: Vec<u8>) -> Raw {
        let reply = ic
            .update_call(
                caller,
                admin(),
                "call_raw",
                Encode!(&Principal::management_canister(), &method, &arg).unwrap(),
            )
            .unwrap();
        Decode!(&reply, Raw).unwrap()
    }

    fn install_args(mode: InstallCodeMode, id: Principal, wasm: Vec<u8>, arg: Vec<u8>) -> Vec<u8> {
        Encode!(&InstallCodeArgs {
            mode,
            canister_id: id,
            wasm_module: wasm,
            arg,
            sender_canister_version: None,
        })
        .unwrap()
    }

    fn stable_get(ic: &mut EmbeddedIc, id: Principal, key: &str) -> Option<String> {
        let r = ic
            .query_call(id, admin(), "stable_get", Encode!(&key).unwrap())
            .unwrap();
        Decode!(&r, Option<String>).unwrap()
    }

    /// A manager canister `m` (controlled by admin) and a target `t` controlled by admin and
    /// `m`, with one value in stable memory and one on the heap.
    fn setup() -> (EmbeddedIc, Principal, Principal) {
        let mut ic = EmbeddedIc::new();
        let m = ic
            .install_canister(&wasm(), no_arg(), vec![admin()])
            .unwrap();
        let t = ic
            .install_canister(&wasm(), no_arg(), vec![admin()])
            .unwrap();
        ic.set_controllers(t, admin(), vec![admin(), m]).unwrap();
        for (method, k, v) in [("stable_put", "a", "1"), ("heap_put", "b", "2")] {
            ic.update_call(t, admin(), method, Encode!(&k, &v).unwrap())
                .unwrap();
        }
        (ic, m, t)
    }

    #[test]
    fn a_controller_canister_upgrades_another_with_a_gzipped_module() {
        let (mut ic, m, t) = setup();
        let gz = gzip(&wasm());
        let r = mgmt(
            &mut ic,
            m,
            "install_code",
            install_args(
                InstallCodeMode::Upgrade(None),
                t,
                gz.clone(),
                greeting_arg("Hi"),
            ),
        );
        assert_eq!(r, Ok(Encode!().unwrap()));
        assert_eq!(stable_get(&mut ic, t, "a").as_deref(), Some("1"));
        let h = ic
            .query_call(t, admin(), "heap_get", Encode!(&"b").unwrap())
            .unwrap();
        assert_eq!(Decode!(&h, Option<String>).unwrap(), None);
        let g = ic
            .query_call(t, admin(), "greet", Encode!(&"x").unwrap())
            .unwrap();
        assert_eq!(Decode!(&g, String).unwrap(), "Hi, x!");
        let hash: [u8; 32] = sha2::Sha256::digest(&gz).into();
        assert_eq!(ic.module_hash(t), Some(hash));
        // canister_status as the controller canister sees it
        let r = mgmt(
            &mut ic,
            m,
            "canister_status",
            Encode!(&CanisterIdRecord { canister_id: t }).unwrap(),
        )
        .unwrap();
        let s = Decode!(&r, CanisterStatusResult).unwrap();
        assert_eq!(s.status, CanisterStatusType::Running);
        assert_eq!(s.settings.controllers, vec![admin(), m]);
        assert_eq!(s.module_hash.unwrap().to_vec(), hash.to_vec());
        let memory = ic.heap_size(t).unwrap() + ic.stable_size(t).unwrap();
        assert_eq!(s.memory_size, candid::Nat::from(memory));
        // a failed upgrade (the new module traps in post_upgrade) rejects and changes nothing
        let before = ic.module_hash(t);
        let r = mgmt(
            &mut ic,
            m,
            "install_code",
            install_args(
                InstallCodeMode::Upgrade(None),
                t,
                wasm(),
                greeting_arg("trap"),
            ),
        );
        let (code, message) = r.unwrap_err();
        assert_eq!(code, RejectCode::CanisterError as u32);
        assert!(message.contains("asked to trap"), "{message}");
        assert_eq!(ic.module_hash(t), before);
        assert_eq!(stable_get(&mut ic, t, "a").as_deref(), Some("1"));
    }

    #[test]
    fn reinstall_and_install_modes() {
        let (mut ic, m, t) = setup();
        let r = mgmt(
            &mut ic,
            m,
            "install_code",
            install_args(InstallCodeMode::Install, t, wasm(), no_arg()),
        );
        assert_eq!(r.unwrap_err().0, RejectCode::CanisterError as u32);
        assert_eq!(stable_get(&mut ic, t, "a").as_deref(), Some("1"));
        let r = mgmt(
            &mut ic,
            m,
            "install_code",
            install_args(InstallCodeMode::Reinstall, t, wasm(), no_arg()),
        );
        assert!(r.is_ok(), "{r:?}");
        assert_eq!(stable_get(&mut ic, t, "a"), None);
        // install into an empty canister the manager controls
        let e = ic.create_canister(vec![m]);
        let r = mgmt(
            &mut ic,
            m,
            "install_code",
            install_args(InstallCodeMode::Install, e, wasm(), greeting_arg("Yo")),
        );
        assert!(r.is_ok(), "{r:?}");
        let g = ic
            .query_call(e, admin(), "greet", Encode!(&"x").unwrap())
            .unwrap();
        assert_eq!(Decode!(&g, String).unwrap(), "Yo, x!");
    }

    #[test]
    fn non_controllers_and_self_upgrades_are_rejected_and_change_nothing() {
        let (mut ic, m, t) = setup();
        let outsider = ic
            .install_canister(&wasm(), no_arg(), vec![admin()])
            .unwrap();
        let before = (ic.module_hash(t), ic.controllers(t));
        let up = |id| {
            install_args(
                InstallCodeMode::Upgrade(None),
                id,
                wasm(),
                greeting_arg("Hi"),
            )
        };
        let (code, message) = mgmt(&mut ic, outsider, "install_code", up(t)).unwrap_err();
        assert_eq!(code, RejectCode::CanisterError as u32);
        assert!(message.contains("is not a controller"), "{message}");
        for (method, arg) in [
            (
                "canister_status",
                Encode!(&CanisterIdRecord { canister_id: t }).unwrap(),
            ),
            (
                "stop_canister",
                Encode!(&CanisterIdRecord { canister_id: t }).unwrap(),
            ),
            (
                "update_settings",
                Encode!(&UpdateSettingsArgs {
                    canister_id: t,
                    settings: CanisterSettings {
                        controllers: Some(vec![outsider]),
                        ..Default::default()
                    },
                    sender_canister_version: None,
                })
                .unwrap(),
            ),
        ] {
            let (code, message) = mgmt(&mut ic, outsider, method, arg).unwrap_err();
            assert_eq!(code, RejectCode::CanisterError as u32, "{method}");
            assert!(
                message.contains("is not a controller"),
                "{method}: {message}"
            );
        }
        // a canister that controls itself still cannot upgrade itself
        ic.set_controllers(m, admin(), vec![admin(), m]).unwrap();
        let (code, message) = mgmt(&mut ic, m, "install_code", up(m)).unwrap_err();
        assert_eq!(code, RejectCode::CanisterError as u32);
        assert!(
            message.contains("cannot install code on itself"),
            "{message}"
        );
        // unknown canister, undecodable argument, unknown method
        let missing = canister_id_of(999);
        let (code, _) = mgmt(&mut ic, m, "install_code", up(missing)).unwrap_err();
        assert_eq!(code, RejectCode::DestinationInvalid as u32);
        let (code, _) = mgmt(&mut ic, m, "install_code", b"nope".to_vec()).unwrap_err();
        assert_eq!(code, RejectCode::CanisterError as u32);
        let (code, _) = mgmt(&mut ic, m, "delete_canister", Encode!().unwrap()).unwrap_err();
        assert_eq!(code, RejectCode::DestinationInvalid as u32);
        assert_eq!(before, (ic.module_hash(t), ic.controllers(t)));
        assert_eq!(stable_get(&mut ic, t, "a").as_deref(), Some("1"));
        assert_eq!(
            ic.canister_status(t),
            Some(emc_embedded_ic::CanisterStatus::Running)
        );
    }

    #[test]
    fn update_settings_stop_and_start_from_a_controller_canister() {
        let (mut ic, m, t) = setup();
        let stop = Encode!(&CanisterIdRecord { canister_id: t }).unwrap();
        assert!(mgmt(&mut ic, m, "stop_canister", stop.clone()).is_ok());
        assert_eq!(
            ic.canister_status(t),
            Some(emc_embedded_ic::CanisterStatus::Stopped)
        );
        assert!(ic
            .update_call(t, admin(), "inc", Encode!().unwrap())
            .is_err());
        assert!(mgmt(&mut ic, m, "start_canister", stop).is_ok());
        assert_eq!(
            ic.canister_status(t),
            Some(emc_embedded_ic::CanisterStatus::Running)
        );
        // the manager hands the canister to admin alone; then it controls nothing
        let settings = |c: Vec<Principal>| {
            Encode!(&UpdateSettingsArgs {
                canister_id: t,
                settings: CanisterSettings {
                    controllers: Some(c),
                    ..Default::default()
                },
                sender_canister_version: None,
            })
            .unwrap()
        };
        assert!(mgmt(&mut ic, m, "update_settings", settings(vec![admin()])).is_ok());
        assert_eq!(ic.controllers(t), Some(vec![admin()]));
        assert!(mgmt(&mut ic, m, "update_settings", settings(vec![m])).is_err());
        assert_eq!(ic.controllers(t), Some(vec![admin()]));
    }

    fn canister_id_of(n: u64) -> Principal {
        emc_embedded_ic::canister_id(n)
    }
}

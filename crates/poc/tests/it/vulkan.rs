//! The Vulkan prover against the CPU prover, bit for bit. In CI the device is Mesa's lavapipe
//! (scripts/install-deps.sh installs mesa-vulkan-drivers): when `VK_ICD_FILENAMES` is unset
//! these tests point it at lavapipe's ICD file. No Vulkan device at all is a test FAILURE,
//! never a skip.

use emc_poc::vulkan::{list_devices, use_lavapipe_if_unset};
use emc_poc::{
    Challenge, CpuProver, DeviceSelector, Prover, ProverError, ProverSession, Task, TaskParams,
    Verifier, VerifierConfig, VulkanError, VulkanProver,
};
use std::sync::{Mutex, OnceLock};

/// One prover for the whole test binary; creating it sets `VK_ICD_FILENAMES` first (inside
/// `get_or_init`, so no other test thread touches Vulkan or the environment meanwhile).
fn vulkan() -> std::sync::MutexGuard<'static, VulkanProver> {
    static PROVER: OnceLock<Result<Mutex<VulkanProver>, VulkanError>> = OnceLock::new();
    let p = PROVER.get_or_init(|| {
        use_lavapipe_if_unset();
        VulkanProver::new(&DeviceSelector::Auto).map(Mutex::new)
    });
    match p {
        Ok(m) => m.lock().unwrap_or_else(|e| e.into_inner()),
        Err(e) => panic!(
            "the Vulkan tests need a Vulkan device; CI installs lavapipe with \
             scripts/install-deps.sh (mesa-vulkan-drivers, libvulkan1): {e}"
        ),
    }
}

fn seed(i: u8) -> [u8; 32] {
    let mut s = [i; 32];
    s[0] = 0x5c;
    s
}

#[test]
fn vulkan_and_cpu_results_are_identical() {
    let vk = vulkan();
    let cpu = CpuProver::new(2);
    // Sizes cross tile counts and the batching of rounds per submission (8).
    let cases = [(128, 1), (256, 2), (384, 1), (128, 9), (512, 1)];
    for (i, (n, rounds)) in cases.into_iter().enumerate() {
        for s in 0..2u8 {
            let task = Task {
                seed: seed(i as u8 * 2 + s),
                params: TaskParams { n, rounds },
            };
            let a = vk.compute(&task).unwrap();
            let b = cpu.compute(&task).unwrap();
            assert_eq!(a.len(), b.len());
            if let Some(first) = a.iter().zip(&b).position(|(x, y)| x != y) {
                panic!(
                    "{} differs from the CPU at n = {n}, rounds = {rounds}, entry {first} \
                     (row {}, column {})",
                    vk.name(),
                    first / n as usize,
                    first % n as usize
                );
            }
        }
    }
}

/// Window mode: stopping after r rounds (mid-batch or on a batch's edge) gives the CPU's C_r,
/// and the budget is asked before every batch of at most 8 rounds.
#[test]
fn vulkan_stops_where_the_budget_says_with_the_cpus_bits() {
    let vk = vulkan();
    let cpu = CpuProver::new(2);
    let task = Task {
        seed: seed(77),
        params: TaskParams { n: 128, rounds: 20 },
    };
    for stop_at in [1u32, 8, 11, 20] {
        let mut asked = Vec::new();
        let c = vk
            .compute_rounds(&task, &mut |done| {
                asked.push(done);
                stop_at - done
            })
            .unwrap();
        assert_eq!(c.rounds, stop_at);
        if stop_at < 20 {
            assert_eq!(asked.last(), Some(&stop_at), "the last ask said stop");
        }
        assert!(asked.windows(2).all(|w| w[1] - w[0] <= 8), "{asked:?}");
        assert_eq!(c.data, cpu.compute(&task.with_rounds(stop_at)).unwrap());
    }
}

#[test]
fn a_vulkan_session_passes_the_verifier() {
    let vk = vulkan();
    let ch = Challenge {
        task: Task {
            seed: seed(99),
            params: TaskParams { n: 256, rounds: 3 },
        },
        window_ns: 60_000_000_000,
    };
    let session = ProverSession::run(&*vk, &ch.task).unwrap();
    let mut v = Verifier::new(ch, VerifierConfig::default(), 0)
        .unwrap()
        .with_threads(3);
    assert_eq!(
        v.on_commitment(&session.commitment(), 1_000_000).unwrap(),
        None
    );
    let req = v.rows_to_open(&[1; 32]).unwrap();
    let verdict = v
        .on_opening(&session.open(&req).unwrap(), 2_000_000)
        .unwrap();
    assert!(verdict.passed, "{verdict:?}");
}

#[test]
fn device_selection_by_index_name_and_errors() {
    let name = vulkan().device_name().to_string();
    let devices = list_devices().unwrap();
    assert!(
        devices.iter().any(|d| d.name == name && d.compute),
        "{devices:?}"
    );

    let word = name
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_uppercase();
    let by_name = VulkanProver::new(&word.parse().unwrap()).unwrap();
    assert_eq!(by_name.device_name(), name);
    let index = devices.iter().find(|d| d.name == name).unwrap().index;
    let by_index = VulkanProver::new(&DeviceSelector::Index(index)).unwrap();
    assert_eq!(by_index.device_name(), name);

    let err = VulkanProver::new(&"no-such-gpu".parse().unwrap()).unwrap_err();
    assert!(matches!(err, VulkanError::NoMatch { .. }), "{err}");
    assert!(
        err.to_string().contains(&name),
        "the error lists the devices: {err}"
    );
    let err = VulkanProver::new(&DeviceSelector::Index(999)).unwrap_err();
    assert!(matches!(err, VulkanError::NoMatch { .. }), "{err}");

    assert_eq!(
        "auto".parse::<DeviceSelector>().unwrap(),
        DeviceSelector::Auto
    );
    assert_eq!(
        "1".parse::<DeviceSelector>().unwrap(),
        DeviceSelector::Index(1)
    );
}

#[test]
fn oversized_tasks_and_bad_params_are_refused() {
    let vk = vulkan();
    let bad = Task {
        seed: seed(1),
        params: TaskParams { n: 100, rounds: 1 },
    };
    assert!(matches!(vk.compute(&bad), Err(ProverError::Params(_))));
    if vk.is_cpu_device() {
        // lavapipe binds at most 128 MiB per storage buffer: 6144^2 * 4 bytes is 144 MiB.
        let big = Task {
            seed: seed(1),
            params: TaskParams { n: 6144, rounds: 1 },
        };
        let err = vk.compute(&big).unwrap_err();
        assert!(
            matches!(err, ProverError::Vulkan(VulkanError::TooLarge { .. })),
            "{err}"
        );
    }
}

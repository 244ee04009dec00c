//! The standard task: seed and size in, deterministic integer matrices out.
//!
//! All arithmetic is on `u32` modulo 2^32 (`wrapping_mul`/`wrapping_add` in Rust, plain `*`
//! and `+` on `uint` in GLSL/SPIR-V, which are modular by definition), so every GPU vendor and
//! every CPU produce the same bits. The GLSL in `shaders/` mirrors [`fmix32`], [`MatrixKey`]
//! and [`mix_out`] exactly; the cross-implementation tests compare them bit for bit.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Domain tag of the key derivation ([`TaskKey::derive`]). Version 2 binds the seed and `n`
/// only (version 1 bound the number of rounds too): the chain of a seed is one sequence
/// `C_0, C_1, ...` whatever the number of rounds a node reaches in its window.
pub const TASK_DOMAIN: &[u8] = b"emc-poc-task-v2";

/// The standard task: `n = 4096`, `rounds = 1024` (governance parameters, protocol section 5).
///
/// One round is `2 * 4096^3 = 1.37e11` int32 operations (a multiply-add counts 2), so the
/// standard task is `1.41e14` operations: about 8.4 s on a GPU sustaining 16.7 Tops/s (half
/// of an H100 SXM's int32 peak), i.e. E ~ 1.8, and 35 s (E ~ 0.43) on one sustaining 4 Tops/s,
/// which is the scale of the spec's examples (E = 1.4451 and 0.4964).
pub const STANDARD: TaskParams = TaskParams {
    n: 4096,
    rounds: 1024,
};

/// Tile size of the GPU kernel: `n` must be a multiple of it.
pub const TILE: u32 = 128;

/// Largest accepted `n` (keeps `n * n` and the buffers far from `u32`/`usize` limits:
/// a 16384 x 16384 `u32` matrix is 1 GiB).
pub const MAX_N: u32 = 16_384;

/// Largest accepted number of rounds.
pub const MAX_ROUNDS: u32 = 1 << 16;

/// The size of a task: `n x n` matrices, `rounds` chained products.
///
/// The task computes `C_0 = A`, `C_{t+1} = mix_out(C_t x B_t)` for `t` in `0..rounds`, where
/// `A` and every `B_t` are `n x n` matrices generated from the seed ([`MatrixKey`]) and
/// [`mix_out`] is applied to every entry. The result is `C_rounds`; its rows are committed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TaskParams {
    /// Matrix dimension: a positive multiple of [`TILE`], at most [`MAX_N`].
    pub n: u32,
    /// Number of chained products: at least 1, at most [`MAX_ROUNDS`].
    pub rounds: u32,
}

/// A task size that cannot be run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParamsError {
    /// `n` is zero, not a multiple of [`TILE`], or above [`MAX_N`].
    #[error("matrix size n = {0} must be a positive multiple of {TILE} and at most {MAX_N}")]
    BadN(u32),
    /// `rounds` is zero or above [`MAX_ROUNDS`].
    #[error("rounds = {0} must be between 1 and {MAX_ROUNDS}")]
    BadRounds(u32),
}

impl TaskParams {
    /// Checks the bounds documented on the fields.
    pub fn validate(&self) -> Result<(), ParamsError> {
        // TILE is a power of two.
        if self.n == 0 || self.n & (TILE - 1) != 0 || self.n > MAX_N {
            return Err(ParamsError::BadN(self.n));
        }
        if self.rounds == 0 || self.rounds > MAX_ROUNDS {
            return Err(ParamsError::BadRounds(self.rounds));
        }
        Ok(())
    }

    /// `n` as `usize`.
    pub fn n_usize(&self) -> usize {
        self.n as usize
    }

    /// The prover's multiply-adds: `rounds * n^3`.
    pub fn prover_macs(&self) -> u128 {
        let n = u128::from(self.n);
        u128::from(self.rounds) * n * n * n
    }

    /// The prover's work in unit operations: `rounds * n^3` multiply-adds plus one generated
    /// entry per entry of `A` and of every `B_t`.
    pub fn prover_work(&self) -> u128 {
        let n = u128::from(self.n);
        self.prover_macs() + (u128::from(self.rounds) + 1) * n * n
    }

    /// The verifier's work for `k` opened rows, in the same units as [`Self::prover_work`]:
    /// every `B_t` is generated once (`rounds * n^2`), each opened row of `A` is generated
    /// (`k * n`) and pushed through every round (`k * rounds * n^2` multiply-adds).
    pub fn verifier_work(&self, k: u32) -> u128 {
        let n = u128::from(self.n);
        let r = u128::from(self.rounds);
        let k = u128::from(k);
        r * n * n + k * n + k * r * n * n
    }

    /// Validator work over node work for `k` opened rows: about `(k + 1) / n`.
    pub fn verifier_to_prover_ratio(&self, k: u32) -> f64 {
        self.verifier_work(k) as f64 / self.prover_work() as f64
    }
}

/// The murmur3 32-bit finalizer: a cheap bijection on `u32` with full avalanche.
/// GLSL: `shaders/common.glsl`.
#[inline(always)]
pub fn fmix32(mut h: u32) -> u32 {
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^= h >> 16;
    h
}

/// The output mixing of a round, applied to every entry of `C_t x B_t`: `x ^ (x >> 16)`.
///
/// It is not additive modulo 2^32, so the chain `mix_out(mix_out(A B_0) B_1) ...` cannot be
/// re-associated into one product of the `B_t`, and it folds high bits into low bits so that
/// the low bits of the entries do not degenerate over many rounds (they would, modulo 2, for a
/// plain product of random matrices, most of which are singular over GF(2)).
#[inline(always)]
pub fn mix_out(x: u32) -> u32 {
    x ^ (x >> 16)
}

/// The 128-bit key of a task: the first 16 bytes of
/// `SHA-256("emc-poc-task-v2" || seed || n_le32)`, as 4 little-endian words.
///
/// Binding `n` into the key makes a result computed for one matrix size useless for another.
/// The number of rounds is not bound: `C_r` of a seed is the same whatever `max_rounds` the
/// challenge allowed, so a node that stops after `r` rounds holds exactly the task of `r`
/// rounds ([`Task::with_rounds`]), and the commitment states `r`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TaskKey(pub [u32; 4]);

impl TaskKey {
    /// Derives the key of `(seed, params)`.
    pub fn derive(seed: &[u8; 32], params: &TaskParams) -> TaskKey {
        let mut h = Sha256::new();
        h.update(TASK_DOMAIN);
        h.update(seed);
        h.update(params.n.to_le_bytes());
        let d: [u8; 32] = h.finalize().into();
        let w = |i: usize| u32::from_le_bytes([d[4 * i], d[4 * i + 1], d[4 * i + 2], d[4 * i + 3]]);
        TaskKey([w(0), w(1), w(2), w(3)])
    }

    /// The key of matrix `m`: `m = 0` is `A`, `m = t + 1` is `B_t`.
    pub fn matrix(&self, m: u32) -> MatrixKey {
        let k = self.0;
        MatrixKey {
            mk: fmix32(k[0] ^ fmix32(m ^ k[1])),
            k2: k[2],
            k3: k[3],
        }
    }
}

/// Generates the entries of one matrix:
/// `entry(r, c) = fmix32(row_key(r) ^ col_key(c))` with `row_key(r) = fmix32(mk ^ fmix32(r ^ k2))`
/// and `col_key(c) = fmix32(c ^ k3)`. Counter-based: any entry costs O(1), in any order, on
/// any device, so the GPU generates its matrices itself and the verifier generates only the
/// rows it needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MatrixKey {
    mk: u32,
    k2: u32,
    k3: u32,
}

impl MatrixKey {
    /// The row key of row `r`.
    #[inline(always)]
    pub fn row_key(&self, r: u32) -> u32 {
        fmix32(self.mk ^ fmix32(r ^ self.k2))
    }

    /// The column key of column `c`.
    #[inline(always)]
    pub fn col_key(&self, c: u32) -> u32 {
        fmix32(c ^ self.k3)
    }

    /// One entry.
    #[inline(always)]
    pub fn entry(&self, r: u32, c: u32) -> u32 {
        fmix32(self.row_key(r) ^ self.col_key(c))
    }

    /// The column keys of columns `0..n` (shared by every row of the matrix).
    pub fn col_keys(&self, n: u32) -> Vec<u32> {
        (0..n).map(|c| self.col_key(c)).collect()
    }

    /// Writes row `r` into `out` (its length is the number of columns), given the column keys.
    #[inline(always)]
    pub fn fill_row(&self, r: u32, col_keys: &[u32], out: &mut [u32]) {
        let rk = self.row_key(r);
        for (o, ck) in out.iter_mut().zip(col_keys) {
            *o = fmix32(rk ^ ck);
        }
    }
}

/// One challenge's task: seed and size.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Task {
    /// The validator's fresh random seed.
    pub seed: [u8; 32],
    /// The size.
    pub params: TaskParams,
}

impl Task {
    /// The same seed and `n` with `rounds` rounds: the task a node that stopped after
    /// `rounds` rounds of this one has computed (the key does not depend on the rounds).
    pub fn with_rounds(&self, rounds: u32) -> Task {
        Task {
            seed: self.seed,
            params: TaskParams {
                n: self.params.n,
                rounds,
            },
        }
    }

    /// The task's key.
    pub fn key(&self) -> TaskKey {
        TaskKey::derive(&self.seed, &self.params)
    }

    /// Recomputes rows `rows` of the result on the CPU, the way the verifier does: each `B_t`
    /// is generated one row at a time (never stored whole) and applied to all requested rows
    /// at once. Cost: `rounds * n^2` generated entries plus `rows.len() * rounds * n^2`
    /// multiply-adds; memory `O(rows.len() * n)`. Single-threaded.
    ///
    /// Rows must be below `n` (`None` otherwise).
    pub fn compute_rows(&self, rows: &[u32]) -> Option<Vec<Vec<u32>>> {
        self.compute_rows_threaded(rows, 1)
    }

    /// [`Task::compute_rows`] on `threads` threads (0: one per available core). The columns
    /// are split between the threads, so no entry of a `B_t` is generated twice; the result
    /// is the same whatever the number of threads.
    pub fn compute_rows_threaded(&self, rows: &[u32], threads: usize) -> Option<Vec<Vec<u32>>> {
        let n = self.params.n;
        if rows.iter().any(|&r| r >= n) {
            return None;
        }
        let nu = n as usize;
        let threads = match threads {
            0 => std::thread::available_parallelism().map_or(1, usize::from),
            t => t,
        };
        // Column chunks of whole cache lines.
        let chunk = nu.div_ceil(threads.max(1)).div_ceil(16).max(1) * 16;
        let key = self.key();
        let a = key.matrix(0);
        let a_cols = a.col_keys(n);
        let mut cur: Vec<Vec<u32>> = rows
            .iter()
            .map(|&r| {
                let mut v = vec![0u32; nu];
                a.fill_row(r, &a_cols, &mut v);
                v
            })
            .collect();
        let mut next: Vec<Vec<u32>> = vec![vec![0u32; nu]; rows.len()];
        for t in 0..self.params.rounds {
            let b = key.matrix(t + 1);
            let b_cols = b.col_keys(n);
            // parts[c] = the c-th column chunk of every row of `next`.
            let mut parts: Vec<Vec<&mut [u32]>> = Vec::new();
            for acc in next.iter_mut() {
                for (c, piece) in acc.chunks_mut(chunk).enumerate() {
                    piece.fill(0);
                    if parts.len() <= c {
                        parts.push(Vec::new());
                    }
                    parts[c].push(piece);
                }
            }
            let cur_ref = &cur;
            let b_ref = &b;
            std::thread::scope(|s| {
                for (c, mut part) in parts.into_iter().enumerate() {
                    let cols = &b_cols[c * chunk..((c + 1) * chunk).min(nu)];
                    s.spawn(move || {
                        let mut brow = vec![0u32; cols.len()];
                        crate::cpu::rows_times_generated(
                            cur_ref, &mut part, b_ref, cols, &mut brow,
                        );
                    });
                }
            });
            for acc in next.iter_mut() {
                for s in acc.iter_mut() {
                    *s = mix_out(*s);
                }
            }
            std::mem::swap(&mut cur, &mut next);
        }
        Some(cur)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fmix32_reference_values() {
        // murmur3's finalizer maps 0 to 0; these values pin the constants.
        assert_eq!(fmix32(0), 0);
        assert_eq!(fmix32(1), 0x514e_28b7);
    }

    #[test]
    fn params_validation() {
        assert!(STANDARD.validate().is_ok());
        assert_eq!(
            TaskParams { n: 0, rounds: 1 }.validate(),
            Err(ParamsError::BadN(0))
        );
        assert_eq!(
            TaskParams { n: 100, rounds: 1 }.validate(),
            Err(ParamsError::BadN(100))
        );
        assert_eq!(
            TaskParams {
                n: MAX_N + TILE,
                rounds: 1
            }
            .validate(),
            Err(ParamsError::BadN(MAX_N + TILE))
        );
        assert_eq!(
            TaskParams { n: 128, rounds: 0 }.validate(),
            Err(ParamsError::BadRounds(0))
        );
    }

    #[test]
    fn standard_ratio_is_under_one_percent() {
        let r = STANDARD.verifier_to_prover_ratio(crate::STANDARD_K);
        assert!(r < 0.01, "ratio {r}");
        // (k + 1) / n = 33 / 4096.
        assert!((r - 33.0 / 4096.0).abs() < 1e-4, "ratio {r}");
    }

    #[test]
    fn key_binds_seed_and_n_not_rounds() {
        let p = TaskParams { n: 128, rounds: 1 };
        let k1 = TaskKey::derive(&[1; 32], &p);
        assert_ne!(k1, TaskKey::derive(&[2; 32], &p));
        // One chain per seed and n: r rounds are a prefix of any longer run.
        assert_eq!(
            k1,
            TaskKey::derive(&[1; 32], &TaskParams { n: 128, rounds: 2 })
        );
        assert_ne!(
            k1,
            TaskKey::derive(&[1; 32], &TaskParams { n: 256, rounds: 1 })
        );
    }

    #[test]
    fn compute_rows_matches_naive_definition() {
        let task = Task {
            seed: [7; 32],
            params: TaskParams { n: 128, rounds: 2 },
        };
        let n = 128usize;
        let key = task.key();
        let gen = |m: u32| -> Vec<u32> {
            let mk = key.matrix(m);
            (0..n * n)
                .map(|i| mk.entry((i / n) as u32, (i % n) as u32))
                .collect()
        };
        let mut c = gen(0);
        for t in 0..2 {
            let b = gen(t + 1);
            let mut out = vec![0u32; n * n];
            for i in 0..n {
                for j in 0..n {
                    let mut s = 0u32;
                    for l in 0..n {
                        s = s.wrapping_add(c[i * n + l].wrapping_mul(b[l * n + j]));
                    }
                    out[i * n + j] = mix_out(s);
                }
            }
            c = out;
        }
        let rows = [0u32, 5, 127];
        let got = task.compute_rows(&rows).unwrap();
        for (q, &r) in rows.iter().enumerate() {
            assert_eq!(got[q], c[r as usize * n..(r as usize + 1) * n]);
        }
        for threads in [0, 2, 3, 8, 200] {
            assert_eq!(task.compute_rows_threaded(&rows, threads).unwrap(), got);
        }
        assert!(task.compute_rows(&[128]).is_none());
    }
}

//! The CPU prover: the same arithmetic as the shader, parallel over rows with std threads.
//!
//! The multiply kernel is register-blocked (4 rows x 16 columns of accumulators, 256-deep
//! panels of `B` that stay in L1). On x86-64 it is compiled a second time with AVX2 enabled
//! and that copy is used when the CPU has AVX2 (runtime detection); the result is the same
//! bits either way: only wrapping `u32` multiply-adds, in any order (addition modulo 2^32 is
//! associative and commutative).

use crate::prover::{Computed, Prover, ProverError};
use crate::task::{mix_out, MatrixKey, Task, TaskKey};

/// Rows of accumulators per micro-kernel step.
const MR: usize = 4;
/// Columns of accumulators per micro-kernel step (one cache line of `u32`).
const NR: usize = 16;
/// Depth of a panel of `B` (NR columns x KC rows = 16 KiB).
const KC: usize = 256;

/// The CPU prover.
#[derive(Clone, Debug)]
pub struct CpuProver {
    threads: usize,
}

impl Default for CpuProver {
    fn default() -> Self {
        CpuProver::new(0)
    }
}

impl CpuProver {
    /// A prover with `threads` worker threads; 0 means one per available core.
    pub fn new(threads: usize) -> CpuProver {
        let threads = if threads == 0 {
            std::thread::available_parallelism().map_or(1, usize::from)
        } else {
            threads
        };
        CpuProver { threads }
    }

    /// Number of worker threads.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Rows per thread: a multiple of [`MR`] (n is a multiple of 128).
    fn rows_per_thread(&self, n: usize) -> usize {
        let per = n.div_ceil(self.threads.max(1));
        per.div_ceil(MR).max(1) * MR
    }

    /// Fills `out` (n x n) with matrix `m` of the task.
    fn generate(&self, key: &TaskKey, m: u32, n: usize, out: &mut [u32]) {
        let mk = key.matrix(m);
        // n <= MAX_N, so it fits in u32 (the params were validated).
        let n32 = n as u32;
        let cols = mk.col_keys(n32);
        let per = self.rows_per_thread(n);
        std::thread::scope(|s| {
            for (chunk_idx, chunk) in out.chunks_mut(per * n).enumerate() {
                let cols = &cols;
                s.spawn(move || {
                    for (q, row) in chunk.chunks_mut(n).enumerate() {
                        mk.fill_row((chunk_idx * per + q) as u32, cols, row);
                    }
                });
            }
        });
    }

    /// `out = mix_out(cur x b)`, all n x n row-major.
    fn round(&self, cur: &[u32], b: &[u32], out: &mut [u32], n: usize) {
        let per = self.rows_per_thread(n);
        std::thread::scope(|s| {
            for (chunk_idx, chunk) in out.chunks_mut(per * n).enumerate() {
                let a = &cur[chunk_idx * per * n..chunk_idx * per * n + chunk.len()];
                s.spawn(move || {
                    matmul_rows(a, b, chunk, n);
                    for v in chunk.iter_mut() {
                        *v = mix_out(*v);
                    }
                });
            }
        });
    }
}

impl Prover for CpuProver {
    fn name(&self) -> String {
        format!("cpu ({} threads)", self.threads)
    }

    /// One round at a time: `budget` is asked before every round.
    fn compute_rounds(
        &self,
        task: &Task,
        budget: &mut dyn FnMut(u32) -> u32,
    ) -> Result<Computed, ProverError> {
        task.params.validate()?;
        let n = task.params.n_usize();
        let key = task.key();
        let mut cur = vec![0u32; n * n];
        let mut b = vec![0u32; n * n];
        let mut next = vec![0u32; n * n];
        self.generate(&key, 0, n, &mut cur);
        let mut t = 0;
        while t < task.params.rounds && budget(t) > 0 {
            self.generate(&key, t + 1, n, &mut b);
            self.round(&cur, &b, &mut next, n);
            std::mem::swap(&mut cur, &mut next);
            t += 1;
        }
        Ok(Computed {
            rounds: t,
            data: cur,
        })
    }
}

/// `c = a x b` for the rows of `a` (rows x n) against `b` (n x n); `c` is overwritten.
fn matmul_rows(a: &[u32], b: &[u32], c: &mut [u32], n: usize) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: `matmul_rows_avx2` only differs from the portable kernel by being
            // compiled with AVX2 enabled; the CPU supports AVX2 (checked just above).
            #[allow(unsafe_code)]
            unsafe {
                matmul_rows_avx2(a, b, c, n)
            };
            return;
        }
    }
    matmul_rows_portable(a, b, c, n);
}

/// # Safety
/// The CPU must support AVX2. (An `unsafe fn` rather than a safe `#[target_feature]` fn,
/// which needs Rust 1.86; the workspace supports 1.85.)
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[allow(unsafe_code)]
unsafe fn matmul_rows_avx2(a: &[u32], b: &[u32], c: &mut [u32], n: usize) {
    matmul_kernel(a, b, c, n);
}

fn matmul_rows_portable(a: &[u32], b: &[u32], c: &mut [u32], n: usize) {
    matmul_kernel(a, b, c, n);
}

#[inline(always)]
fn matmul_kernel(a: &[u32], b: &[u32], c: &mut [u32], n: usize) {
    let rows = c.len() / n;
    c.fill(0);
    for l0 in (0..n).step_by(KC) {
        let l1 = (l0 + KC).min(n);
        for j0 in (0..n).step_by(NR) {
            let mut i = 0;
            while i + MR <= rows {
                let mut acc = [[0u32; NR]; MR];
                for (r, acc_r) in acc.iter_mut().enumerate() {
                    acc_r.copy_from_slice(&c[(i + r) * n + j0..(i + r) * n + j0 + NR]);
                }
                for l in l0..l1 {
                    let bl = &b[l * n + j0..l * n + j0 + NR];
                    for (r, acc_r) in acc.iter_mut().enumerate() {
                        let x = a[(i + r) * n + l];
                        for (s, bv) in acc_r.iter_mut().zip(bl) {
                            *s = s.wrapping_add(x.wrapping_mul(*bv));
                        }
                    }
                }
                for (r, acc_r) in acc.iter().enumerate() {
                    c[(i + r) * n + j0..(i + r) * n + j0 + NR].copy_from_slice(acc_r);
                }
                i += MR;
            }
        }
    }
}

/// `next[q] += cur[q] x B[.., cols]` for every row q: `B` is generated one row at a time into
/// `brow` (one entry per column key in `cols`, a chunk of `B`'s columns), `next[q]` holds the
/// same chunk of columns, and `cur[q]` is a whole row (length = depth). The verifier's inner
/// loop (see `Task::compute_rows_threaded`). AVX2 when present, like [`matmul_rows`].
pub(crate) fn rows_times_generated(
    cur: &[Vec<u32>],
    next: &mut [&mut [u32]],
    b: &MatrixKey,
    cols: &[u32],
    brow: &mut [u32],
) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: only differs from the portable loop by being compiled with AVX2
            // enabled; the CPU supports AVX2 (checked just above).
            #[allow(unsafe_code)]
            unsafe {
                rows_times_generated_avx2(cur, next, b, cols, brow)
            };
            return;
        }
    }
    rows_times_generated_kernel(cur, next, b, cols, brow);
}

/// # Safety
/// The CPU must support AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[allow(unsafe_code)]
unsafe fn rows_times_generated_avx2(
    cur: &[Vec<u32>],
    next: &mut [&mut [u32]],
    b: &MatrixKey,
    cols: &[u32],
    brow: &mut [u32],
) {
    rows_times_generated_kernel(cur, next, b, cols, brow);
}

#[inline(always)]
fn rows_times_generated_kernel(
    cur: &[Vec<u32>],
    next: &mut [&mut [u32]],
    b: &MatrixKey,
    cols: &[u32],
    brow: &mut [u32],
) {
    let depth = cur.first().map_or(0, Vec::len);
    for (l, l32) in (0..depth).zip(0u32..) {
        b.fill_row(l32, cols, brow);
        for (acc, src) in next.iter_mut().zip(cur) {
            let x = src[l];
            for (s, bv) in acc.iter_mut().zip(brow.iter()) {
                *s = s.wrapping_add(x.wrapping_mul(*bv));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::task::TaskParams;

    #[test]
    fn cpu_prover_matches_row_recomputation() {
        for (n, rounds, threads) in [(128, 1, 1), (128, 3, 2), (256, 2, 3)] {
            let task = Task {
                seed: [n as u8; 32],
                params: TaskParams { n, rounds },
            };
            let out = CpuProver::new(threads).compute(&task).unwrap();
            let rows: Vec<u32> = (0..n).collect();
            let want = task.compute_rows(&rows).unwrap();
            for (r, w) in want.iter().enumerate() {
                let nu = n as usize;
                assert_eq!(
                    &out[r * nu..(r + 1) * nu],
                    &w[..],
                    "n {n} rounds {rounds} row {r}"
                );
            }
        }
    }

    #[test]
    fn stopping_after_r_rounds_is_the_task_of_r_rounds() {
        let task = Task {
            seed: [3; 32],
            params: TaskParams { n: 128, rounds: 5 },
        };
        let p = CpuProver::new(2);
        let mut asked = Vec::new();
        let c = p
            .compute_rounds(&task, &mut |done| {
                asked.push(done);
                u32::from(done < 3)
            })
            .unwrap();
        assert_eq!(asked, [0, 1, 2, 3]);
        assert_eq!(c.rounds, 3);
        assert_eq!(c.data, p.compute(&task.with_rounds(3)).unwrap());
        // The budget never runs past max_rounds; none at all leaves A.
        let all = p.compute_rounds(&task, &mut |_| u32::MAX).unwrap();
        assert_eq!((all.rounds, &all.data), (5, &p.compute(&task).unwrap()));
        let none = p.compute_rounds(&task, &mut |_| 0).unwrap();
        assert_eq!(none.rounds, 0);
    }

    #[test]
    fn portable_and_dispatched_kernels_agree() {
        let n = 128;
        let a: Vec<u32> = (0..n * n)
            .map(|i| (i as u32).wrapping_mul(0x9e37_79b9))
            .collect();
        let b: Vec<u32> = (0..n * n)
            .map(|i| (i as u32).wrapping_mul(0x85eb_ca6b) ^ 7)
            .collect();
        let mut c1 = vec![1u32; n * n];
        let mut c2 = vec![2u32; n * n];
        matmul_rows(&a, &b, &mut c1, n);
        matmul_rows_portable(&a, &b, &mut c2, n);
        assert_eq!(c1, c2);
    }

    #[test]
    fn refuses_bad_params() {
        let task = Task {
            seed: [0; 32],
            params: TaskParams { n: 100, rounds: 1 },
        };
        assert!(matches!(
            CpuProver::new(1).compute(&task),
            Err(ProverError::Params(_))
        ));
    }
}

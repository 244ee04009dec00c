//! Property tests: budgets are never exceeded, caps hold, decay never increases.

use emc_tokenomics::*;
use proptest::prelude::*;

fn rounding() -> impl Strategy<Value = SplitRounding> {
    prop_oneof![
        Just(SplitRounding::Down),
        Just(SplitRounding::LargestRemainder)
    ]
}

proptest! {
    #[test]
    fn epoch_payouts_never_exceed_budget(
        epoch in 0u64..20_000,
        weights in prop::collection::vec(any::<u64>(), 0..40),
        rounding in rounding(),
    ) {
        let mut pool = NodeRewardPool::default();
        let r = epoch_reward(period_of_epoch(epoch));
        let out = pool.pay_epoch(epoch, &weights, rounding);
        let sum: u128 = out.payouts.iter().map(|x| u128::from(*x)).sum();
        prop_assert!(sum <= u128::from(r));
        prop_assert_eq!(sum, u128::from(out.total));
        prop_assert_eq!(out.payouts.len(), weights.len());
        for (w, p) in weights.iter().zip(&out.payouts) {
            if *w == 0 { prop_assert_eq!(*p, 0); }
        }
        if rounding == SplitRounding::LargestRemainder && weights.iter().any(|w| *w > 0) {
            prop_assert_eq!(sum, u128::from(r));
        }
    }

    #[test]
    fn split_is_proportional_within_one_e8(
        budget in any::<u64>(),
        weights in prop::collection::vec(0u64..1_000_000_000, 1..30),
    ) {
        let total: u128 = weights.iter().map(|w| u128::from(*w)).sum();
        prop_assume!(total > 0);
        let shares = split_by_weight(budget, &weights, SplitRounding::LargestRemainder);
        for (w, s) in weights.iter().zip(&shares) {
            let exact_floor = u128::from(budget) * u128::from(*w) / total;
            prop_assert!(u128::from(*s) == exact_floor || u128::from(*s) == exact_floor + 1);
        }
    }

    #[test]
    fn emission_never_exceeds_cap(
        cap in 0u64..=NODE_REWARD_POOL_CAP,
        start in 0u64..2_000,
        epochs in 1usize..400,
        weights in prop::collection::vec(0u64..u64::MAX, 1..8),
    ) {
        let mut pool = NodeRewardPool::new(cap);
        let mut was_stopped = false;
        for e in start..start + epochs as u64 {
            let before = pool.emitted;
            let out = pool.pay_epoch(e, &weights, SplitRounding::LargestRemainder);
            prop_assert!(pool.emitted <= cap);
            prop_assert_eq!(pool.emitted - before, out.total);
            if was_stopped { prop_assert_eq!(out.total, 0); prop_assert!(pool.stopped); }
            was_stopped = pool.stopped;
        }
    }

    #[test]
    fn decay_never_increases(n in 1u64..400) {
        let a = Period::new(n).unwrap();
        let b = a.next();
        prop_assert!(period_reward(b) <= period_reward(a));
        prop_assert!(epoch_reward(b) <= epoch_reward(a));
        prop_assert!(epoch_reward(a) <= epoch_reward(Period::FIRST));
        let e = a.first_epoch();
        prop_assert!(epoch_reward(period_of_epoch(e + 90)) <= epoch_reward(period_of_epoch(e)));
        // Trading: a later period never rewards a trade more.
        let params = TokenomicsParams::default();
        let amount = emc(1_000);
        prop_assert!(
            settle_trade(amount, b, &params).total_reward()
                <= settle_trade(amount, a, &params).total_reward()
        );
    }

    #[test]
    fn trade_reward_below_fee_and_self_dealing_loses(
        amount in any::<u64>(),
        n in 1u64..200,
        cap_bps in 0u32..10_000,
        fee_bps in 1u32..=10_000,
    ) {
        let params = TokenomicsParams {
            trade_reward_cap_bps: cap_bps,
            trading_fee_bps: fee_bps,
            ..Default::default()
        };
        let s = settle_trade(amount, Period::new(n).unwrap(), &params);
        prop_assert_eq!(
            u128::from(s.treasury_fee) + u128::from(s.provider_payment),
            u128::from(amount)
        );
        let cap = u128::from(s.treasury_fee) * u128::from(cap_bps) / 10_000;
        prop_assert!(u128::from(s.total_reward()) <= cap);
        if s.treasury_fee > 0 {
            // One owner on both sides gets back less than it paid.
            prop_assert!(u128::from(s.provider_total()) + u128::from(s.user_reward) < u128::from(amount));
        }
    }

    #[test]
    fn trading_pool_never_exceeds_caps(
        grants in prop::collection::vec((0u64..3, 0u8..4, 0u64..emc(1_000)), 1..200),
        cap in 0u64..emc(5_000),
        acct_cap in 0u64..emc(2_000),
    ) {
        let mut pool: TradingRewardPool<u8> = TradingRewardPool::new(cap);
        let mut epoch = 0;
        let mut per: std::collections::BTreeMap<(u64, u8), u64> = Default::default();
        for (de, acct, reward) in grants {
            epoch += de;
            let g = pool.grant(epoch, acct, reward, acct_cap).unwrap();
            prop_assert!(g <= reward);
            let e = per.entry((epoch, acct)).or_default();
            *e += g;
            prop_assert!(*e <= acct_cap);
            prop_assert!(pool.emitted <= cap);
        }
    }
}

proptest! {
    /// The Option-returning epoch helpers are the network's one arithmetic
    /// (`emc_types::epoch`) wherever both are defined: a positive height and a positive length.
    #[test]
    fn epoch_helpers_agree_with_emc_types(
        height in any::<u64>(),
        epoch in any::<u64>(),
        length in prop_oneof![Just(0u64), 1u64..200, Just(BLOCKS_PER_EPOCH), any::<u64>()],
    ) {
        use emc_types::epoch;
        let by_block = epoch_of_block(height, length);
        if height == 0 || length == 0 {
            prop_assert_eq!(by_block, None);
        } else {
            prop_assert_eq!(by_block, Some(epoch::epoch_of(height, length)));
        }
        let last = last_height_of_epoch(epoch, length);
        if length == 0 {
            prop_assert_eq!(last, None);
        } else {
            prop_assert_eq!(last, epoch::last_height_of_epoch(epoch, length));
            if let Some(last) = last {
                prop_assert!(epoch::is_epoch_end(last, length));
                prop_assert_eq!(epoch_of_block(last, length), Some(epoch));
            }
        }
        prop_assert_eq!(epoch_of_height(height), epoch::epoch_of(height, epoch::BLOCKS_PER_EPOCH));
        prop_assert_eq!(BLOCKS_PER_EPOCH, epoch::BLOCKS_PER_EPOCH);
    }
}

//! The spec's numbers, reproduced exactly (protocol.md sections 3, 5, 8, 9, 11).

use emc_tokenomics::*;

fn p(n: u64) -> Period {
    Period::new(n).unwrap()
}

#[test]
fn fibonacci() {
    let first: Vec<u128> = (0..=12).map(|n| fib(n).unwrap()).collect();
    assert_eq!(first, vec![0, 1, 1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144]);
    assert!(fib(186).is_some());
    assert_eq!(fib(187), None);
}

#[test]
fn decay_factors() {
    assert_eq!(decay_factor(p(1)), Some(Ratio { num: 1, den: 1 }));
    assert_eq!(decay_factor(p(2)), Some(Ratio { num: 1, den: 1 }));
    assert_eq!(decay_factor(p(3)), Some(Ratio { num: 1, den: 2 }));
    assert_eq!(decay_factor(p(4)), Some(Ratio { num: 2, den: 3 }));
    assert_eq!(decay_factor(p(5)), Some(Ratio { num: 3, den: 5 }));
    assert_eq!(cumulative_decay(p(4)), Some(Ratio { num: 1, den: 3 }));
    assert!(Period::new(0).is_err());
}

#[test]
fn period_rewards_r1_to_r10() {
    // R(n) = 64,800,000 EMC / F(n), in e8s, rounded down.
    let expected: [(u64, u64); 10] = [
        (1, 6_480_000_000_000_000), // 64,800,000 EMC
        (2, 6_480_000_000_000_000), // 64,800,000
        (3, 3_240_000_000_000_000), // 32,400,000
        (4, 2_160_000_000_000_000), // 21,600,000
        (5, 1_296_000_000_000_000), // 12,960,000
        (6, 810_000_000_000_000),   // 8,100,000
        (7, 498_461_538_461_538),   // 4,984,615.38461538 (64.8M / 13)
        (8, 308_571_428_571_428),   // 3,085,714.28571428 (/ 21)
        (9, 190_588_235_294_117),   // 1,905,882.35294117 (/ 34)
        (10, 117_818_181_818_181),  // 1,178,181.81818181 (/ 55)
    ];
    for (n, r) in expected {
        assert_eq!(period_reward(p(n)), r, "R({n})");
    }
    assert_eq!(period_reward(p(4)), emc(21_600_000));
    assert_eq!(period_reward(p(5)), emc(12_960_000));
    // R(n) = R(n-1) x df(n) exactly while F(n) divides 64.8M EMC.
    for n in 2..=6 {
        let df = decay_factor(p(n)).unwrap();
        assert_eq!(
            u128::from(period_reward(p(n))),
            df.mul_floor(u128::from(period_reward(p(n - 1)))).unwrap()
        );
    }
}

#[test]
fn epoch_reward_first_period_is_720k() {
    assert_eq!(epoch_reward(p(1)), emc(720_000));
    assert_eq!(epoch_reward(p(2)), emc(720_000));
    assert_eq!(epoch_reward(p(3)), emc(360_000));
    assert_eq!(epoch_reward(p(4)), emc(240_000));
    // r(7) = 64.8M / (90 x 13) rounded down once.
    assert_eq!(epoch_reward(p(7)), 6_480_000_000_000_000 / (90 * 13));
    assert_eq!(epoch_reward(p(1_000)), 0);
    assert_eq!(epoch_reward(Period::new(u64::MAX).unwrap()), 0);
}

#[test]
fn epoch_and_period_arithmetic() {
    assert_eq!(BLOCKS_PER_PERIOD, 3_888_000);
    // emc-consensus numbering: height h >= 1 is in epoch (h - 1) / 43,200; the genesis (0)
    // counts as epoch 0; the checkpoint at (e + 1) * 43,200 closes epoch e.
    assert_eq!(epoch_of_height(0), 0);
    assert_eq!(epoch_of_height(1), 0);
    assert_eq!(epoch_of_height(43_199), 0);
    assert_eq!(epoch_of_height(43_200), 0);
    assert_eq!(epoch_of_height(43_201), 1);
    assert_eq!(epoch_of_height(86_400), 1);
    assert_eq!(epoch_of_height(86_401), 2);
    assert_eq!(period_of_epoch(0), p(1));
    assert_eq!(period_of_epoch(89), p(1));
    assert_eq!(period_of_epoch(90), p(2));
    assert_eq!(period_of_height(1), p(1));
    assert_eq!(period_of_height(3_888_000), p(1));
    assert_eq!(period_of_height(3_888_001), p(2));
    assert_eq!(
        period_of_height(u64::MAX).get(),
        (u64::MAX - 1) / BLOCKS_PER_PERIOD + 1
    );
    // Any epoch length.
    assert_eq!(epoch_of_block(0, 120), None);
    assert_eq!(epoch_of_block(1, 0), None);
    assert_eq!(epoch_of_block(1, 120), Some(0));
    assert_eq!(epoch_of_block(120, 120), Some(0));
    assert_eq!(epoch_of_block(121, 120), Some(1));
    assert_eq!(epoch_of_block(u64::MAX, 1), Some(u64::MAX - 1));
    assert_eq!(last_height_of_epoch(0, 120), Some(120));
    assert_eq!(last_height_of_epoch(1, 43_200), Some(86_400));
    assert_eq!(last_height_of_epoch(3, 0), None);
    assert_eq!(last_height_of_epoch(u64::MAX, 1), None);
    assert_eq!(last_height_of_epoch(u64::MAX / 2, 3), None);
    for l in [1u64, 2, 30, 120, 43_200] {
        for e in [0u64, 1, 7, 1_000] {
            let last = last_height_of_epoch(e, l).unwrap();
            assert_eq!(
                epoch_of_block(last, l),
                Some(e),
                "closing height of {e} (L = {l})"
            );
            assert_eq!(epoch_of_block(last + 1, l), Some(e + 1));
            assert_eq!(epoch_of_block(e * l + 1, l), Some(e), "first height of {e}");
        }
    }
    assert_eq!(
        epoch_of_height(43_200),
        epoch_of_block(43_200, BLOCKS_PER_EPOCH).unwrap()
    );
    assert_eq!(p(3).first_epoch(), 180);
    assert_eq!(trading::trading_period(100, 10), Some(p(2)));
    assert_eq!(trading::trading_period(9, 10), None);
}

#[test]
fn e_weights() {
    assert_eq!(poc_weight(10_380).unwrap(), Fixed4(14_451));
    assert_eq!(poc_weight(10_380).unwrap().to_string(), "1.4451");
    assert_eq!(poc_weight(30_218).unwrap(), Fixed4(4_964));
    assert_eq!(poc_weight(30_218).unwrap().to_string(), "0.4964");
    assert_eq!(poc_weight(15_000).unwrap(), Fixed4::ONE);
    assert_eq!(poc_weight(0), Err(TokenomicsError::ZeroPocTime));
    assert_eq!(poc_weight(1).unwrap(), Fixed4(150_000_000));
    // 1.4451 x 6.2 = 8.95962: kept as 8.9596 (4 decimals), printed by the spec as 8.96.
    let m = StakingMultipliers::default().get(StakeTerm::Days90);
    assert_eq!(m, Fixed4(62_000));
    let e = compute_weight(Fixed4(14_451), m);
    assert_eq!(e, Fixed4(89_596));
    assert_eq!(e.round_to_decimals(2), Fixed4(89_600));
    assert_eq!(e.round_to_decimals(2).to_string(), "8.9600");
    // Unstaked x1, 180 days x10.
    let ms = StakingMultipliers::default();
    assert_eq!(compute_weight(Fixed4(14_451), ms.unstaked), Fixed4(14_451));
    assert_eq!(compute_weight(Fixed4(14_451), ms.days180), Fixed4(144_510));
    assert_eq!(compute_weight(Fixed4(14_451), ms.days7), Fixed4(20_231)); // 2.02314
    assert_eq!(compute_weight(Fixed4(14_451), ms.days30), Fixed4(39_018)); // 3.90177
                                                                           // Validator: 100 x stake / 1M EMC; router: 10 x stake / 100k EMC.
    assert_eq!(validator_weight(emc(1_000_000)), Fixed4::from_int(100));
    assert_eq!(validator_weight(emc(2_500_000)), Fixed4::from_int(250));
    assert_eq!(router_weight(emc(100_000)), Fixed4::from_int(10));
    assert_eq!(router_weight(emc(150_000)), Fixed4::from_int(15));
    assert_eq!(router_weight(1), Fixed4(0)); // rounds down
    assert_eq!(validator_weight(u64::MAX), Fixed4(u64::MAX / E8S_PER_EMC));
}

#[test]
fn split_examples() {
    let w = [
        Fixed4(14_451).raw(),
        Fixed4(4_964).raw(),
        Fixed4(89_596).raw(),
    ];
    let budget = epoch_reward(p(1));
    let down = split_by_weight(budget, &w, SplitRounding::Down);
    let lr = split_by_weight(budget, &w, SplitRounding::LargestRemainder);
    assert!(down.iter().sum::<u64>() <= budget);
    assert_eq!(lr.iter().sum::<u64>(), budget);
    for (d, l) in down.iter().zip(&lr) {
        assert!(l - d <= 1);
    }
    assert_eq!(
        split_by_weight(10, &[1, 1, 1], SplitRounding::LargestRemainder),
        vec![4, 3, 3]
    );
    assert_eq!(
        split_by_weight(10, &[1, 1, 1], SplitRounding::Down),
        vec![3, 3, 3]
    );
    assert_eq!(
        split_by_weight(10, &[0, 0], SplitRounding::LargestRemainder),
        vec![0, 0]
    );
    assert_eq!(
        split_by_weight(10, &[], SplitRounding::LargestRemainder),
        Vec::<u64>::new()
    );
    assert_eq!(
        split_by_weight(10, &[0, 5], SplitRounding::LargestRemainder),
        vec![0, 10]
    );
    assert_eq!(
        split_by_weight(
            u64::MAX,
            &[u64::MAX, u64::MAX, 1],
            SplitRounding::LargestRemainder
        )
        .iter()
        .map(|x| u128::from(*x))
        .sum::<u128>(),
        u128::from(u64::MAX)
    );
}

#[test]
fn node_pool_stops_for_good() {
    let mut pool = NodeRewardPool::new(emc(1_500_000));
    let a = pool.pay_epoch(0, &[1, 1], SplitRounding::LargestRemainder);
    assert_eq!(a.total, emc(720_000));
    let b = pool.pay_epoch(1, &[1, 1], SplitRounding::LargestRemainder);
    assert_eq!(b.total, emc(720_000));
    assert_eq!(pool.epoch_budget(2), 0);
    let c = pool.pay_epoch(2, &[1, 1], SplitRounding::LargestRemainder);
    assert_eq!((c.budget, c.total), (0, 0));
    assert!(pool.stopped);
    // Even a later, smaller budget that would fit is not paid.
    assert_eq!(pool.epoch_budget(180), 0);
    assert_eq!(pool.pay_epoch(180, &[1], SplitRounding::Down).total, 0);
    assert_eq!(pool.emitted, emc(1_440_000));
}

#[test]
fn full_schedule_stays_under_the_cap() {
    // With the defaults the whole series (~217.7M EMC) stays under 420M: the cap is a net.
    let mut pool = NodeRewardPool::default();
    let mut epoch = 0;
    while epoch_reward(period_of_epoch(epoch)) > 0 {
        pool.pay_epoch(epoch, &[3, 5, 7], SplitRounding::LargestRemainder);
        epoch += 1;
    }
    assert!(!pool.stopped);
    assert!(pool.emitted <= NODE_REWARD_POOL_CAP);
    let emc_total = pool.emitted / E8S_PER_EMC;
    assert!(
        (217_000_000..218_000_000).contains(&emc_total),
        "{emc_total}"
    );
}

/// |a - b| in e8s is within 0.1 EMC.
fn within_tenth(a: u64, printed_tenths: u64) -> bool {
    let printed = printed_tenths * (E8S_PER_EMC / 10);
    a.abs_diff(printed) <= E8S_PER_EMC / 10
}

#[test]
fn trading_example_period_4() {
    let params = TokenomicsParams::default();
    let s = settle_trade(emc(1_000), p(4), &params);
    assert_eq!(s.treasury_fee, emc(200));
    assert_eq!(s.provider_payment, emc(800));
    // Exact math, rounded down to e8s once.
    assert_eq!(s.user_reward, 4_444_444_444); // 44.44444444
    assert_eq!(s.provider_reward, 2_222_222_222); // 22.22222222
    assert_eq!(s.user_net_cost(), 95_555_555_556); // 955.55555556
    assert_eq!(s.provider_total(), 82_222_222_222); // 822.22222222
                                                    // The 0.9 cap (180 EMC) does not bind: total reward 66.67 EMC.
    assert!(s.total_reward() < emc(180));
    // Within 0.1 EMC of the printed 44.5 / 22.2 / 955.5 / 822.2 / 200.
    assert!(within_tenth(s.user_reward, 445));
    assert!(within_tenth(s.provider_reward, 222));
    assert!(within_tenth(s.user_net_cost(), 9_555));
    assert!(within_tenth(s.provider_total(), 8_222));
    assert!(within_tenth(s.treasury_fee, 2_000));
    // Money is conserved: M = fee + provider payment.
    assert_eq!(s.treasury_fee + s.provider_payment, s.amount);
}

#[test]
fn trading_cap_binds_in_periods_1_and_2() {
    let params = TokenomicsParams::default();
    for n in [1, 2] {
        let s = settle_trade(emc(1_000), p(n), &params);
        // Literally the reward would be the whole 200 EMC fee; the cap makes it 180.
        assert_eq!(s.user_reward, emc(180));
        assert_eq!(s.provider_reward, 0);
        // Self-dealing loses: pays 1000, gets back 800 + 180.
        assert!(s.provider_total() + s.user_reward < s.amount);
    }
    // Period 3: P = 1/2, df = 1/2: 50 + 50 of the fee 200, cap not binding.
    let s = settle_trade(emc(1_000), p(3), &params);
    assert_eq!((s.user_reward, s.provider_reward), (emc(50), emc(50)));
    // A lower cap binds in period 3 too and scales both parts.
    let low = TokenomicsParams {
        trade_reward_cap_bps: 2_500,
        ..params
    };
    let s = settle_trade(emc(1_000), p(3), &low);
    assert_eq!((s.user_reward, s.provider_reward), (emc(25), emc(25)));
    // Far periods pay nothing; huge amounts do not overflow.
    assert_eq!(settle_trade(emc(1_000), p(500), &params).total_reward(), 0);
    let s = settle_trade(u64::MAX, p(4), &params);
    assert!(s.total_reward() <= s.treasury_fee);
}

#[test]
fn trading_pool_caps() {
    let params = TokenomicsParams {
        account_epoch_reward_cap: emc(100),
        ..Default::default()
    };
    let mut pool: TradingRewardPool<u32> = TradingRewardPool::new(emc(250));
    // Period 4: user 44.44, provider 22.22 per 1000 EMC trade.
    let s1 = pool
        .settle_and_grant(5, emc(1_000), p(4), 1, 2, &params)
        .unwrap();
    assert_eq!(s1.user_reward, 4_444_444_444);
    let s2 = pool
        .settle_and_grant(5, emc(1_000), p(4), 1, 2, &params)
        .unwrap();
    assert_eq!(s2.user_reward, 4_444_444_444);
    // Third trade: user 1 has 88.88 this epoch; only 11.11 fit under the 100 EMC cap.
    let s3 = pool
        .settle_and_grant(5, emc(1_000), p(4), 1, 2, &params)
        .unwrap();
    assert_eq!(s3.user_reward, emc(100) - 2 * 4_444_444_444);
    // A new epoch resets the account cap; the pool cap (250) still holds.
    for _ in 0..10 {
        pool.settle_and_grant(6, emc(1_000), p(4), 1, 2, &params)
            .unwrap();
        assert!(pool.emitted <= emc(250));
    }
    assert_eq!(pool.emitted, emc(250));
    assert!(pool.grant(4, 1, 1, emc(100)).is_err());
}

#[test]
fn params_validation() {
    assert!(TokenomicsParams::default().validate().is_ok());
    let bad = TokenomicsParams {
        trade_reward_cap_bps: 10_000,
        ..Default::default()
    };
    assert!(bad.validate().is_err());
    let bad = TokenomicsParams {
        trading_fee_bps: 10_001,
        ..Default::default()
    };
    assert!(bad.validate().is_err());
    let m = StakingMultipliers {
        days30: Fixed4(10),
        ..Default::default()
    };
    assert!(m.validate().is_err());
}

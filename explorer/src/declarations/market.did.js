// Generated from candid/market.did by `UPDATE_IDL=1 cargo test -p emc-devnet --test it explorer::`: do not edit.
export const idlFactory = ({ IDL }) => {
  const Params = IDL.Record({
    'trade_reward_cap_bps' : IDL.Nat32,
    'account_epoch_reward_cap_e8s' : IDL.Nat64,
    'trading_fee_bps' : IDL.Nat32,
    'max_offers_per_provider' : IDL.Nat32,
    'ledger_fee_e8s' : IDL.Nat64,
    'max_batch' : IDL.Nat32,
    'withdrawal_notice_ns' : IDL.Nat64,
    'verify_user_signatures' : IDL.Bool,
  });
  const Account = IDL.Record({
    'owner' : IDL.Principal,
    'subaccount' : IDL.Opt(IDL.Vec(IDL.Nat8)),
  });
  const InitArgs = IDL.Record({
    'epochs' : IDL.Principal,
    'ledger' : IDL.Principal,
    'market_open_epoch' : IDL.Nat64,
    'governance' : IDL.Principal,
    'registry' : IDL.Principal,
    'params' : IDL.Opt(Params),
    'treasury' : Account,
  });
  const MarketArg = IDL.Variant({ 'Upgrade' : IDL.Null, 'Init' : InitArgs });
  const Admission = IDL.Record({
    'user' : IDL.Vec(IDL.Nat8),
    'available_e8s' : IDL.Nat64,
    'buyer' : IDL.Principal,
  });
  const LaneRef = IDL.Record({
    'node' : IDL.Vec(IDL.Nat8),
    'epoch' : IDL.Nat64,
  });
  const AdmissionLanes = IDL.Record({
    'admission' : Admission,
    'paid_e8s' : IDL.Vec(IDL.Nat64),
  });
  const BindKeyArgs = IDL.Record({
    'key' : IDL.Vec(IDL.Nat8),
    'signature' : IDL.Vec(IDL.Nat8),
  });
  const CosignError = IDL.Variant({
    'Missing' : IDL.Vec(IDL.Nat8),
    'NotMember' : IDL.Vec(IDL.Nat8),
    'Duplicate' : IDL.Vec(IDL.Nat8),
    'BadSignature' : IDL.Vec(IDL.Nat8),
  });
  const MarketError = IDL.Variant({
    'CallFailed' : IDL.Text,
    'Storage' : IDL.Text,
    'UnknownOffer' : IDL.Nat64,
    'CheckpointNotFinal' : IDL.Nat64,
    'Anonymous' : IDL.Null,
    'Overflow' : IDL.Null,
    'NotOfferOwner' : IDL.Nat64,
    'BadKeySignature' : IDL.Null,
    'NoticePending' : IDL.Record({ 'unlock_at' : IDL.Nat64 }),
    'UnknownSocket' : IDL.Nat64,
    'Cosignature' : CosignError,
    'NotProvider' : IDL.Text,
    'NotPoolMember' : IDL.Vec(IDL.Nat8),
    'UnknownNode' : IDL.Null,
    'ZeroAmount' : IDL.Null,
    'UnknownCheckpoint' : IDL.Nat64,
    'SocketExpired' : IDL.Nat64,
    'NotFound' : IDL.Null,
    'NoWithdrawal' : IDL.Null,
    'NoEscrow' : IDL.Null,
    'NotSocketHolder' : IDL.Nat64,
    'BatchTooLarge' : IDL.Nat32,
    'InvalidArgument' : IDL.Text,
    'BadUserSignature' : IDL.Null,
    'UnboundUser' : IDL.Null,
    'Ledger' : IDL.Text,
    'InsufficientEscrow' : IDL.Record({ 'available_e8s' : IDL.Nat64 }),
    'BadProof' : IDL.Null,
    'TooManyOffers' : IDL.Nat32,
    'NotGovernance' : IDL.Null,
    'KeyAlreadyBound' : IDL.Null,
    'Replayed' : IDL.Record({ 'paid_e8s' : IDL.Nat64 }),
  });
  const Result_1 = IDL.Variant({ 'Ok' : IDL.Null, 'Err' : MarketError });
  const BuySocketArgs = IDL.Record({
    'model_hash' : IDL.Vec(IDL.Nat8),
    'units_per_period' : IDL.Nat64,
    'periods' : IDL.Nat32,
    'offer_id' : IDL.Nat64,
  });
  const MintStatus = IDL.Variant({
    'Minted' : IDL.Record({ 'token_id' : IDL.Nat64 }),
    'Pending' : IDL.Null,
  });
  const SocketPurchase = IDL.Record({
    'id' : IDL.Nat64,
    'app' : IDL.Text,
    'provider' : IDL.Principal,
    'model_hash' : IDL.Vec(IDL.Nat8),
    'mint' : MintStatus,
    'node' : IDL.Vec(IDL.Nat8),
    'units_per_period' : IDL.Nat64,
    'created_at' : IDL.Nat64,
    'offer_id' : IDL.Nat64,
    'period_secs' : IDL.Nat64,
    'buyer' : IDL.Principal,
    'price_e8s' : IDL.Nat64,
    'escrow' : IDL.Principal,
    'expires_at' : IDL.Nat64,
  });
  const Result_7 = IDL.Variant({ 'Ok' : SocketPurchase, 'Err' : MarketError });
  const WithdrawalRequest = IDL.Record({
    'unlock_at' : IDL.Nat64,
    'amount_e8s' : IDL.Nat64,
  });
  const EscrowView = IDL.Record({
    'fees_e8s' : IDL.Nat64,
    'spent_e8s' : IDL.Nat64,
    'deposited_e8s' : IDL.Nat64,
    'subaccount' : IDL.Vec(IDL.Nat8),
    'withdrawable_e8s' : IDL.Nat64,
    'reserved_e8s' : IDL.Nat64,
    'withdrawal' : IDL.Opt(WithdrawalRequest),
    'available_e8s' : IDL.Nat64,
    'withdrawn_e8s' : IDL.Nat64,
    'balance_e8s' : IDL.Nat64,
    'buyer' : IDL.Principal,
  });
  const Result_2 = IDL.Variant({ 'Ok' : EscrowView, 'Err' : MarketError });
  const MeterUnit = IDL.Variant({
    'Seconds' : IDL.Null,
    'ImageSteps' : IDL.Null,
    'Tokens' : IDL.Null,
  });
  const Offer = IDL.Record({
    'id' : IDL.Nat64,
    'app' : IDL.Text,
    'updated_at' : IDL.Nat64,
    'provider' : IDL.Principal,
    'node' : IDL.Vec(IDL.Nat8),
    'unit' : MeterUnit,
    'created_at' : IDL.Nat64,
    'capacity' : IDL.Nat64,
    'price_e8s' : IDL.Nat64,
  });
  const ProviderShare = IDL.Record({
    'owner' : IDL.Principal,
    'reward_e8s' : IDL.Nat64,
    'payment_e8s' : IDL.Nat64,
  });
  const Trade = IDL.Record({
    'provider' : IDL.Principal,
    'treasury_fee_e8s' : IDL.Nat64,
    'period' : IDL.Nat64,
    'provider_payment_e8s' : IDL.Nat64,
    'node' : IDL.Vec(IDL.Nat8),
    'checkpoint_height' : IDL.Nat64,
    'user' : IDL.Vec(IDL.Nat8),
    'provider_reward_e8s' : IDL.Nat64,
    'epoch' : IDL.Nat64,
    'amount_e8s' : IDL.Nat64,
    'nonce' : IDL.Nat64,
    'paid_cumulative_e8s' : IDL.Nat64,
    'cumulative_e8s' : IDL.Nat64,
    'buyer' : IDL.Principal,
    'user_reward_e8s' : IDL.Nat64,
    'pool_shares' : IDL.Vec(ProviderShare),
  });
  const Event = IDL.Variant({
    'WithdrawalRequested' : IDL.Record({
      'unlock_at' : IDL.Nat64,
      'amount_e8s' : IDL.Nat64,
      'buyer' : IDL.Principal,
    }),
    'Deposit' : IDL.Record({
      'amount_e8s' : IDL.Nat64,
      'block' : IDL.Nat64,
      'buyer' : IDL.Principal,
    }),
    'OfferUpdated' : Offer,
    'Withdrawal' : IDL.Record({
      'amount_e8s' : IDL.Nat64,
      'buyer' : IDL.Principal,
      'transfer' : IDL.Nat64,
    }),
    'Trade' : Trade,
    'SocketMinted' : IDL.Record({
      'token_id' : IDL.Nat64,
      'purchase' : IDL.Nat64,
    }),
    'OfferPosted' : Offer,
    'SocketBought' : IDL.Record({
      'offer_id' : IDL.Nat64,
      'buyer' : IDL.Principal,
      'price_e8s' : IDL.Nat64,
      'transfer' : IDL.Nat64,
      'purchase' : IDL.Nat64,
    }),
    'KeyBound' : IDL.Record({
      'key' : IDL.Vec(IDL.Nat8),
      'buyer' : IDL.Principal,
    }),
    'OfferWithdrawn' : IDL.Record({
      'id' : IDL.Nat64,
      'provider' : IDL.Principal,
    }),
  });
  const LoggedEvent = IDL.Record({
    'id' : IDL.Nat64,
    'hash' : IDL.Vec(IDL.Nat8),
    'event' : Event,
    'timestamp' : IDL.Nat64,
    'parent_hash' : IDL.Opt(IDL.Vec(IDL.Nat8)),
  });
  const EventsPage = IDL.Record({
    'events' : IDL.Vec(LoggedEvent),
    'log_length' : IDL.Nat64,
  });
  const ResolveTransferArgs = IDL.Record({
    'id' : IDL.Nat64,
    'executed_in_block' : IDL.Opt(IDL.Nat64),
  });
  const Config = IDL.Record({
    'epochs' : IDL.Principal,
    'ledger' : IDL.Principal,
    'market_open_epoch' : IDL.Nat64,
    'governance' : IDL.Principal,
    'registry' : IDL.Principal,
    'params' : Params,
    'treasury' : Account,
  });
  const PoolMember = IDL.Record({
    'owner' : IDL.Principal,
    'node' : IDL.Vec(IDL.Nat8),
    'e_fixed' : IDL.Opt(IDL.Nat64),
    'left_at' : IDL.Opt(IDL.Nat64),
  });
  const Pool = IDL.Record({
    'members' : IDL.Vec(PoolMember),
    'entry' : IDL.Vec(IDL.Nat8),
    'e_read_at' : IDL.Opt(IDL.Nat64),
    'offer_id' : IDL.Nat64,
  });
  const Result_9 = IDL.Variant({ 'Ok' : Pool, 'Err' : MarketError });
  const TransferStatus = IDL.Variant({
    'Stuck' : IDL.Null,
    'Failed' : IDL.Record({ 'reason' : IDL.Text }),
    'Done' : IDL.Record({ 'block' : IDL.Nat64 }),
    'Pending' : IDL.Null,
  });
  const TransferKind = IDL.Variant({
    'ProviderPayment' : IDL.Null,
    'Deposit' : IDL.Null,
    'SocketFunding' : IDL.Null,
    'TreasuryFee' : IDL.Null,
    'Reward' : IDL.Null,
    'Withdrawal' : IDL.Null,
  });
  const Transfer = IDL.Record({
    'id' : IDL.Nat64,
    'to' : Account,
    'status' : TransferStatus,
    'kind' : TransferKind,
    'attempts' : IDL.Nat32,
    'fee_e8s' : IDL.Nat64,
    'from_subaccount' : IDL.Opt(IDL.Vec(IDL.Nat8)),
    'amount_e8s' : IDL.Nat64,
    'buyer' : IDL.Opt(IDL.Principal),
    'created_at_time' : IDL.Nat64,
  });
  const OfferArgs = IDL.Record({
    'app' : IDL.Text,
    'node' : IDL.Vec(IDL.Nat8),
    'unit' : MeterUnit,
    'capacity' : IDL.Nat64,
    'price_e8s' : IDL.Nat64,
  });
  const Result = IDL.Variant({ 'Ok' : Offer, 'Err' : MarketError });
  const PoolOfferArgs = IDL.Record({
    'app' : IDL.Text,
    'members' : IDL.Vec(IDL.Vec(IDL.Nat8)),
    'unit' : MeterUnit,
    'entry' : IDL.Vec(IDL.Nat8),
    'capacity' : IDL.Nat64,
    'price_e8s' : IDL.Nat64,
  });
  const Result_8 = IDL.Variant({
    'Ok' : IDL.Tuple(Offer, Pool),
    'Err' : MarketError,
  });
  const Result_3 = IDL.Variant({ 'Ok' : Transfer, 'Err' : MarketError });
  const ComputeReceipt = IDL.Record({
    'request_hash' : IDL.Vec(IDL.Nat8),
    'user_signature' : IDL.Vec(IDL.Nat8),
    'response_hash' : IDL.Vec(IDL.Nat8),
    'node' : IDL.Vec(IDL.Nat8),
    'unit' : MeterUnit,
    'user' : IDL.Vec(IDL.Nat8),
    'epoch' : IDL.Nat64,
    'nonce' : IDL.Nat64,
    'units' : IDL.Nat64,
    'cumulative_e8s' : IDL.Nat64,
    'router' : IDL.Vec(IDL.Nat8),
    'price_e8s' : IDL.Nat64,
    'node_signature' : IDL.Vec(IDL.Nat8),
  });
  const Cosignature = IDL.Record({
    'signature' : IDL.Vec(IDL.Nat8),
    'node' : IDL.Vec(IDL.Nat8),
  });
  const ReceiptProof = IDL.Record({
    'receipt' : ComputeReceipt,
    'checkpoint_height' : IDL.Nat64,
    'leaf_index' : IDL.Nat64,
    'proof' : IDL.Vec(IDL.Vec(IDL.Nat8)),
    'leaf_count' : IDL.Nat64,
    'cosignatures' : IDL.Opt(IDL.Vec(Cosignature)),
  });
  const Result_4 = IDL.Variant({ 'Ok' : Trade, 'Err' : MarketError });
  const Result_5 = IDL.Variant({
    'Ok' : IDL.Vec(Result_4),
    'Err' : MarketError,
  });
  const SocketKey = IDL.Record({
    'token_id' : IDL.Nat64,
    'holder' : IDL.Principal,
    'escrow' : IDL.Principal,
  });
  const Stats = IDL.Record({
    'volume_e8s' : IDL.Nat64,
    'trades' : IDL.Nat64,
    'pending_transfers' : IDL.Nat64,
    'offers' : IDL.Nat64,
    'treasury_fees_e8s' : IDL.Nat64,
    'events' : IDL.Nat64,
    'escrow_held_e8s' : IDL.Nat64,
    'escrows' : IDL.Nat64,
    'rewards_e8s' : IDL.Nat64,
  });
  const UpdateOfferArgs = IDL.Record({
    'id' : IDL.Nat64,
    'capacity' : IDL.Opt(IDL.Nat64),
    'price_e8s' : IDL.Opt(IDL.Nat64),
  });
  const Result_6 = IDL.Variant({ 'Ok' : IDL.Text, 'Err' : IDL.Text });
  return IDL.Service({
    'admission' : IDL.Func(
        [IDL.Vec(IDL.Nat8)],
        [IDL.Opt(Admission)],
        ['query'],
      ),
    'admission_lanes' : IDL.Func(
        [IDL.Vec(IDL.Nat8), IDL.Vec(LaneRef)],
        [IDL.Opt(AdmissionLanes)],
        ['query'],
      ),
    'admissions' : IDL.Func(
        [IDL.Vec(IDL.Vec(IDL.Nat8))],
        [IDL.Vec(IDL.Opt(Admission))],
        ['query'],
      ),
    'bind_key' : IDL.Func([BindKeyArgs], [Result_1], []),
    'bind_socket_key' : IDL.Func([IDL.Nat64, BindKeyArgs], [Result_1], []),
    'buy_socket' : IDL.Func([BuySocketArgs], [Result_7], []),
    'deposit' : IDL.Func([IDL.Nat64], [Result_2], []),
    'escrow' : IDL.Func([IDL.Principal], [IDL.Opt(EscrowView)], ['query']),
    'events' : IDL.Func([IDL.Nat64, IDL.Nat64], [EventsPage], ['query']),
    'execute_resolve_transfer' : IDL.Func([ResolveTransferArgs], [], []),
    'execute_set_governance' : IDL.Func([IDL.Principal], [], []),
    'execute_set_params' : IDL.Func([Params], [], []),
    'execute_set_sockets' : IDL.Func([IDL.Opt(IDL.Principal)], [], []),
    'get_config' : IDL.Func([], [Config], ['query']),
    'lane_paid' : IDL.Func(
        [IDL.Vec(IDL.Nat8), IDL.Vec(IDL.Nat8), IDL.Nat64],
        [IDL.Nat64],
        ['query'],
      ),
    'leave_pool' : IDL.Func([IDL.Nat64, IDL.Vec(IDL.Nat8)], [Result_9], []),
    'list_offers' : IDL.Func(
        [IDL.Opt(IDL.Nat64), IDL.Nat32],
        [IDL.Vec(Offer)],
        ['query'],
      ),
    'offer' : IDL.Func([IDL.Nat64], [IDL.Opt(Offer)], ['query']),
    'offers_of' : IDL.Func([IDL.Principal], [IDL.Vec(Offer)], ['query']),
    'pending_transfers' : IDL.Func([], [IDL.Vec(Transfer)], ['query']),
    'pool' : IDL.Func([IDL.Nat64], [IDL.Opt(Pool)], ['query']),
    'post_offer' : IDL.Func([OfferArgs], [Result], []),
    'post_pool_offer' : IDL.Func([PoolOfferArgs], [Result_8], []),
    'reclaim_socket' : IDL.Func([IDL.Nat64], [Result_3], []),
    'request_withdrawal' : IDL.Func([IDL.Nat64], [Result_2], []),
    'run_journal' : IDL.Func([], [IDL.Nat64], []),
    'run_socket_mints' : IDL.Func([], [IDL.Nat64], []),
    'settle_batch' : IDL.Func([IDL.Vec(ReceiptProof)], [Result_5], []),
    'settle_receipt' : IDL.Func([ReceiptProof], [Result_4], []),
    'socket_key' : IDL.Func(
        [IDL.Vec(IDL.Nat8)],
        [IDL.Opt(SocketKey)],
        ['query'],
      ),
    'socket_purchase' : IDL.Func(
        [IDL.Nat64],
        [IDL.Opt(SocketPurchase)],
        ['query'],
      ),
    'socket_purchase_of_token' : IDL.Func(
        [IDL.Nat64],
        [IDL.Opt(SocketPurchase)],
        ['query'],
      ),
    'sockets_canister' : IDL.Func([], [IDL.Opt(IDL.Principal)], ['query']),
    'stats' : IDL.Func([], [Stats], ['query']),
    'transfer' : IDL.Func([IDL.Nat64], [IDL.Opt(Transfer)], ['query']),
    'update_offer' : IDL.Func([UpdateOfferArgs], [Result], []),
    'validate_resolve_transfer' : IDL.Func(
        [ResolveTransferArgs],
        [Result_6],
        ['query'],
      ),
    'validate_set_governance' : IDL.Func(
        [IDL.Principal],
        [Result_6],
        ['query'],
      ),
    'validate_set_params' : IDL.Func([Params], [Result_6], ['query']),
    'validate_set_sockets' : IDL.Func(
        [IDL.Opt(IDL.Principal)],
        [Result_6],
        ['query'],
      ),
    'withdraw' : IDL.Func([], [Result_3], []),
    'withdraw_offer' : IDL.Func([IDL.Nat64], [Result_1], []),
  });
};
export const init = ({ IDL }) => {
  const Params = IDL.Record({
    'trade_reward_cap_bps' : IDL.Nat32,
    'account_epoch_reward_cap_e8s' : IDL.Nat64,
    'trading_fee_bps' : IDL.Nat32,
    'max_offers_per_provider' : IDL.Nat32,
    'ledger_fee_e8s' : IDL.Nat64,
    'max_batch' : IDL.Nat32,
    'withdrawal_notice_ns' : IDL.Nat64,
    'verify_user_signatures' : IDL.Bool,
  });
  const Account = IDL.Record({
    'owner' : IDL.Principal,
    'subaccount' : IDL.Opt(IDL.Vec(IDL.Nat8)),
  });
  const InitArgs = IDL.Record({
    'epochs' : IDL.Principal,
    'ledger' : IDL.Principal,
    'market_open_epoch' : IDL.Nat64,
    'governance' : IDL.Principal,
    'registry' : IDL.Principal,
    'params' : IDL.Opt(Params),
    'treasury' : Account,
  });
  const MarketArg = IDL.Variant({ 'Upgrade' : IDL.Null, 'Init' : InitArgs });
  return [MarketArg];
};
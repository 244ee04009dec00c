// Generated from candid/market.did by `UPDATE_IDL=1 cargo test -p emc-devnet --test it explorer::`: do not edit.
import type { Principal } from '@dfinity/principal';
import type { ActorMethod } from '@dfinity/agent';
import type { IDL } from '@dfinity/candid';

/**
 * [Account](https://github.com/dfinity/ICRC-1/blob/main/standards/ICRC-3/README.md#value)
 * representation of ledgers supporting the ICRC-1 standard.
 */
export interface Account {
  'owner' : Principal,
  'subaccount' : [] | [Uint8Array | number[]],
}
/**
 * What a router reads to admit a call: the escrow behind a user key.
 */
export interface Admission {
  /**
   * The user key.
   */
  'user' : Uint8Array | number[],
  /**
   * Credit available to new calls, e8s.
   */
  'available_e8s' : bigint,
  /**
   * The buyer it is bound to.
   */
  'buyer' : Principal,
}
/**
 * A user's admission and what the market has paid on some of its lanes, read at one
 * instant: a router subtracts the receipts it has seen but the market has not yet settled.
 */
export interface AdmissionLanes {
  /**
   * The escrow behind the key.
   */
  'admission' : Admission,
  /**
   * e8s settled so far on each lane asked, in the order asked (at most
   * [`crate::market::MAX_LANES_ASKED`]).
   */
  'paid_e8s' : BigUint64Array | bigint[],
}
/**
 * Binds a user key (the ed25519 key that countersigns receipts) to the caller's escrow.
 */
export interface BindKeyArgs {
  /**
   * The key.
   */
  'key' : Uint8Array | number[],
  /**
   * Its signature of [`crate::market::bind_message`] for the caller (proof of possession).
   */
  'signature' : Uint8Array | number[],
}
/**
 * `buy_socket`'s argument.
 */
export interface BuySocketArgs {
  /**
   * Hash of the model the app serves (recorded in the socket).
   */
  'model_hash' : Uint8Array | number[],
  /**
   * Units the holder may use per period (a day).
   */
  'units_per_period' : bigint,
  /**
   * Periods bought (1 to 366): the socket expires `periods` days after the purchase.
   */
  'periods' : number,
  /**
   * The offer (its app, node and price).
   */
  'offer_id' : bigint,
}
/**
 * One served call's receipt, signed by the compute node and countersigned by the user.
 */
export interface ComputeReceipt {
  /**
   * SHA-256 of the request as the node received it.
   */
  'request_hash' : Uint8Array | number[],
  /**
   * The user's signature over [`ComputeReceipt::body_hash`].
   */
  'user_signature' : Uint8Array | number[],
  /**
   * SHA-256 of the response as the node sent it (rolling over a stream's chunks).
   */
  'response_hash' : Uint8Array | number[],
  /**
   * The compute node that served the call.
   */
  'node' : Uint8Array | number[],
  /**
   * The app's meter.
   */
  'unit' : MeterUnit,
  /**
   * The paying user's ed25519 public key (its account for the call).
   */
  'user' : Uint8Array | number[],
  /**
   * The epoch of the lane (a lane's nonce and cumulative amount start again each epoch).
   */
  'epoch' : bigint,
  /**
   * The lane's sequence number: strictly increasing along the lane.
   */
  'nonce' : bigint,
  /**
   * Units of this call.
   */
  'units' : bigint,
  /**
   * Everything owed on this lane including this call, e8s (never decreases).
   */
  'cumulative_e8s' : bigint,
  /**
   * The router that dispatched it.
   */
  'router' : Uint8Array | number[],
  /**
   * Price of one unit, e8s.
   */
  'price_e8s' : bigint,
  /**
   * The node's signature over [`ComputeReceipt::body_hash`].
   */
  'node_signature' : Uint8Array | number[],
}
/**
 * The stored configuration.
 */
export interface Config {
  /**
   * The epochs canister.
   */
  'epochs' : Principal,
  /**
   * The ledger.
   */
  'ledger' : Principal,
  /**
   * First epoch of trading period 1.
   */
  'market_open_epoch' : bigint,
  /**
   * Governance.
   */
  'governance' : Principal,
  /**
   * The registry.
   */
  'registry' : Principal,
  /**
   * Parameters.
   */
  'params' : Params,
  /**
   * The treasury account.
   */
  'treasury' : Account,
}
/**
 * Why a set of co-signatures is refused.
 */
export type CosignError = {
    /**
     * This active member did not co-sign.
     */
    'Missing' : Uint8Array | number[]
  } |
  {
    /**
     * This node is not a member of the receipt's pool (or is its entry node, which signs as
     * the receipt's node), or the receipt's node is the entry of no pool.
     */
    'NotMember' : Uint8Array | number[]
  } |
  {
    /**
     * This node co-signed twice.
     */
    'Duplicate' : Uint8Array | number[]
  } |
  {
    /**
     * The co-signature of this member does not verify.
     */
    'BadSignature' : Uint8Array | number[]
  };
/**
 * One member's co-signature of a pool receipt.
 */
export interface Cosignature {
  /**
   * Its ed25519 signature over `cosign_message(pool id, receipt body hash)`.
   */
  'signature' : Uint8Array | number[],
  /**
   * The member's node key.
   */
  'node' : Uint8Array | number[],
}
/**
 * A buyer's escrow as shown.
 */
export interface EscrowView {
  /**
   * Ledger fees paid by the escrow, e8s.
   */
  'fees_e8s' : bigint,
  /**
   * Settled trade amounts so far, e8s.
   */
  'spent_e8s' : bigint,
  /**
   * Confirmed deposits, e8s.
   */
  'deposited_e8s' : bigint,
  /**
   * The market's subaccount holding it on the ledger.
   */
  'subaccount' : Uint8Array | number[],
  /**
   * What `withdraw` pays out now (the request's amount, once its notice has passed).
   */
  'withdrawable_e8s' : bigint,
  /**
   * What receipts may still claim and the buyer cannot take out now: `balance - withdrawable`.
   */
  'reserved_e8s' : bigint,
  /**
   * The pending withdrawal.
   */
  'withdrawal' : [] | [WithdrawalRequest],
  /**
   * What routers may admit new calls against: `balance` less a pending withdrawal.
   */
  'available_e8s' : bigint,
  /**
   * Withdrawn, e8s.
   */
  'withdrawn_e8s' : bigint,
  /**
   * Held, e8s.
   */
  'balance_e8s' : bigint,
  /**
   * The buyer.
   */
  'buyer' : Principal,
}
/**
 * One entry of the market's event log.
 */
export type Event = {
    /**
     * A withdrawal was requested.
     */
    'WithdrawalRequested' : {
      /**
       * End of the notice.
       */
      'unlock_at' : bigint,
      /**
       * Amount, e8s.
       */
      'amount_e8s' : bigint,
      /**
       * The buyer.
       */
      'buyer' : Principal,
    }
  } |
  {
    /**
     * A deposit was confirmed by the ledger.
     */
    'Deposit' : {
      /**
       * Amount, e8s.
       */
      'amount_e8s' : bigint,
      /**
       * Ledger block.
       */
      'block' : bigint,
      /**
       * The buyer.
       */
      'buyer' : Principal,
    }
  } |
  {
    /**
     * An offer was changed.
     */
    'OfferUpdated' : Offer
  } |
  {
    /**
     * A withdrawal left the escrow (its transfer is journal entry `transfer`).
     */
    'Withdrawal' : {
      /**
       * Debited from the escrow (ledger fee included), e8s.
       */
      'amount_e8s' : bigint,
      /**
       * The buyer.
       */
      'buyer' : Principal,
      /**
       * Journal entry.
       */
      'transfer' : bigint,
    }
  } |
  {
    /**
     * A receipt settled.
     */
    'Trade' : Trade
  } |
  {
    /**
     * The sockets canister minted a purchase's socket.
     */
    'SocketMinted' : {
      /**
       * Token id.
       */
      'token_id' : bigint,
      /**
       * Purchase id.
       */
      'purchase' : bigint,
    }
  } |
  {
    /**
     * An offer was listed.
     */
    'OfferPosted' : Offer
  } |
  {
    /**
     * A socket was bought (its funding is journal entry `transfer`).
     */
    'SocketBought' : {
      /**
       * The offer.
       */
      'offer_id' : bigint,
      /**
       * The buyer.
       */
      'buyer' : Principal,
      /**
       * Paid into the socket escrow, e8s.
       */
      'price_e8s' : bigint,
      /**
       * Journal entry of the funding transfer.
       */
      'transfer' : bigint,
      /**
       * Purchase id.
       */
      'purchase' : bigint,
    }
  } |
  {
    /**
     * A user key was bound to an escrow.
     */
    'KeyBound' : {
      /**
       * The key.
       */
      'key' : Uint8Array | number[],
      /**
       * The buyer.
       */
      'buyer' : Principal,
    }
  } |
  {
    /**
     * An offer was withdrawn.
     */
    'OfferWithdrawn' : {
      /**
       * Its id.
       */
      'id' : bigint,
      /**
       * Its provider.
       */
      'provider' : Principal,
    }
  };
/**
 * A page of the event log.
 */
export interface EventsPage {
  /**
   * The requested entries (at most 1,000).
   */
  'events' : Array<LoggedEvent>,
  /**
   * Entries in the log.
   */
  'log_length' : bigint,
}
/**
 * Install argument.
 */
export interface InitArgs {
  /**
   * The epochs canister: final checkpoints' receipts roots, and the minter of trading
   * rewards (it is the ledger's minting account).
   */
  'epochs' : Principal,
  /**
   * The $EMC ledger (ICRC-1/2).
   */
  'ledger' : Principal,
  /**
   * The epoch the market opens: trading period 1 starts here (spec 9).
   */
  'market_open_epoch' : bigint,
  /**
   * Governance (SNS): the only caller of `execute_*`.
   */
  'governance' : Principal,
  /**
   * The node registry: who owns a compute node.
   */
  'registry' : Principal,
  /**
   * Parameters (defaults when absent).
   */
  'params' : [] | [Params],
  /**
   * Where the 20% fee goes.
   */
  'treasury' : Account,
}
/**
 * A lane a router asks about: the compute node and the epoch (the user is the query's).
 */
export interface LaneRef {
  /**
   * The compute node.
   */
  'node' : Uint8Array | number[],
  /**
   * The lane's epoch.
   */
  'epoch' : bigint,
}
/**
 * A logged event, hash-chained (ICRC-3 style: `hash = sha256(parent_hash || body ||
 * timestamp_be64 || id_be64)`, the body being a trade's fixed layout (`storage::trade_body`)
 * or any other event's candid bytes; the tip's hash is the canister's certified data).
 */
export interface LoggedEvent {
  /**
   * Index in the log.
   */
  'id' : bigint,
  /**
   * This entry's hash.
   */
  'hash' : Uint8Array | number[],
  /**
   * The event.
   */
  'event' : Event,
  /**
   * Time, ns.
   */
  'timestamp' : bigint,
  /**
   * The previous entry's hash (none for the first).
   */
  'parent_hash' : [] | [Uint8Array | number[]],
}
/**
 * Install or upgrade argument (decoded once per install: its size does not matter).
 */
export type MarketArg = {
    /**
     * Upgrade (parameters change through governance methods).
     */
    'Upgrade' : null
  } |
  {
    /**
     * Fresh install.
     */
    'Init' : InitArgs
  };
/**
 * Errors: typed; a refused call changes nothing.
 */
export type MarketError = {
    /**
     * Another canister could not be reached.
     */
    'CallFailed' : string
  } |
  {
    /**
     * Storage failure.
     */
    'Storage' : string
  } |
  {
    /**
     * No such offer.
     */
    'UnknownOffer' : bigint
  } |
  {
    /**
     * The checkpoint is still in its challenge window.
     */
    'CheckpointNotFinal' : bigint
  } |
  {
    /**
     * The anonymous principal.
     */
    'Anonymous' : null
  } |
  {
    /**
     * An amount that overflows the books.
     */
    'Overflow' : null
  } |
  {
    /**
     * The offer is someone else's.
     */
    'NotOfferOwner' : bigint
  } |
  {
    /**
     * The proof of possession does not verify.
     */
    'BadKeySignature' : null
  } |
  {
    /**
     * The notice period has not passed.
     */
    'NoticePending' : {
      /**
       * When it unlocks.
       */
      'unlock_at' : bigint,
    }
  } |
  {
    /**
     * No socket with this token id was bought in this market.
     */
    'UnknownSocket' : bigint
  } |
  {
    /**
     * A pool receipt's co-signatures break the rule (`emc_types::pool`): which member is
     * missing, which signature is bad, duplicated or foreign.
     */
    'Cosignature' : CosignError
  } |
  {
    /**
     * The node is not a live compute node owned by the caller.
     */
    'NotProvider' : string
  } |
  {
    /**
     * The node is not an active member of the pool (or the caller does not own it).
     */
    'NotPoolMember' : Uint8Array | number[]
  } |
  {
    /**
     * The registry does not list the node.
     */
    'UnknownNode' : null
  } |
  {
    /**
     * A zero amount.
     */
    'ZeroAmount' : null
  } |
  {
    /**
     * The epochs canister has no accepted checkpoint at this height.
     */
    'UnknownCheckpoint' : bigint
  } |
  {
    /**
     * The socket has expired.
     */
    'SocketExpired' : bigint
  } |
  {
    /**
     * Unknown journal entry.
     */
    'NotFound' : null
  } |
  {
    /**
     * No pending withdrawal.
     */
    'NoWithdrawal' : null
  } |
  {
    /**
     * The caller has no escrow.
     */
    'NoEscrow' : null
  } |
  {
    /**
     * The caller does not hold the socket.
     */
    'NotSocketHolder' : bigint
  } |
  {
    /**
     * Too many receipts in one batch.
     */
    'BatchTooLarge' : number
  } |
  {
    /**
     * Bad argument.
     */
    'InvalidArgument' : string
  } |
  {
    /**
     * The user's signature does not cover the receipt.
     */
    'BadUserSignature' : null
  } |
  {
    /**
     * The receipt's user key is bound to no escrow.
     */
    'UnboundUser' : null
  } |
  {
    /**
     * The ledger refused or could not be reached.
     */
    'Ledger' : string
  } |
  {
    /**
     * Not enough in the escrow.
     */
    'InsufficientEscrow' : {
      /**
       * What is available.
       */
      'available_e8s' : bigint,
    }
  } |
  {
    /**
     * The proof does not lead to the checkpoint's receipts root.
     */
    'BadProof' : null
  } |
  {
    /**
     * The provider has too many offers.
     */
    'TooManyOffers' : number
  } |
  {
    /**
     * Only governance.
     */
    'NotGovernance' : null
  } |
  {
    /**
     * The key is bound already.
     */
    'KeyAlreadyBound' : null
  } |
  {
    /**
     * Everything up to this cumulative amount is settled already.
     */
    'Replayed' : {
      /**
       * The lane's paid cumulative amount.
       */
      'paid_e8s' : bigint,
    }
  };
/**
 * What a compute app meters.
 */
export type MeterUnit = {
    /**
     * Seconds of compute (any other app).
     */
    'Seconds' : null
  } |
  {
    /**
     * Denoising steps of an image model.
     */
    'ImageSteps' : null
  } |
  {
    /**
     * Tokens (prompt plus completion) of a language model.
     */
    'Tokens' : null
  };
/**
 * A socket purchase's minting state.
 */
export type MintStatus = {
    /**
     * Minted as this token.
     */
    'Minted' : {
      /**
       * The sockets canister's token id.
       */
      'token_id' : bigint,
    }
  } |
  {
    /**
     * `mint_socket` not confirmed yet.
     */
    'Pending' : null
  };
/**
 * A listed offer.
 */
export interface Offer {
  /**
   * Id.
   */
  'id' : bigint,
  /**
   * App or model.
   */
  'app' : string,
  /**
   * Last change, ns.
   */
  'updated_at' : bigint,
  /**
   * The provider: the node's owner, paid for the node's receipts.
   */
  'provider' : Principal,
  /**
   * The node.
   */
  'node' : Uint8Array | number[],
  /**
   * Meter.
   */
  'unit' : MeterUnit,
  /**
   * Listing time, ns.
   */
  'created_at' : bigint,
  /**
   * Capacity (units per second).
   */
  'capacity' : bigint,
  /**
   * Price per unit, e8s.
   */
  'price_e8s' : bigint,
}
/**
 * A provider's new offer.
 */
export interface OfferArgs {
  /**
   * App or model, 1 to 128 bytes (e.g. "llama-3-8b-instruct").
   */
  'app' : string,
  /**
   * The compute node that serves it (its owner must be the caller).
   */
  'node' : Uint8Array | number[],
  /**
   * The app's meter.
   */
  'unit' : MeterUnit,
  /**
   * Units the node serves per second (positive).
   */
  'capacity' : bigint,
  /**
   * Price of one unit, e8s (positive).
   */
  'price_e8s' : bigint,
}
/**
 * Governance parameters (spec 9 and 11.1; changed by `execute_set_params`).
 */
export interface Params {
  /**
   * Cap of a trade's total trading reward as a fraction of its fee, basis points; strictly
   * below 10,000 so that a self-dealing trader always loses (default 9,000 = 0.9).
   */
  'trade_reward_cap_bps' : number,
  /**
   * Most trading reward one account receives in one epoch, e8s (default 10,000 EMC).
   */
  'account_epoch_reward_cap_e8s' : bigint,
  /**
   * The treasury's share of a trade, basis points (2,000 = 20%; the provider gets the rest).
   */
  'trading_fee_bps' : number,
  /**
   * Most live offers of one provider.
   */
  'max_offers_per_provider' : number,
  /**
   * The ledger's transfer fee, e8s: paid by the buyer's escrow for each transfer out of it.
   */
  'ledger_fee_e8s' : bigint,
  /**
   * Most receipts in one `settle_batch` call.
   */
  'max_batch' : number,
  /**
   * Time between a buyer's withdrawal request and the withdrawal, ns (default 48 hours:
   * longer than a checkpoint period plus the challenge window, so receipts of calls the
   * routers admitted before the request can still settle).
   */
  'withdrawal_notice_ns' : bigint,
  /**
   * Whether the market checks each receipt's user signature itself (default true): then a
   * buyer's escrow moves only on its own key's signature, even if a validator quorum
   * colluded. Off, the market relies on the quorum-signed receipts root alone (validators
   * admit a receipt only with both signatures valid), about half the instructions of a batch.
   */
  'verify_user_signatures' : boolean,
}
/**
 * A pool, keyed by its offer.
 */
export interface Pool {
  /**
   * Members, in the order listed.
   */
  'members' : Array<PoolMember>,
  /**
   * The entry node.
   */
  'entry' : Uint8Array | number[],
  /**
   * When the members' E was last read from the registry, ns.
   */
  'e_read_at' : [] | [bigint],
  /**
   * The offer listing it.
   */
  'offer_id' : bigint,
}
/**
 * A pool member.
 */
export interface PoolMember {
  /**
   * Its owner (from the registry).
   */
  'owner' : Principal,
  /**
   * The node.
   */
  'node' : Uint8Array | number[],
  /**
   * Its PoC E (fixed point) as the registry last reported it (none: not read yet).
   */
  'e_fixed' : [] | [bigint],
  /**
   * When it left, ns.
   */
  'left_at' : [] | [bigint],
}
/**
 * `post_pool_offer`'s argument.
 */
export interface PoolOfferArgs {
  /**
   * App or model.
   */
  'app' : string,
  /**
   * Every member, the entry included.
   */
  'members' : Array<Uint8Array | number[]>,
  /**
   * Meter.
   */
  'unit' : MeterUnit,
  /**
   * The entry node (one of the members): the offer's node.
   */
  'entry' : Uint8Array | number[],
  /**
   * Capacity of the whole pool (units per second).
   */
  'capacity' : bigint,
  /**
   * Price per unit, e8s.
   */
  'price_e8s' : bigint,
}
/**
 * A pool member's owner's part of a pool trade.
 */
export interface ProviderShare {
  /**
   * The owner.
   */
  'owner' : Principal,
  /**
   * Its part of the provider's trading reward, e8s.
   */
  'reward_e8s' : bigint,
  /**
   * Its part of the provider's 80 %, e8s.
   */
  'payment_e8s' : bigint,
}
/**
 * One receipt with its inclusion proof in a final checkpoint's `receipts_root`.
 */
export interface ReceiptProof {
  /**
   * The receipt (the latest of its lane the submitter knows).
   */
  'receipt' : ComputeReceipt,
  /**
   * Height of the accepted checkpoint whose period holds it.
   */
  'checkpoint_height' : bigint,
  /**
   * Its leaf's index in the period's tree.
   */
  'leaf_index' : bigint,
  /**
   * Sibling hashes from the leaf up (`emc_types::merkle::inclusion_proof`).
   */
  'proof' : Array<Uint8Array | number[]>,
  /**
   * Leaves in the period's tree.
   */
  'leaf_count' : bigint,
  /**
   * A compute pool's receipt (its node is a pool's entry): one co-signature by each other
   * active member (`emc_types::pool`). None or empty for any other receipt. Optional so
   * that callers that predate pools still encode a valid argument.
   */
  'cosignatures' : [] | [Array<Cosignature>],
}
/**
 * Governance's settlement of a `Stuck` transfer.
 */
export interface ResolveTransferArgs {
  /**
   * The transfer.
   */
  'id' : bigint,
  /**
   * The ledger block that executed it (its memo names the transfer), or none: re-issued with
   * a fresh `created_at_time`.
   */
  'executed_in_block' : [] | [bigint],
}
export type Result = { 'Ok' : Offer } |
  { 'Err' : MarketError };
export type Result_1 = { 'Ok' : null } |
  { 'Err' : MarketError };
export type Result_2 = { 'Ok' : EscrowView } |
  { 'Err' : MarketError };
export type Result_3 = { 'Ok' : Transfer } |
  { 'Err' : MarketError };
export type Result_4 = { 'Ok' : Trade } |
  { 'Err' : MarketError };
export type Result_5 = { 'Ok' : Array<Result_4> } |
  { 'Err' : MarketError };
export type Result_6 = { 'Ok' : string } |
  { 'Err' : string };
export type Result_7 = { 'Ok' : SocketPurchase } |
  { 'Err' : MarketError };
export type Result_8 = { 'Ok' : [Offer, Pool] } |
  { 'Err' : MarketError };
export type Result_9 = { 'Ok' : Pool } |
  { 'Err' : MarketError };
/**
 * A key bound to a socket's escrow, and by whom (`socket_key`): routers admit its calls only
 * while `holder` still holds the socket, so a former holder's keys are refused.
 */
export interface SocketKey {
  /**
   * The socket's token id.
   */
  'token_id' : bigint,
  /**
   * The holder that bound the key.
   */
  'holder' : Principal,
  /**
   * The socket escrow it draws on.
   */
  'escrow' : Principal,
}
/**
 * A socket purchase.
 */
export interface SocketPurchase {
  /**
   * Purchase id (also the mint's `purchase_id`).
   */
  'id' : bigint,
  /**
   * The offer's app.
   */
  'app' : string,
  /**
   * The offer's provider and node.
   */
  'provider' : Principal,
  /**
   * Model hash.
   */
  'model_hash' : Uint8Array | number[],
  /**
   * Minting state.
   */
  'mint' : MintStatus,
  /**
   * The offer's node.
   */
  'node' : Uint8Array | number[],
  /**
   * Units per period.
   */
  'units_per_period' : bigint,
  /**
   * Purchase time, ns.
   */
  'created_at' : bigint,
  /**
   * The offer bought from.
   */
  'offer_id' : bigint,
  /**
   * Period, seconds.
   */
  'period_secs' : bigint,
  /**
   * The buyer (the socket's first holder).
   */
  'buyer' : Principal,
  /**
   * Paid into the socket escrow, e8s.
   */
  'price_e8s' : bigint,
  /**
   * The socket escrow's principal.
   */
  'escrow' : Principal,
  /**
   * Expiry, ns.
   */
  'expires_at' : bigint,
}
/**
 * Counters.
 */
export interface Stats {
  /**
   * Trade volume, e8s.
   */
  'volume_e8s' : bigint,
  /**
   * Receipts that settled a positive amount.
   */
  'trades' : bigint,
  /**
   * Pending journal entries.
   */
  'pending_transfers' : bigint,
  /**
   * Offers listed now.
   */
  'offers' : bigint,
  /**
   * Treasury fees, e8s.
   */
  'treasury_fees_e8s' : bigint,
  /**
   * Events logged.
   */
  'events' : bigint,
  /**
   * Sum of escrow balances, e8s.
   */
  'escrow_held_e8s' : bigint,
  /**
   * Escrows opened.
   */
  'escrows' : bigint,
  /**
   * Trading rewards granted (minted or being minted), e8s; never above the 378M pool.
   */
  'rewards_e8s' : bigint,
}
/**
 * A trade: what one receipt settled.
 */
export interface Trade {
  /**
   * The provider (the node's owner).
   */
  'provider' : Principal,
  /**
   * To the treasury (20%).
   */
  'treasury_fee_e8s' : bigint,
  /**
   * The trading period (0: before the market opened, no reward).
   */
  'period' : bigint,
  /**
   * To the provider (80%).
   */
  'provider_payment_e8s' : bigint,
  /**
   * The compute node (the lane's payee).
   */
  'node' : Uint8Array | number[],
  /**
   * The checkpoint that proved the receipt.
   */
  'checkpoint_height' : bigint,
  /**
   * The user key (the lane's payer).
   */
  'user' : Uint8Array | number[],
  /**
   * Trading reward minted to the provider.
   */
  'provider_reward_e8s' : bigint,
  /**
   * The lane's epoch.
   */
  'epoch' : bigint,
  /**
   * Settled now, e8s (M of spec 9).
   */
  'amount_e8s' : bigint,
  /**
   * The receipt's nonce.
   */
  'nonce' : bigint,
  /**
   * The lane's cumulative amount paid after this trade (below `cumulative_e8s` when the
   * escrow fell short).
   */
  'paid_cumulative_e8s' : bigint,
  /**
   * The receipt's cumulative amount.
   */
  'cumulative_e8s' : bigint,
  /**
   * The buyer (escrow owner).
   */
  'buyer' : Principal,
  /**
   * Trading reward minted to the buyer.
   */
  'user_reward_e8s' : bigint,
  /**
   * Empty unless the node is a compute pool's entry: then the provider's payment and reward
   * (the totals above) went to these owners of the pool's members, split by E.
   */
  'pool_shares' : Array<ProviderShare>,
}
/**
 * A journaled ledger call: written before the call, retried with the same `created_at_time`
 * and memo so the ledger deduplicates, marked when the ledger answers.
 */
export interface Transfer {
  /**
   * Id (its memo is `b"emc-mkt:" || id_be64`).
   */
  'id' : bigint,
  /**
   * Destination.
   */
  'to' : Account,
  /**
   * Status.
   */
  'status' : TransferStatus,
  /**
   * Kind.
   */
  'kind' : TransferKind,
  /**
   * Calls made.
   */
  'attempts' : number,
  /**
   * Ledger fee paid on top (0 for mints), e8s.
   */
  'fee_e8s' : bigint,
  /**
   * The market's subaccount it is paid from (the buyer's escrow); none for a deposit (drawn
   * from the buyer's default account by `icrc2_transfer_from`) and for a mint.
   */
  'from_subaccount' : [] | [Uint8Array | number[]],
  /**
   * Amount delivered, e8s.
   */
  'amount_e8s' : bigint,
  /**
   * The buyer whose escrow it concerns (none for rewards).
   */
  'buyer' : [] | [Principal],
  /**
   * `created_at_time` of the call.
   */
  'created_at_time' : bigint,
}
/**
 * What a journal transfer does.
 */
export type TransferKind = {
    /**
     * A provider's 80% of settled trades, from a buyer's subaccount.
     */
    'ProviderPayment' : null
  } |
  {
    /**
     * `icrc2_transfer_from` of a buyer's deposit into its escrow subaccount.
     */
    'Deposit' : null
  } |
  {
    /**
     * A socket purchase: the price from the buyer's subaccount to the socket escrow's.
     */
    'SocketFunding' : null
  } |
  {
    /**
     * The treasury's 20% of settled trades, from a buyer's subaccount.
     */
    'TreasuryFee' : null
  } |
  {
    /**
     * A trading reward, minted through the epochs canister.
     */
    'Reward' : null
  } |
  {
    /**
     * A buyer's withdrawal from its subaccount.
     */
    'Withdrawal' : null
  };
/**
 * Journal status.
 */
export type TransferStatus = {
    /**
     * Unconfirmed past the ledger's deduplication window: governance settles it.
     */
    'Stuck' : null
  } |
  {
    /**
     * Refused for good with nothing moved (a deposit without allowance or funds).
     */
    'Failed' : {
      /**
       * The ledger's answer.
       */
      'reason' : string,
    }
  } |
  {
    /**
     * Confirmed in this ledger block.
     */
    'Done' : {
      /**
       * Block.
       */
      'block' : bigint,
    }
  } |
  {
    /**
     * Not confirmed yet: retried with the same `created_at_time` and memo.
     */
    'Pending' : null
  };
/**
 * A change of an offer; absent fields are unchanged.
 */
export interface UpdateOfferArgs {
  /**
   * The offer.
   */
  'id' : bigint,
  /**
   * New capacity (positive).
   */
  'capacity' : [] | [bigint],
  /**
   * New price, e8s (positive).
   */
  'price_e8s' : [] | [bigint],
}
/**
 * A buyer's pending withdrawal.
 */
export interface WithdrawalRequest {
  /**
   * When the notice period ends, ns.
   */
  'unlock_at' : bigint,
  /**
   * Amount asked for, e8s (what is left of it at `unlock_at` is paid out).
   */
  'amount_e8s' : bigint,
}
export interface _SERVICE {
  'admission' : ActorMethod<[Uint8Array | number[]], [] | [Admission]>,
  'admission_lanes' : ActorMethod<
    [Uint8Array | number[], Array<LaneRef>],
    [] | [AdmissionLanes]
  >,
  'admissions' : ActorMethod<
    [Array<Uint8Array | number[]>],
    Array<[] | [Admission]>
  >,
  'bind_key' : ActorMethod<[BindKeyArgs], Result_1>,
  'bind_socket_key' : ActorMethod<[bigint, BindKeyArgs], Result_1>,
  'buy_socket' : ActorMethod<[BuySocketArgs], Result_7>,
  'deposit' : ActorMethod<[bigint], Result_2>,
  'escrow' : ActorMethod<[Principal], [] | [EscrowView]>,
  'events' : ActorMethod<[bigint, bigint], EventsPage>,
  'execute_resolve_transfer' : ActorMethod<[ResolveTransferArgs], undefined>,
  'execute_set_governance' : ActorMethod<[Principal], undefined>,
  'execute_set_params' : ActorMethod<[Params], undefined>,
  'execute_set_sockets' : ActorMethod<[[] | [Principal]], undefined>,
  'get_config' : ActorMethod<[], Config>,
  'lane_paid' : ActorMethod<
    [Uint8Array | number[], Uint8Array | number[], bigint],
    bigint
  >,
  'leave_pool' : ActorMethod<[bigint, Uint8Array | number[]], Result_9>,
  'list_offers' : ActorMethod<[[] | [bigint], number], Array<Offer>>,
  'offer' : ActorMethod<[bigint], [] | [Offer]>,
  'offers_of' : ActorMethod<[Principal], Array<Offer>>,
  'pending_transfers' : ActorMethod<[], Array<Transfer>>,
  'pool' : ActorMethod<[bigint], [] | [Pool]>,
  'post_offer' : ActorMethod<[OfferArgs], Result>,
  'post_pool_offer' : ActorMethod<[PoolOfferArgs], Result_8>,
  'reclaim_socket' : ActorMethod<[bigint], Result_3>,
  'request_withdrawal' : ActorMethod<[bigint], Result_2>,
  'run_journal' : ActorMethod<[], bigint>,
  'run_socket_mints' : ActorMethod<[], bigint>,
  'settle_batch' : ActorMethod<[Array<ReceiptProof>], Result_5>,
  'settle_receipt' : ActorMethod<[ReceiptProof], Result_4>,
  'socket_key' : ActorMethod<[Uint8Array | number[]], [] | [SocketKey]>,
  'socket_purchase' : ActorMethod<[bigint], [] | [SocketPurchase]>,
  'socket_purchase_of_token' : ActorMethod<[bigint], [] | [SocketPurchase]>,
  'sockets_canister' : ActorMethod<[], [] | [Principal]>,
  'stats' : ActorMethod<[], Stats>,
  'transfer' : ActorMethod<[bigint], [] | [Transfer]>,
  'update_offer' : ActorMethod<[UpdateOfferArgs], Result>,
  'validate_resolve_transfer' : ActorMethod<[ResolveTransferArgs], Result_6>,
  'validate_set_governance' : ActorMethod<[Principal], Result_6>,
  'validate_set_params' : ActorMethod<[Params], Result_6>,
  'validate_set_sockets' : ActorMethod<[[] | [Principal]], Result_6>,
  'withdraw' : ActorMethod<[], Result_3>,
  'withdraw_offer' : ActorMethod<[bigint], Result_1>,
}
export declare const idlFactory: IDL.InterfaceFactory;
export declare const init: (args: { IDL: typeof IDL }) => IDL.Type[];
// Generated from candid/ledger.did by `UPDATE_IDL=1 cargo test -p emc-devnet --test it explorer::`: do not edit.
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
 * The `Allowance` response type for the
 * [ICRC-2 `allowance`](https://github.com/dfinity/ICRC-1/blob/main/standards/ICRC-2/README.md#icrc2_allowance)
 * endpoint.
 */
export interface Allowance {
  'allowance' : bigint,
  'expires_at' : [] | [bigint],
}
/**
 * The arguments for the
 * [ICRC-2 `allowance`](https://github.com/dfinity/ICRC-1/blob/main/standards/ICRC-2/README.md#icrc2_allowance)
 * endpoint.
 */
export interface AllowanceArgs { 'account' : Account, 'spender' : Account }
/**
 * The arguments for the
 * [ICRC-2 `approve`](https://github.com/dfinity/ICRC-1/blob/main/standards/ICRC-2/README.md#icrc2_approve)
 * endpoint.
 */
export interface ApproveArgs {
  'fee' : [] | [bigint],
  'memo' : [] | [Uint8Array | number[]],
  'from_subaccount' : [] | [Uint8Array | number[]],
  'created_at_time' : [] | [bigint],
  'amount' : bigint,
  'expected_allowance' : [] | [bigint],
  'expires_at' : [] | [bigint],
  'spender' : Account,
}
/**
 * The error return type for the
 * [ICRC-2 `approve`](https://github.com/dfinity/ICRC-1/blob/main/standards/ICRC-2/README.md#icrc2_approve)
 * endpoint.
 */
export type ApproveError = {
    'GenericError' : { 'message' : string, 'error_code' : bigint }
  } |
  { 'TemporarilyUnavailable' : null } |
  { 'Duplicate' : { 'duplicate_of' : bigint } } |
  { 'BadFee' : { 'expected_fee' : bigint } } |
  { 'AllowanceChanged' : { 'current_allowance' : bigint } } |
  { 'CreatedInFuture' : { 'ledger_time' : bigint } } |
  { 'TooOld' : null } |
  { 'Expired' : { 'ledger_time' : bigint } } |
  { 'InsufficientFunds' : { 'balance' : bigint } };
/**
 * Information about where to find archived blocks. Returned as part of [`GetBlocksResult`].
 */
export interface ArchivedBlocks {
  'args' : Array<GetBlocksRequest>,
  'callback' : [Principal, string],
}
/**
 * A block with an ID. Returned as part of [`GetBlocksResult`].
 */
export interface BlockWithId { 'id' : bigint, 'block' : ICRC3Value }
/**
 * A change of the fee collector.
 */
export type ChangeFeeCollector = {
    /**
     * Send fees to this account from now on.
     */
    'SetTo' : Account
  } |
  {
    /**
     * Burn fees from now on.
     */
    'Unset' : null
  };
export interface ConsentInfo {
  'metadata' : ConsentMessageMetadata,
  'consent_message' : ConsentMessage,
}
export type ConsentMessage = { 'FieldsDisplayMessage' : FieldsDisplay } |
  { 'GenericDisplayMessage' : string };
export interface ConsentMessageMetadata {
  'utc_offset_minutes' : [] | [number],
  'language' : string,
}
export interface ConsentMessageRequest {
  'arg' : Uint8Array | number[],
  'method' : string,
  'user_preferences' : ConsentMessageSpec,
}
export interface ConsentMessageSpec {
  'metadata' : ConsentMessageMetadata,
  'device_spec' : [] | [DisplayMessageType],
}
export type DisplayMessageType = { 'GenericDisplay' : null } |
  { 'FieldsDisplay' : null };
export interface ErrorInfo { 'description' : string }
export interface FieldsDisplay {
  'fields' : Array<[string, Value]>,
  'intent' : string,
}
/**
 * The argument for the
 * [`icrc3_get_archives`](https://github.com/dfinity/ICRC-1/blob/main/standards/ICRC-3/README.md)
 * endpoint.
 */
export interface GetArchivesArgs { 'from' : [] | [Principal] }
/**
 * The arguments for the
 * [ICRC-3 `icrc3_get_blocks`](https://github.com/dfinity/ICRC-1/blob/main/standards/ICRC-3/README.md#icrc3_get_blocks)
 * endpoint.
 */
export interface GetBlocksRequest { 'start' : bigint, 'length' : bigint }
/**
 * The result type for the
 * [ICRC-3 `icrc3_get_blocks`](https://github.com/dfinity/ICRC-1/blob/main/standards/ICRC-3/README.md#icrc3_get_blocks)
 * endpoint.
 */
export interface GetBlocksResult {
  'log_length' : bigint,
  'blocks' : Array<BlockWithId>,
  'archived_blocks' : Vec,
}
/**
 * The result type for the
 * [ICRC-3 `icrc3_get_blocks`](https://github.com/dfinity/ICRC-1/blob/main/standards/ICRC-3/README.md#icrc3_get_blocks)
 * endpoint.
 */
export interface GetBlocksResult_1 {
  'log_length' : bigint,
  'blocks' : Array<BlockWithId>,
  'archived_blocks' : Array<ArchivedBlocks>,
}
/**
 * The information returned as part of the return value for the
 * [`icrc3_get_archives`](https://github.com/dfinity/ICRC-1/blob/main/standards/ICRC-3/README.md)
 * endpoint.
 */
export interface ICRC3ArchiveInfo {
  'end' : bigint,
  'canister_id' : Principal,
  'start' : bigint,
}
/**
 * The data certificate returned from the
 * [ICRC-3 `icrc3_get_tip_certificate`](https://github.com/dfinity/ICRC-1/blob/main/standards/ICRC-3/README.md#icrc3_get_tip_certificate)
 * endpoint.
 */
export interface ICRC3DataCertificate {
  'certificate' : Uint8Array | number[],
  'hash_tree' : Uint8Array | number[],
}
/**
 * A value defined in [the ICRC-3 standard](https://github.com/dfinity/ICRC-1/blob/main/standards/ICRC-3/README.md#value).
 */
export type ICRC3Value = { 'Int' : bigint } |
  { 'Map' : Array<[string, ICRC3Value]> } |
  { 'Nat' : bigint } |
  { 'Blob' : Uint8Array | number[] } |
  { 'Text' : string } |
  { 'Array' : Array<ICRC3Value> };
export type Icrc21Error = {
    'GenericError' : { 'description' : string, 'error_code' : bigint }
  } |
  { 'InsufficientPayment' : ErrorInfo } |
  { 'UnsupportedCanisterCall' : ErrorInfo } |
  { 'ConsentMessageUnavailable' : ErrorInfo };
/**
 * Arguments of a fresh install.
 */
export interface InitArgs {
  /**
   * Decimals (default 8, at most 18).
   */
  'decimals' : [] | [number],
  /**
   * Supply cap in e8s (default 2,100,000,000 EMC): minting past it is refused.
   */
  'supply_cap' : [] | [bigint],
  /**
   * Token symbol, e.g. "EMC".
   */
  'token_symbol' : string,
  /**
   * The transfer (and approve) fee in e8s.
   */
  'transfer_fee' : bigint,
  /**
   * Extra metadata entries (keys must not start with `icrc1:`).
   */
  'metadata' : [] | [Array<[string, MetadataValue]>],
  /**
   * The minting account: transfers from it mint (the rewards logic), transfers to it burn.
   */
  'minting_account' : Account,
  /**
   * Genesis balances, minted at install (block per entry).
   */
  'initial_balances' : Array<[Account, bigint]>,
  /**
   * Where fees go; burned when absent.
   */
  'fee_collector_account' : [] | [Account],
  /**
   * Longest memo accepted (default and minimum 32).
   */
  'max_memo_length' : [] | [number],
  /**
   * The governance principal (the SNS root/governance) recorded for the record and metadata.
   */
  'governance' : Principal,
  /**
   * Token name, e.g. "EdgeMatrix Computing".
   */
  'token_name' : string,
}
/**
 * The canister's install argument.
 */
export type LedgerArg = {
    /**
     * Upgrade (optional changes).
     */
    'Upgrade' : [] | [UpgradeArgs]
  } |
  {
    /**
     * Fresh install.
     */
    'Init' : InitArgs
  };
/**
 * Variant type for the `icrc1_metadata` endpoint values. The corresponding metadata keys are
 * arbitrary Unicode strings and must follow the pattern `<namespace>:<key>`, where `<namespace>`
 * is a string not containing colons. The namespace `icrc1` is reserved for keys defined in the
 * ICRC-1 standard. For more information, see the
 * [documentation of Metadata in the ICRC-1 standard](https://github.com/dfinity/ICRC-1/tree/main/standards/ICRC-1#metadata).
 * Note that the `MetadataValue` type is a subset of the [`icrc_ledger_types::icrc::generic_value::ICRC3Value`] type.
 */
export type MetadataValue = { 'Int' : bigint } |
  { 'Nat' : bigint } |
  { 'Blob' : Uint8Array | number[] } |
  { 'Text' : string };
export type Result = { 'Ok' : bigint } |
  { 'Err' : TransferError };
export type Result_1 = { 'Ok' : bigint } |
  { 'Err' : ApproveError };
export type Result_2 = { 'Ok' : bigint } |
  { 'Err' : TransferFromError };
export type Result_3 = { 'Ok' : ConsentInfo } |
  { 'Err' : Icrc21Error };
/**
 * A standard the ledger supports (ICRC-1 `supported_standards`, ICRC-10).
 */
export interface StandardRecord {
  /**
   * The standard's URL.
   */
  'url' : string,
  /**
   * e.g. "ICRC-1".
   */
  'name' : string,
}
/**
 * The return type of the
 * [ICRC-3 `icrc3_supported_block_types`](https://github.com/dfinity/ICRC-1/blob/main/standards/ICRC-3/README.md#icrc3_supported_block_types)
 * endpoint.
 */
export interface SupportedBlockType { 'url' : string, 'block_type' : string }
/**
 * The arguments for the [ICRC-1 `transfer`](https://github.com/dfinity/ICRC-1/blob/main/standards/ICRC-1/README.md#icrc1_transfer-) endpoint.
 */
export interface TransferArg {
  'to' : Account,
  'fee' : [] | [bigint],
  'memo' : [] | [Uint8Array | number[]],
  'from_subaccount' : [] | [Uint8Array | number[]],
  'created_at_time' : [] | [bigint],
  'amount' : bigint,
}
/**
 * Errors defined for the
 * [ICRC-1 `transfer`](https://github.com/dfinity/ICRC-1/blob/main/standards/ICRC-1/README.md#icrc1_transfer-)
 * endpoint.
 */
export type TransferError = {
    'GenericError' : { 'message' : string, 'error_code' : bigint }
  } |
  { 'TemporarilyUnavailable' : null } |
  { 'BadBurn' : { 'min_burn_amount' : bigint } } |
  { 'Duplicate' : { 'duplicate_of' : bigint } } |
  { 'BadFee' : { 'expected_fee' : bigint } } |
  { 'CreatedInFuture' : { 'ledger_time' : bigint } } |
  { 'TooOld' : null } |
  { 'InsufficientFunds' : { 'balance' : bigint } };
/**
 * The arguments for the
 * [ICRC-2 `transfer_from`](https://github.com/dfinity/ICRC-1/blob/main/standards/ICRC-2/README.md#icrc2_transfer_from)
 * endpoint.
 */
export interface TransferFromArgs {
  'to' : Account,
  'fee' : [] | [bigint],
  'spender_subaccount' : [] | [Uint8Array | number[]],
  'from' : Account,
  'memo' : [] | [Uint8Array | number[]],
  'created_at_time' : [] | [bigint],
  'amount' : bigint,
}
/**
 * The error return type for the
 * [ICRC-2 `transfer_from`](https://github.com/dfinity/ICRC-1/blob/main/standards/ICRC-2/README.md#icrc2_transfer_from)
 * endpoint.
 */
export type TransferFromError = {
    'GenericError' : { 'message' : string, 'error_code' : bigint }
  } |
  { 'TemporarilyUnavailable' : null } |
  { 'InsufficientAllowance' : { 'allowance' : bigint } } |
  { 'BadBurn' : { 'min_burn_amount' : bigint } } |
  { 'Duplicate' : { 'duplicate_of' : bigint } } |
  { 'BadFee' : { 'expected_fee' : bigint } } |
  { 'CreatedInFuture' : { 'ledger_time' : bigint } } |
  { 'TooOld' : null } |
  { 'InsufficientFunds' : { 'balance' : bigint } };
/**
 * Arguments of an upgrade: every field is optional and absent means unchanged.
 */
export interface UpgradeArgs {
  /**
   * New token symbol.
   */
  'token_symbol' : [] | [string],
  /**
   * New transfer fee.
   */
  'transfer_fee' : [] | [bigint],
  /**
   * New extra metadata (replaces the extra entries; the `icrc1:*` entries are derived).
   */
  'metadata' : [] | [Array<[string, MetadataValue]>],
  /**
   * New fee collector.
   */
  'change_fee_collector' : [] | [ChangeFeeCollector],
  /**
   * New token name.
   */
  'token_name' : [] | [string],
}
export type Value = { 'Text' : { 'content' : string } } |
  {
    'TokenAmount' : {
      'decimals' : number,
      'amount' : bigint,
      'symbol' : string,
    }
  } |
  { 'TimestampSeconds' : { 'amount' : bigint } } |
  { 'DurationSeconds' : { 'amount' : bigint } };
export type Vec = Array<
  {
    'args' : Array<{ 'start' : bigint, 'length' : bigint }>,
    'callback' : [Principal, string],
  }
>;
export interface _SERVICE {
  'icrc10_supported_standards' : ActorMethod<[], Array<StandardRecord>>,
  'icrc1_balance_of' : ActorMethod<[Account], bigint>,
  'icrc1_decimals' : ActorMethod<[], number>,
  'icrc1_fee' : ActorMethod<[], bigint>,
  'icrc1_metadata' : ActorMethod<[], Array<[string, MetadataValue]>>,
  'icrc1_minting_account' : ActorMethod<[], [] | [Account]>,
  'icrc1_name' : ActorMethod<[], string>,
  'icrc1_supported_standards' : ActorMethod<[], Array<StandardRecord>>,
  'icrc1_symbol' : ActorMethod<[], string>,
  'icrc1_total_supply' : ActorMethod<[], bigint>,
  'icrc1_transfer' : ActorMethod<[TransferArg], Result>,
  'icrc21_canister_call_consent_message' : ActorMethod<
    [ConsentMessageRequest],
    Result_3
  >,
  'icrc2_allowance' : ActorMethod<[AllowanceArgs], Allowance>,
  'icrc2_approve' : ActorMethod<[ApproveArgs], Result_1>,
  'icrc2_transfer_from' : ActorMethod<[TransferFromArgs], Result_2>,
  'icrc3_get_archives' : ActorMethod<
    [GetArchivesArgs],
    Array<ICRC3ArchiveInfo>
  >,
  'icrc3_get_blocks' : ActorMethod<
    [Array<GetBlocksRequest>],
    GetBlocksResult_1
  >,
  'icrc3_get_tip_certificate' : ActorMethod<[], [] | [ICRC3DataCertificate]>,
  'icrc3_supported_block_types' : ActorMethod<[], Array<SupportedBlockType>>,
}
export declare const idlFactory: IDL.InterfaceFactory;
export declare const init: (args: { IDL: typeof IDL }) => IDL.Type[];
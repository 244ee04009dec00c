// @dfinity/agent against emc-replica: icrc1_balance_of (query, node signatures verified) and
// icrc1_transfer (update, certificate verified against the fetched root key).
// Usage: node ledger.mjs <replica url> <ledger id> <seed byte> <recipient principal>
// Prints one JSON line: {principal, before, block, after, recipient}.
import { Actor, HttpAgent } from '@dfinity/agent';
import { IDL } from '@dfinity/candid';
import { Ed25519KeyIdentity } from '@dfinity/identity';
import { Principal } from '@dfinity/principal';

const [url, ledgerId, seedByte, recipient] = process.argv.slice(2);

const idlFactory = ({ IDL }) => {
  const Account = IDL.Record({ owner: IDL.Principal, subaccount: IDL.Opt(IDL.Vec(IDL.Nat8)) });
  const TransferArg = IDL.Record({
    from_subaccount: IDL.Opt(IDL.Vec(IDL.Nat8)),
    to: Account,
    amount: IDL.Nat,
    fee: IDL.Opt(IDL.Nat),
    memo: IDL.Opt(IDL.Vec(IDL.Nat8)),
    created_at_time: IDL.Opt(IDL.Nat64),
  });
  const TransferError = IDL.Variant({
    BadFee: IDL.Record({ expected_fee: IDL.Nat }),
    BadBurn: IDL.Record({ min_burn_amount: IDL.Nat }),
    InsufficientFunds: IDL.Record({ balance: IDL.Nat }),
    TooOld: IDL.Null,
    CreatedInFuture: IDL.Record({ ledger_time: IDL.Nat64 }),
    Duplicate: IDL.Record({ duplicate_of: IDL.Nat }),
    TemporarilyUnavailable: IDL.Null,
    GenericError: IDL.Record({ error_code: IDL.Nat, message: IDL.Text }),
  });
  return IDL.Service({
    icrc1_balance_of: IDL.Func([Account], [IDL.Nat], ['query']),
    icrc1_transfer: IDL.Func([TransferArg], [IDL.Variant({ Ok: IDL.Nat, Err: TransferError })], []),
  });
};

const identity = Ed25519KeyIdentity.generate(new Uint8Array(32).fill(Number(seedByte)));
const agent = await HttpAgent.create({
  host: url,
  identity,
  shouldFetchRootKey: true,
  verifyQuerySignatures: true,
});
const ledger = Actor.createActor(idlFactory, { agent, canisterId: Principal.fromText(ledgerId) });
const me = { owner: identity.getPrincipal(), subaccount: [] };
const to = { owner: Principal.fromText(recipient), subaccount: [] };

const before = await ledger.icrc1_balance_of(me);
const result = await ledger.icrc1_transfer({
  from_subaccount: [], to, amount: 12_345n, fee: [], memo: [], created_at_time: [],
});
if (!('Ok' in result)) throw new Error(`transfer refused: ${JSON.stringify(result, (_, v) => typeof v === 'bigint' ? v.toString() : v)}`);
const after = await ledger.icrc1_balance_of(me);
const received = await ledger.icrc1_balance_of(to);
console.log(JSON.stringify({
  principal: identity.getPrincipal().toText(),
  before: before.toString(),
  block: result.Ok.toString(),
  after: after.toString(),
  recipient: received.toString(),
}));

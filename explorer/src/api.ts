// Actors over the EMC canisters: certified reads (the query methods called as update calls:
// the replica answers with a certificate that @dfinity/agent verifies against the root key)
// and plain queries (answers signed by the replica's node key, verified by the agent).
import { Actor, HttpAgent, type ActorSubclass } from "@dfinity/agent";
import { IDL } from "@dfinity/candid";
import { idlFactory as epochsIdl } from "./declarations/epochs.did.js";
import { idlFactory as ledgerIdl } from "./declarations/ledger.did.js";
import { idlFactory as marketIdl } from "./declarations/market.did.js";
import { idlFactory as registryIdl } from "./declarations/registry.did.js";
import type { _SERVICE as Epochs } from "./declarations/epochs.did";
import type { _SERVICE as Ledger } from "./declarations/ledger.did";
import type { _SERVICE as Market } from "./declarations/market.did";
import type { _SERVICE as Registry } from "./declarations/registry.did";

export interface Config {
  network: string;
  host: string;
  fetchRootKey: boolean;
  canisters: { ledger: string; registry: string; epochs: string; market: string };
  blockIntervalMs?: number;
  epochLengthBlocks?: number;
  checkpointIntervalBlocks?: number;
}

type Factory = IDL.InterfaceFactory;

/** The same service with every method an update: reads that come back certified. */
export function certifiedFactory(factory: Factory): Factory {
  return ({ IDL: idl }) => {
    const service = factory({ IDL: idl }) as IDL.ServiceClass;
    const methods: Record<string, IDL.FuncClass> = {};
    for (const [name, func] of service._fields) {
      methods[name] = idl.Func(func.argTypes, func.retTypes, []);
    }
    return idl.Service(methods);
  };
}

export interface Pair<T> {
  /** Certified reads. */
  c: ActorSubclass<T>;
  /** Queries. */
  q: ActorSubclass<T>;
}

export interface Api {
  config: Config;
  ledger: Pair<Ledger>;
  registry: Pair<Registry>;
  epochs: Pair<Epochs>;
  market: Pair<Market>;
}

function pair<T>(agent: HttpAgent, factory: Factory, id: string): Pair<T> {
  return {
    c: Actor.createActor<T>(certifiedFactory(factory), { agent, canisterId: id }),
    q: Actor.createActor<T>(factory, { agent, canisterId: id }),
  };
}

export async function connect(): Promise<Api> {
  const res = await fetch("./config.json", { cache: "no-store" });
  if (!res.ok) throw new Error(`config.json: HTTP ${res.status}`);
  const config = (await res.json()) as Config;
  const agent = await HttpAgent.create({
    host: config.host || window.location.origin,
    shouldFetchRootKey: config.fetchRootKey,
  });
  const c = config.canisters;
  return {
    config,
    ledger: pair<Ledger>(agent, ledgerIdl, c.ledger),
    registry: pair<Registry>(agent, registryIdl, c.registry),
    epochs: pair<Epochs>(agent, epochsIdl, c.epochs),
    market: pair<Market>(agent, marketIdl, c.market),
  };
}

//! `edge-node`: see `edge-node --help`.

fn main() -> anyhow::Result<()> {
    edge_node::cli::main()
}

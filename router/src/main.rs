//! `router`: runs a smart router (see the crate docs). Configuration: the same TOML file as
//! `edge-node` (`edge-node init --role router` writes one) plus flags.

fn main() -> anyhow::Result<()> {
    edge_node::cli::router_main()
}

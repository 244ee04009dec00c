//! What a person sees and what goes to files.
//!
//! - **The console** (stderr) shows warnings and errors, and the milestones a person follows
//!   (target [`MILESTONE`]: a checkpoint accepted, an epoch closed, rewards paid, a compute
//!   node's proof-of-computing verdict turning). `verbose` shows everything `RUST_LOG` selects
//!   (default `info`). ANSI colours only when stderr is a terminal.
//! - **Files**: the full log (`RUST_LOG`, default `info`) goes to `<dir>/<node>.log`, where the
//!   node is the `node` field of the innermost [`node_span`] around the event (the devnet runs
//!   every node in one process), or the default name for events outside any.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::fs::File;
use std::io::{IsTerminal, LineWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::filter::{EnvFilter, Targets};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::Layer;

/// The target of milestone events (`tracing::info!(target: MILESTONE, ...)`).
pub const MILESTONE: &str = "milestone";

/// The default full-log filter.
const DEFAULT_FILTER: &str = "info,quinn=warn,rustls=warn";

/// Where logs go.
#[derive(Clone, Debug, Default)]
pub struct LogConfig {
    /// Everything on the console, not only milestones and warnings.
    pub verbose: bool,
    /// The directory of the full logs (none: no files).
    pub dir: Option<PathBuf>,
    /// The file name (without `.log`) of events outside any node span.
    pub default_name: String,
}

/// Where a node process started with `config` writes its full log: `explicit` when given,
/// else the config file's directory.
pub fn log_dir_beside(config: &Path, explicit: Option<&Path>) -> PathBuf {
    match explicit {
        Some(dir) => dir.to_path_buf(),
        None => config
            .parent()
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf),
    }
}

/// A span whose events go to `<dir>/<name>.log`; instrument a node's futures with it (tasks
/// they spawn inherit it through `in_current_span`).
pub fn node_span(name: &str) -> tracing::Span {
    tracing::info_span!("node", node = name)
}

/// Installs the console and file logging of `cfg` as the global subscriber (once per
/// process: a second call changes nothing and returns `Ok`).
pub fn init_logging(cfg: &LogConfig) -> std::io::Result<()> {
    let env = || EnvFilter::try_from_default_env().unwrap_or_else(|_| DEFAULT_FILTER.into());
    let console_filter: Box<dyn tracing_subscriber::layer::Filter<_> + Send + Sync> = if cfg.verbose
    {
        Box::new(env())
    } else {
        Box::new(
            Targets::new()
                .with_default(Level::WARN)
                .with_target(MILESTONE, Level::INFO),
        )
    };
    let console = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .with_filter(console_filter);
    let files = match &cfg.dir {
        Some(dir) => {
            std::fs::create_dir_all(dir)?;
            Some(NodeFiles::new(dir, &cfg.default_name).with_filter(env()))
        }
        None => None,
    };
    let _ = tracing_subscriber::registry()
        .with(console)
        .with(files)
        .try_init();
    Ok(())
}

/// The name recorded for a node span.
struct NodeName(String);

/// Writes each event, formatted as one line, to its node's file.
struct NodeFiles {
    dir: PathBuf,
    default_name: String,
    files: Mutex<HashMap<String, Option<LineWriter<File>>>>,
}

impl NodeFiles {
    fn new(dir: &Path, default_name: &str) -> NodeFiles {
        NodeFiles {
            dir: dir.to_path_buf(),
            default_name: if default_name.is_empty() {
                "node".into()
            } else {
                default_name.to_string()
            },
            files: Mutex::new(HashMap::new()),
        }
    }

    fn write(&self, node: &str, line: &str) {
        let mut files = match self.files.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        let file = files.entry(node.to_string()).or_insert_with(|| {
            let path = self.dir.join(format!("{}.log", sanitize(node)));
            File::options()
                .create(true)
                .append(true)
                .open(path)
                .ok()
                .map(LineWriter::new)
        });
        if let Some(f) = file {
            let _ = f.write_all(line.as_bytes());
        }
    }
}

/// A node name as a file name: letters, digits, `-` and `_` only.
fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

struct NameVisitor(Option<String>);

impl Visit for NameVisitor {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "node" {
            self.0 = Some(value.to_string());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "node" {
            self.0 = Some(format!("{value:?}"));
        }
    }
}

/// `message` first, then `key=value` for the other fields.
struct LineVisitor {
    message: String,
    fields: String,
}

impl Visit for LineVisitor {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            let _ = write!(self.fields, " {}={value}", field.name());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            let _ = write!(self.fields, " {}={value:?}", field.name());
        }
    }
}

impl<S> Layer<S> for NodeFiles
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        id: &tracing::span::Id,
        ctx: Context<'_, S>,
    ) {
        let mut v = NameVisitor(None);
        attrs.record(&mut v);
        if let (Some(name), Some(span)) = (v.0, ctx.span(id)) {
            span.extensions_mut().insert(NodeName(name));
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let node = ctx
            .event_scope(event)
            .and_then(|scope| {
                scope
                    .into_iter()
                    .find_map(|span| span.extensions().get::<NodeName>().map(|n| n.0.clone()))
            })
            .unwrap_or_else(|| self.default_name.clone());
        let mut line = String::new();
        let _ = SystemTime.format_time(&mut Writer::new(&mut line));
        let meta = event.metadata();
        let mut v = LineVisitor {
            message: String::new(),
            fields: String::new(),
        };
        event.record(&mut v);
        let _ = writeln!(
            line,
            " {:>5} {}: {}{}",
            meta.level(),
            meta.target(),
            v.message,
            v.fields
        );
        self.write(&node, &line);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing::Instrument;

    #[test]
    fn events_go_to_their_nodes_file_and_the_rest_to_the_default() {
        let dir = std::env::temp_dir().join(format!("emc-logs-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let subscriber = tracing_subscriber::registry().with(NodeFiles::new(&dir, "devnet"));
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!("outside");
            node_span("validator-0").in_scope(|| {
                tracing::info!(height = 7, "committed");
                tracing::info_span!("inner").in_scope(|| tracing::warn!("deeper"));
            });
            let rt = tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap();
            rt.block_on(
                async {
                    tracing::info!("in a task");
                }
                .instrument(node_span("compute/1")),
            );
        });
        let read = |f: &str| std::fs::read_to_string(dir.join(f)).unwrap();
        let v0 = read("validator-0.log");
        assert!(
            v0.contains("INFO") && v0.contains("committed height=7"),
            "{v0}"
        );
        assert!(v0.contains("WARN") && v0.contains("deeper"));
        assert!(!v0.contains("outside"));
        assert!(read("devnet.log").contains("outside"));
        assert!(
            read("compute_1.log").contains("in a task"),
            "names are sanitized"
        );
        assert!(!v0.contains('\u{1b}'), "no ANSI codes in files");
        let _ = std::fs::remove_dir_all(&dir);
    }
}

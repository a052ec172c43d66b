//! `broker-conformance golden …`: verify, list, show and add golden bytes.

use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};

use super::{EXIT_FAILED, EXIT_HARNESS, EXIT_OK};
use broker_conformance::golden::sha256;
use broker_conformance::golden::{Corpus, CorpusSource, GoldenEncoding, add_golden, verify};
use broker_conformance::golden::{HistoryOutcome, check_history};
use broker_conformance::inspect::to_hex;
use broker_conformance::inspect::{annotate_framed, annotate_named, render};

#[derive(Debug, Subcommand)]
pub enum GoldenCommand {
    /// Check the manifest, every round trip and the spec test vectors (exit 0 intact, 1 not).
    Verify {
        #[command(flatten)]
        location: Location,
        /// Whether to prove from git history that no frozen file ever changed.
        #[arg(long, value_enum, default_value_t = HistoryMode::Auto)]
        history: HistoryMode,
    },
    /// List every golden with its message type, encoding and size.
    List {
        #[command(flatten)]
        location: Location,
    },
    /// Show a golden: its bytes annotated field by field, and its sample.
    Show {
        /// Golden name, e.g. `wire_hello_minimal` or `v1/hello_full`.
        name: String,
        #[command(flatten)]
        location: Location,
    },
    /// Freeze a new golden from its companion `DIR/NAME.txtpb`.
    Add {
        /// Name of the new golden, e.g. `v1/hello_reply_refused_fd_pressure`.
        name: String,
        /// The corpus directory to add to.
        #[arg(long, default_value = "golden")]
        dir: PathBuf,
    },
}

#[derive(Debug, Args)]
pub struct Location {
    /// Corpus directory [default: ./golden, else this crate's golden/, else the embedded copy].
    #[arg(long)]
    dir: Option<PathBuf>,
}

impl Location {
    fn load(&self) -> Result<Corpus, String> {
        match &self.dir {
            Some(dir) => Corpus::load_dir(dir),
            None => Corpus::default_location(),
        }
        .map_err(|e| e.to_string())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum HistoryMode {
    /// Check history when the corpus is in a full git checkout.
    Auto,
    /// Fail when history cannot be checked.
    Require,
    /// Do not look at history.
    Skip,
}

pub fn run(cmd: GoldenCommand) -> u8 {
    let result = match cmd {
        GoldenCommand::Verify { location, history } => {
            location.load().map(|c| run_verify(&c, history))
        }
        GoldenCommand::List { location } => location.load().map(|c| run_list(&c)),
        GoldenCommand::Show { name, location } => location.load().and_then(|c| run_show(&c, &name)),
        GoldenCommand::Add { name, dir } => run_add(&dir, &name),
    };
    result.unwrap_or_else(|e| {
        eprintln!("error: {e}");
        EXIT_HARNESS
    })
}

fn run_verify(corpus: &Corpus, history: HistoryMode) -> u8 {
    println!("verifying {}", corpus.source);
    let report = verify(corpus);
    let mut failed = !report.is_ok();
    for finding in &report.findings {
        println!("FAIL {finding}");
    }
    println!(
        "{} files match MANIFEST checksums; {} golden pairs round-trip checked",
        report.files_checked, report.pairs_checked
    );
    match (&corpus.source, history) {
        (_, HistoryMode::Skip) => {}
        (CorpusSource::Dir(dir), mode) => match check_history(dir) {
            HistoryOutcome::Checked { commits, findings } => {
                for finding in &findings {
                    println!("FAIL {finding}");
                }
                failed |= !findings.is_empty();
                println!(
                    "history: {commits} commits touched the corpus; frozen files were only ever added"
                );
            }
            HistoryOutcome::Unavailable(reason) if mode == HistoryMode::Require => {
                println!("FAIL history could not be checked: {reason}");
                failed = true;
            }
            HistoryOutcome::Unavailable(reason) => println!("history: not checked ({reason})"),
        },
        (CorpusSource::Embedded, HistoryMode::Require) => {
            println!("FAIL history cannot be checked for the embedded corpus");
            failed = true;
        }
        (CorpusSource::Embedded, HistoryMode::Auto) => {
            println!("history: not checked (embedded corpus)")
        }
    }
    if failed {
        println!("golden corpus: FAILED");
        EXIT_FAILED
    } else {
        println!("golden corpus: OK");
        EXIT_OK
    }
}

fn run_list(corpus: &Corpus) -> u8 {
    let mut code = EXIT_OK;
    for name in corpus.names() {
        match corpus.golden(&name) {
            Ok(g) => println!(
                "{:<48} {:<52} {:<22} {:>6} B",
                g.name,
                g.companion.message,
                g.companion.encoding.as_str(),
                g.bytes.len()
            ),
            Err(e) => {
                eprintln!("error: {e}");
                code = EXIT_FAILED;
            }
        }
    }
    code
}

fn run_show(corpus: &Corpus, name: &str) -> Result<u8, String> {
    let golden = corpus.golden(name).map_err(|e| e.to_string())?;
    let c = &golden.companion;
    println!(
        "{}: {}, encoding {}, {} bytes",
        golden.name,
        c.message,
        c.encoding,
        golden.bytes.len()
    );
    println!("sha256 {}", to_hex(&sha256(&golden.bytes)));
    if !c.description.is_empty() {
        println!("{}", c.description);
    }
    println!();
    let annotations = match c.encoding {
        GoldenEncoding::Framed => annotate_framed(&golden.bytes),
        GoldenEncoding::Message | GoldenEncoding::HandoffOfferPayload => {
            annotate_named(&golden.bytes, &c.message).unwrap_or_default()
        }
    };
    if golden.bytes.is_empty() {
        println!("(empty: every field holds its default, so nothing is encoded)");
    } else {
        print!("{}", render(&annotations));
    }
    println!();
    println!(
        "sample ({}):",
        corpus.display_path(&format!("{}.txtpb", golden.name))
    );
    print!("{}", golden.companion_text);
    Ok(EXIT_OK)
}

fn run_add(dir: &std::path::Path, name: &str) -> Result<u8, String> {
    let added = add_golden(dir, name).map_err(|e| e.to_string())?;
    println!(
        "froze {} ({} bytes) and appended it to {}",
        added.bin_path.display(),
        added.len,
        dir.join("MANIFEST").display()
    );
    Ok(EXIT_OK)
}

//! `broker-conformance servicedef …`: write a service definition, or show
//! and check one (SVC-1, SVC-3, SEC-3).
//!
//! `install` does not default `--per-version-binary-dir` (as upstream's
//! `servicedef install`): the file holds exactly what was asked for. When it
//! is missing, the definition loads but LCH-1 refuses every launch, so
//! `install` prints a warning naming the flag.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand, ValueEnum};
use prost::Message;
use serde_json::{Value, json};

use super::{EXIT_FAILED, EXIT_HARNESS, EXIT_OK};
use broker_conformance::definitions::{
    Generation, Isolation, ServiceDefinitionBuilder, check_definition_dir, definition_problems,
    instance_id, launch_gaps, parse_service_def_file_name, resolve_service_def_dir, v2_to_v1,
    write_service_definition, write_service_definition_v2,
};
use broker_conformance::env::ProcessEnv;
use broker_conformance::proto::{v1, v2};
use broker_conformance::wire::env_vars;

#[derive(Debug, Subcommand)]
pub enum ServicedefCommand {
    /// Write a service definition and print its path (exit 0 written, 2 not).
    Install(Box<InstallArgs>),
    /// Print a definition file and check it (exit 0 valid, 1 invalid, 2 unreadable).
    Show {
        /// A `<service>.servicedef` (v1) or `<service>.servicedef.v2` (v2) file.
        path: PathBuf,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args)]
pub struct InstallArgs {
    /// Service name (`[a-z0-9-]{1,64}`).
    #[arg(long)]
    service: String,
    /// Absolute path of the backend executable.
    #[arg(long)]
    binary_path: PathBuf,
    /// Absolute directory the binary must lie in (LCH-1); not defaulted.
    #[arg(long)]
    per_version_binary_dir: Option<PathBuf>,
    /// Version floor (HEL-15).
    #[arg(long)]
    min_version: Option<String>,
    /// Allowed version (HEL-16); repeatable.
    #[arg(long = "allow-version")]
    allow_versions: Vec<String>,
    /// Isolation (§7.1).
    #[arg(long, value_enum, default_value_t = IsolationArg::Private)]
    isolation: IsolationArg,
    /// Instance name for `--isolation explicit`.
    #[arg(long)]
    explicit_instance: Option<String>,
    /// A label `KEY=VALUE` (e.g. `handoff=1`, LCH-6); repeatable.
    #[arg(long = "label", value_parser = parse_label)]
    labels: Vec<(String, String)>,
    /// Write a v2 definition (`<service>.servicedef.v2`).
    #[arg(long)]
    v2: bool,
    /// v2 `http_server.bind_addr`.
    #[arg(long, requires = "v2")]
    http_bind_addr: Option<String>,
    /// v2 `http_server.health_path`.
    #[arg(long, requires = "v2")]
    http_health_path: Option<String>,
    /// v2 `http_server.display_name`.
    #[arg(long, requires = "v2")]
    http_display_name: Option<String>,
    /// Definition directory [default: SVC-1 order: $RUNNING_PROCESS_SERVICE_DEF_DIR,
    /// $XDG_CONFIG_HOME/running-process/services, ~/.config/running-process/services].
    #[arg(long)]
    service_def_dir: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum IsolationArg {
    /// PRIVATE_BROKER.
    Private,
    /// SHARED_BROKER.
    Shared,
    /// EXPLICIT_INSTANCE (needs --explicit-instance).
    Explicit,
}

fn parse_label(text: &str) -> Result<(String, String), String> {
    text.split_once('=')
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .ok_or_else(|| format!("label {text:?} is not KEY=VALUE"))
}

pub fn run(cmd: ServicedefCommand) -> u8 {
    match cmd {
        ServicedefCommand::Install(args) => run_install(*args),
        ServicedefCommand::Show { path, json } => run_show(&path, json),
    }
}

fn run_install(args: InstallArgs) -> u8 {
    let mut problems = Vec::new();
    let isolation = match (args.isolation, args.explicit_instance) {
        (IsolationArg::Explicit, instance) => Isolation::Explicit(instance.unwrap_or_default()),
        (other, Some(instance)) => {
            problems.push(format!(
                "--explicit-instance {instance:?} is only valid with --isolation explicit"
            ));
            if other == IsolationArg::Shared {
                Isolation::Shared
            } else {
                Isolation::Private
            }
        }
        (IsolationArg::Shared, None) => Isolation::Shared,
        (IsolationArg::Private, None) => Isolation::Private,
    };
    let mut builder = ServiceDefinitionBuilder::new(&args.service)
        .binary_path(&args.binary_path)
        .isolation(isolation);
    if let Some(dir) = &args.per_version_binary_dir {
        builder = builder.per_version_binary_dir(dir);
    }
    if let Some(min) = &args.min_version {
        builder = builder.min_version(min);
    }
    for version in &args.allow_versions {
        builder = builder.allow_version(version);
    }
    for (key, value) in &args.labels {
        builder = builder.label(key, value);
    }
    let http = (args.http_bind_addr.is_some()
        || args.http_health_path.is_some()
        || args.http_display_name.is_some())
    .then(|| v2::HttpServerCapability {
        bind_addr: args.http_bind_addr.unwrap_or_default(),
        health_path: args.http_health_path.unwrap_or_default(),
        display_name: args.http_display_name.unwrap_or_default(),
    });
    let built = if args.v2 {
        builder.build_v2(http).map(Built::V2)
    } else {
        builder.build().map(Built::V1)
    };
    let built = match built {
        Ok(built) if problems.is_empty() => built,
        Ok(_) => return report_problems(&problems),
        Err(e) => {
            problems.extend(e.problems().iter().map(ToString::to_string));
            if problems.is_empty() {
                problems.push(e.to_string());
            }
            return report_problems(&problems);
        }
    };
    let Some(dir) = resolve_service_def_dir(args.service_def_dir.as_deref(), &ProcessEnv) else {
        eprintln!(
            "error: no service definition directory: pass --service-def-dir or set {}, \
             XDG_CONFIG_HOME or HOME (SVC-1)",
            env_vars::SERVICE_DEF_DIR
        );
        return EXIT_HARNESS;
    };
    let written = match &built {
        Built::V1(def) => write_service_definition(&dir, def),
        Built::V2(def) => write_service_definition_v2(&dir, def),
    };
    match written {
        Ok(path) => {
            println!("{}", path.display());
            for gap in launch_gaps(&built.v1_view()) {
                eprintln!("warning: {gap}; pass --per-version-binary-dir");
            }
            if let Err(problem) = check_definition_dir(&dir) {
                eprintln!("warning: {problem}; a broker will not load this definition");
            }
            EXIT_OK
        }
        Err(e) => {
            eprintln!("error: {e}");
            EXIT_HARNESS
        }
    }
}

enum Built {
    V1(v1::ServiceDefinition),
    V2(v2::ServiceDefinition),
}

impl Built {
    fn v1_view(&self) -> v1::ServiceDefinition {
        match self {
            Self::V1(def) => def.clone(),
            Self::V2(def) => v2_to_v1(def),
        }
    }
}

fn report_problems(problems: &[String]) -> u8 {
    for problem in problems {
        eprintln!("error: {problem}");
    }
    EXIT_HARNESS
}

/// What `show` learned about one file.
struct Shown {
    path: PathBuf,
    generation: Generation,
    definition: Option<(v1::ServiceDefinition, Option<v2::HttpServerCapability>)>,
    findings: Vec<String>,
    notes: Vec<String>,
}

fn run_show(path: &Path, json: bool) -> u8 {
    let file_name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let Some((service, generation)) = parse_service_def_file_name(file_name) else {
        eprintln!(
            "error: {}: the file name must end in .servicedef (v1) or .servicedef.v2 (v2)",
            path.display()
        );
        return EXIT_HARNESS;
    };
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) => {
            eprintln!("error: {}: could not be read: {e}", path.display());
            return EXIT_HARNESS;
        }
    };
    let shown = examine(path, service, generation, &bytes);
    if json {
        println!("{}", render_json(&shown));
    } else {
        print!("{}", render_text(&shown));
    }
    if shown.findings.is_empty() {
        EXIT_OK
    } else {
        EXIT_FAILED
    }
}

fn examine(path: &Path, service: &str, generation: Generation, bytes: &[u8]) -> Shown {
    let mut findings = Vec::new();
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    if let Err(problem) = check_definition_dir(dir) {
        findings.push(problem.to_string());
    }
    let decoded = match generation {
        Generation::V1 => v1::ServiceDefinition::decode(bytes).map(|def| (def, None)),
        Generation::V2 => {
            v2::ServiceDefinition::decode(bytes).map(|def| (v2_to_v1(&def), def.http_server))
        }
    };
    let mut notes = Vec::new();
    let definition = match decoded {
        Ok((def, http)) => {
            findings.extend(
                definition_problems(&def, service)
                    .iter()
                    .map(ToString::to_string),
            );
            notes = launch_gaps(&def);
            Some((def, http))
        }
        Err(e) => {
            findings.push(format!(
                "not a valid {generation} ServiceDefinition: {e} (SVC-3)"
            ));
            None
        }
    };
    Shown {
        path: path.to_path_buf(),
        generation,
        definition,
        findings,
        notes,
    }
}

fn isolation_name(value: i32) -> String {
    v1::BrokerIsolation::try_from(value)
        .map(|i| i.as_str_name().to_owned())
        .unwrap_or_else(|_| value.to_string())
}

fn render_text(shown: &Shown) -> String {
    let mut out = format!(
        "file: {}\ngeneration: {}\n",
        shown.path.display(),
        shown.generation
    );
    if let Some((def, http)) = &shown.definition {
        out += &format!("service_name: {:?}\n", def.service_name);
        out += &format!("binary_path: {:?}\n", def.binary_path);
        out += &format!("isolation: {}\n", isolation_name(def.isolation));
        out += &format!("explicit_instance: {:?}\n", def.explicit_instance);
        out += &format!("instance_id: {}\n", instance_id(def));
        out += &format!("per_version_binary_dir: {:?}\n", def.per_version_binary_dir);
        out += &format!("min_version: {:?}\n", def.min_version);
        out += &format!("version_allow_list: {:?}\n", def.version_allow_list);
        out += &format!("labels: {:?}\n", def.labels);
        if shown.generation == Generation::V2 {
            match http {
                Some(h) => {
                    out += &format!(
                        "http_server: bind_addr={:?} health_path={:?} display_name={:?}\n",
                        h.bind_addr, h.health_path, h.display_name
                    )
                }
                None => out += "http_server: (not set)\n",
            }
        }
    }
    for finding in &shown.findings {
        out += &format!("FAIL {finding}\n");
    }
    for note in &shown.notes {
        out += &format!("note: {note}\n");
    }
    out += if shown.findings.is_empty() {
        "valid\n"
    } else {
        "invalid\n"
    };
    out
}

fn render_json(shown: &Shown) -> Value {
    let definition = shown.definition.as_ref().map(|(def, http)| {
        let mut fields = json!({
            "service_name": def.service_name,
            "binary_path": def.binary_path,
            "isolation": isolation_name(def.isolation),
            "explicit_instance": def.explicit_instance,
            "per_version_binary_dir": def.per_version_binary_dir,
            "min_version": def.min_version,
            "version_allow_list": def.version_allow_list,
            "labels": def.labels,
        });
        if shown.generation == Generation::V2 {
            fields["http_server"] = http.as_ref().map_or(Value::Null, |h| {
                json!({
                    "bind_addr": h.bind_addr,
                    "health_path": h.health_path,
                    "display_name": h.display_name,
                })
            });
        }
        fields
    });
    json!({
        "path": shown.path.display().to_string(),
        "generation": shown.generation.as_str(),
        "definition": definition,
        "instance_id": shown.definition.as_ref().map(|(def, _)| instance_id(def)),
        "findings": shown.findings,
        "notes": shown.notes,
        "valid": shown.findings.is_empty(),
    })
}

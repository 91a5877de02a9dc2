//! `silo-fixtures`: builds the test and benchmark images offline and pushes them.
//!
//! ```text
//! silo-fixtures build busybox|multiplatform|debian --out DIR
//! silo-fixtures build random --mib N --out DIR
//! silo-fixtures busybox-rootfs --out FILE.tar
//! silo-fixtures push --layout DIR --registry 127.0.0.1:PORT --ref repo:tag [--creds user:pass]
//! ```
//!
//! Arguments are parsed by hand: four verbs do not justify a clap dependency in the test kit.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use silo_testkit::fixtures::{self, Layout};

const USAGE: &str = "usage:
  silo-fixtures build busybox|multiplatform|debian --out DIR
  silo-fixtures build random --mib N --out DIR
  silo-fixtures busybox-rootfs --out FILE.tar
  silo-fixtures push --layout DIR --registry HOST:PORT --ref REPO:TAG [--creds USER:PASS]";

/// `--flag value` pairs after the verb.
struct Flags(Vec<(String, String)>);

impl Flags {
    fn parse(args: &[String]) -> Result<Self> {
        let mut pairs = Vec::new();
        let mut it = args.iter();
        while let Some(flag) = it.next() {
            if !flag.starts_with("--") {
                bail!("unexpected argument {flag:?}\n{USAGE}");
            }
            let (name, value) = match flag.split_once('=') {
                Some((n, v)) => (n.to_string(), v.to_string()),
                None => {
                    let v = it.next().with_context(|| format!("{flag} needs a value"))?;
                    (flag.clone(), v.clone())
                }
            };
            pairs.push((name, value));
        }
        Ok(Flags(pairs))
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn req(&self, name: &str) -> Result<&str> {
        self.get(name)
            .with_context(|| format!("missing {name}\n{USAGE}"))
    }
}

fn print_layout(layout: &Layout) {
    println!("layout {}", layout.dir.display());
    println!("{} {}", layout.index_media_type, layout.index_digest);
    for m in &layout.manifests {
        let version = m.platform.os_version.as_deref().unwrap_or("-");
        println!(
            "  {} os.version={} manifest={} config={}",
            m.platform.short(),
            version,
            m.digest,
            m.config_digest
        );
    }
}

fn run(args: &[String]) -> Result<()> {
    let Some((verb, rest)) = args.split_first() else {
        bail!("{USAGE}");
    };
    match verb.as_str() {
        "build" => {
            let Some((kind, rest)) = rest.split_first() else {
                bail!("build needs a fixture name\n{USAGE}");
            };
            let flags = Flags::parse(rest)?;
            let out = PathBuf::from(flags.req("--out")?);
            let layout = match kind.as_str() {
                "busybox" => fixtures::build_busybox(&out)?,
                "multiplatform" => fixtures::build_multiplatform(&out)?,
                "debian" => fixtures::build_debian(&out)?,
                "random" => {
                    let mib = flags
                        .req("--mib")?
                        .parse()
                        .context("--mib takes a whole number of MiB")?;
                    fixtures::build_random(&out, mib)?
                }
                other => bail!("unknown fixture {other:?}\n{USAGE}"),
            };
            print_layout(&layout);
        }
        "busybox-rootfs" => {
            let flags = Flags::parse(rest)?;
            let out = PathBuf::from(flags.req("--out")?);
            fixtures::write_busybox_rootfs(&out)?;
            println!("rootfs {}", out.display());
        }
        "push" => {
            let flags = Flags::parse(rest)?;
            let layout = PathBuf::from(flags.req("--layout")?);
            let registry = flags.req("--registry")?;
            let reference = flags.req("--ref")?;
            let creds = flags
                .get("--creds")
                .map(|c| c.split_once(':').unwrap_or((c, "")));
            fixtures::push_layout_with_creds(&layout, registry, reference, creds)?;
            println!("pushed {} to {registry}/{reference}", layout.display());
        }
        "-h" | "--help" | "help" => println!("{USAGE}"),
        other => bail!("unknown command {other:?}\n{USAGE}"),
    }
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("silo-fixtures: {e:#}");
            ExitCode::FAILURE
        }
    }
}

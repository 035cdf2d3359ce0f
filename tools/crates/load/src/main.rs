//! sematic-load: an image layout into the local podman, containerd or Docker, incrementally.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, ValueEnum};
use sematic_load::containerd::Containerd;
use sematic_load::runtime::{detect, host_platform, Runtime};
use sematic_oci_core::platform::Platform;
use sematic_tarball::archive::RepoTag;

/// Load an OCI image layout into the machine's container runtime under a name, sending only
/// what it lacks: containerd and podman get the layers they do not have (a code edit costs its
/// layer, not the image); Docker gets the whole image (`docker load` is not incremental).
/// Prints which runtime it chose, then `summary: runtime=R sent=N (B bytes) present=M image=NAME`.
#[derive(Parser)]
#[command(name = "sematic-load", version)]
struct Cli {
    /// The image layout, as written by sematic-image or sematic-index.
    #[arg(long, value_name = "DIR")]
    layout: PathBuf,

    /// Name of the loaded image, as registry/repository:tag.
    #[arg(long, value_name = "REPO:TAG", value_parser = RepoTag::parse)]
    tag: RepoTag,

    /// Which runtime to load into. auto: podman if installed, else containerd if its socket
    /// exists, else Docker if its daemon answers.
    #[arg(long, value_enum, default_value_t = RuntimeArg::Auto)]
    runtime: RuntimeArg,

    /// Which image to load when the layout's entry is an image index (default: this machine's).
    #[arg(long, value_name = "OS/ARCH[/VARIANT]", default_value = host_platform(), value_parser = Platform::parse)]
    platform: Platform,

    /// containerd's socket (default: $CONTAINERD_ADDRESS, else /run/containerd/containerd.sock,
    /// as for ctr).
    #[arg(long, value_name = "SOCKET")]
    address: Option<PathBuf>,

    /// containerd namespace to load into (default: $CONTAINERD_NAMESPACE, else `default`, as
    /// for ctr): `k8s.io` is the one a Kubernetes node's kubelet uses.
    #[arg(long)]
    namespace: Option<String>,
}

#[derive(Clone, Copy, ValueEnum)]
enum RuntimeArg {
    Auto,
    Podman,
    Containerd,
    Docker,
}

fn main() -> ExitCode {
    sematic_cli::main("sematic-load", run)
}

fn run(cli: Cli) -> Result<()> {
    let from_env = |name: &str| std::env::var_os(name).filter(|value| !value.is_empty());
    let containerd = Containerd {
        address: cli.address.unwrap_or_else(|| {
            from_env("CONTAINERD_ADDRESS")
                .map_or_else(|| "/run/containerd/containerd.sock".into(), PathBuf::from)
        }),
        namespace: cli.namespace.unwrap_or_else(|| {
            from_env("CONTAINERD_NAMESPACE").map_or_else(
                || "default".to_owned(),
                |v| v.to_string_lossy().into_owned(),
            )
        }),
    };
    let runtime = match cli.runtime {
        RuntimeArg::Podman => Runtime::Podman,
        RuntimeArg::Containerd => Runtime::Containerd,
        RuntimeArg::Docker => Runtime::Docker,
        RuntimeArg::Auto => {
            let (runtime, why) = detect(&containerd)?;
            eprintln!("sematic-load: loading into {runtime} ({why}; --runtime chooses another)");
            runtime
        }
    };
    let summary = sematic_load::load(&cli.layout, &cli.platform, &cli.tag, runtime, &containerd)?;
    eprintln!("sematic-load: {summary}");
    Ok(())
}

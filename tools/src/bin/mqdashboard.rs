//! `mqdashboard`: the web dashboard (`tools/src/dashboard`). Serves the
//! page and its JSON API on `--listen` (default 127.0.0.1:8080: it has no
//! login of its own) for the cluster behind `-n`.

use std::net::TcpListener;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use clap::Parser;
use ringmq_tools::admin::Admin;
use ringmq_tools::dashboard::{api, http};

#[derive(Parser)]
#[command(
    name = "mqdashboard",
    version,
    about = "Web dashboard for RingMQ and any RocketMQ-protocol cluster"
)]
struct Cli {
    /// Name servers, `;`-separated.
    #[arg(
        short = 'n',
        long = "namesrvAddr",
        env = "NAMESRV_ADDR",
        default_value = "127.0.0.1:9876"
    )]
    namesrv: String,
    /// Where the dashboard listens.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: String,
    /// ACL access key (clusters with aclEnable=true; an admin account).
    #[arg(long = "accessKey", env = "ROCKETMQ_ACCESS_KEY")]
    access_key: Option<String>,
    /// ACL secret key.
    #[arg(
        long = "secretKey",
        env = "ROCKETMQ_SECRET_KEY",
        hide_env_values = true
    )]
    secret_key: Option<String>,
    /// Connect over TLS (`tlsMode` permissive or enforcing), trusting the
    /// certificates in this PEM file: the broker's own or its CA's.
    #[arg(long = "tlsTrustCertPath")]
    tls_trust: Option<std::path::PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let credentials = match (cli.access_key, cli.secret_key) {
        (Some(a), Some(s)) => Some((a, s)),
        (None, None) => None,
        _ => {
            eprintln!("mqdashboard: give both --accessKey and --secretKey");
            return ExitCode::FAILURE;
        }
    };
    let tls = match cli
        .tls_trust
        .as_deref()
        .map(ringmq_net::tls::ClientTls::load)
    {
        None => None,
        Some(Ok(tls)) => Some(tls),
        Some(Err(e)) => {
            eprintln!("mqdashboard: {e}");
            return ExitCode::FAILURE;
        }
    };
    let listener = match TcpListener::bind(&cli.listen) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("mqdashboard: cannot listen on {}: {e}", cli.listen);
            return ExitCode::FAILURE;
        }
    };
    let bound = match http::bound(&listener) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("mqdashboard: {e}");
            return ExitCode::FAILURE;
        }
    };
    let addr = bound.to_string();
    let guard = api::Guard::for_listener(bound);
    // The test harness reads this line to learn the port.
    println!(
        "mqdashboard listening on http://{addr}/ for name server {}",
        cli.namesrv
    );
    let admin = Admin::new(&cli.namesrv, credentials).with_tls(tls);
    http::serve(
        listener,
        Arc::new(AtomicBool::new(false)),
        Arc::new(move |request| api::handle(&admin, &guard, request)),
    );
    ExitCode::SUCCESS
}

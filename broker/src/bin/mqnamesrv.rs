//! `mqnamesrv`: a standalone RingMQ name server (RocketMQ protocol).

use clap::Parser;
use ringmq_broker::namesrv::NameServer;

#[derive(Parser, Debug)]
#[command(
    name = "mqnamesrv",
    version,
    about = "RingMQ name server (RocketMQ protocol)"
)]
struct Args {
    /// Port to listen on.
    #[arg(short = 'p', long = "listenPort", default_value_t = 9876)]
    listen_port: u16,
    /// Address to bind (RocketMQ's `bindAddress`); the default, every
    /// interface, is what RocketMQ's name server does.
    #[arg(short = 'b', long = "bindAddress", default_value = "0.0.0.0")]
    bind_address: std::net::IpAddr,
    /// RocketMQ 4.x `plain_acl.yml`: registrations, unregistrations, KV
    /// changes and write-permission changes are then taken only from
    /// white-listed addresses or admin-signed requests (as the brokers'
    /// embedded name server does with `aclEnable=true`). Reloaded on edit.
    #[arg(long = "aclFile")]
    acl_file: Option<std::path::PathBuf>,
    /// TLS: `disabled`, `permissive` or `enforcing` (with --tlsCertPath
    /// and --tlsKeyPath).
    #[arg(long = "tlsMode", default_value = "disabled")]
    tls_mode: String,
    #[arg(long = "tlsCertPath")]
    tls_cert_path: Option<std::path::PathBuf>,
    #[arg(long = "tlsKeyPath")]
    tls_key_path: Option<std::path::PathBuf>,
}

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let args = Args::parse();
    // SAFETY: see mqbroker: a zeroed sigset_t initialised by sigemptyset.
    let set = unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&raw mut set);
        libc::sigaddset(&raw mut set, libc::SIGINT);
        libc::sigaddset(&raw mut set, libc::SIGTERM);
        libc::pthread_sigmask(libc::SIG_BLOCK, &raw const set, std::ptr::null_mut());
        set
    };
    let bind = std::net::SocketAddr::new(args.bind_address, args.listen_port);
    let fail = |what: String| -> ! {
        eprintln!("mqnamesrv: {what}");
        std::process::exit(1);
    };
    let acl = args.acl_file.as_deref().map(|path| {
        let acl = ringmq_broker::acl::Acl::open(path).unwrap_or_else(|e| fail(e));
        if let Err(e) = acl.watch() {
            fail(format!("cannot watch {}: {e}", path.display()));
        }
        acl
    });
    let mode = ringmq_net::tls::TlsMode::parse(&args.tls_mode).unwrap_or_else(|| {
        fail(format!(
            "--tlsMode {}: not disabled, permissive or enforcing",
            args.tls_mode
        ))
    });
    let tls = match (mode, &args.tls_cert_path, &args.tls_key_path) {
        (ringmq_net::tls::TlsMode::Disabled, _, _) => ringmq_net::tls::ServerTls::disabled(),
        (mode, Some(cert), Some(key)) => ringmq_net::tls::ServerTls::load(mode, cert, key)
            .unwrap_or_else(|e| fail(e.to_string())),
        _ => fail("--tlsMode needs --tlsCertPath and --tlsKeyPath".into()),
    };
    let server = match NameServer::start(bind, acl.clone(), tls) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("mqnamesrv: {bind}: {e}");
            std::process::exit(1);
        }
    };
    let mut signal = 0;
    // SAFETY: `set` is initialised above.
    unsafe {
        libc::sigwait(&raw const set, &raw mut signal);
    }
    tracing::info!(signal, "stopping");
    server.stop();
    if let Some(acl) = acl {
        acl.stop();
    }
}

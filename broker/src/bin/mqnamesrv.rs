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
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        set
    };
    let bind = std::net::SocketAddr::new(args.bind_address, args.listen_port);
    let server = match NameServer::start(bind, None, ringmq_net::tls::ServerTls::disabled()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("mqnamesrv: {bind}: {e}");
            std::process::exit(1);
        }
    };
    let mut signal = 0;
    // SAFETY: `set` is initialised above.
    unsafe {
        libc::sigwait(&set, &mut signal);
    }
    tracing::info!(signal, "stopping");
    server.stop();
}

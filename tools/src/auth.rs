//! ACL credentials mqbench signs every request with (`--access-key`,
//! `--secret-key`), as RocketMQ clients do with `SessionCredentials`, and
//! the TLS its route lookups connect with (`--tls-trust`).

use std::sync::OnceLock;

use ringmq_net::tls::ClientTls;
use ringmq_net::RemotingCommand;

static CREDENTIALS: OnceLock<(String, String)> = OnceLock::new();
static TLS: OnceLock<ClientTls> = OnceLock::new();

/// Connects every later admin request over TLS. The first call wins.
pub fn set_tls(tls: ClientTls) {
    let _ = TLS.set(tls);
}

/// The TLS set by [`set_tls`], if any.
pub fn tls() -> Option<ClientTls> {
    TLS.get().cloned()
}

/// Signs every later request with these keys. The first call wins.
pub fn set_credentials(access_key: String, secret_key: String) {
    let _ = CREDENTIALS.set((access_key, secret_key));
}

/// The keys set by [`set_credentials`], if any.
pub fn credentials() -> Option<(String, String)> {
    CREDENTIALS.get().cloned()
}

/// `request`, signed when credentials are set.
pub fn signed(mut request: RemotingCommand) -> RemotingCommand {
    if let Some((ak, sk)) = CREDENTIALS.get() {
        ringmq_net::acl::sign(&mut request, ak, sk);
    }
    request
}

//! Topic routes and topic creation for mqbench, through the admin client
//! ([`crate::admin::Admin`]: the same route and cluster reading mqadmin
//! uses), blocking (set-up only, before the load starts).

use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use ringmq_net::header::CreateTopicRequestHeader;
use ringmq_net::{CommandHeader, RemotingCommand, RequestCode};

use crate::admin::Admin;

/// One queue of one broker, and where that broker listens.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct QueueRef {
    pub broker_name: String,
    pub addr: String,
    pub queue_id: i32,
}

/// An admin client signing and connecting as mqbench was told to
/// (`--access-key`, `--tls-trust`).
fn admin(namesrv: &str) -> Admin {
    Admin::new(namesrv, crate::auth::credentials()).with_tls(crate::auth::tls())
}

/// Write queues of `topic` on master brokers, in route order.
pub fn topic_queues(namesrv: &str, topic: &str) -> Result<Vec<QueueRef>> {
    let route = admin(namesrv).topic_route(topic)?;
    let mut queues = Vec::new();
    for q in route.queues.iter().filter(|q| q.perm & 2 != 0) {
        let Some(addr) = route.brokers.get(&q.broker_name).and_then(|b| b.master()) else {
            continue;
        };
        queues.extend((0..q.write_queue_nums).map(|queue_id| QueueRef {
            broker_name: q.broker_name.clone(),
            addr: addr.to_string(),
            queue_id,
        }));
    }
    if queues.is_empty() {
        bail!("the route of {topic} has no writable master queue");
    }
    Ok(queues)
}

/// Creates (or resizes) `topic` with `queues` queues on every master, then
/// waits until the name server routes it.
pub fn create_topic(namesrv: &str, topic: &str, queues: i32) -> Result<()> {
    let admin = admin(namesrv);
    let brokers = admin.cluster_info()?.masters(None);
    if brokers.is_empty() {
        bail!("no broker is registered with {namesrv}");
    }
    let header = CreateTopicRequestHeader::read_write(topic, queues);
    for (name, addr) in &brokers {
        let request =
            RemotingCommand::request(RequestCode::UPDATE_AND_CREATE_TOPIC, header.to_ext_fields());
        if let Err(e) = admin.invoke(addr, request) {
            bail!("creating {topic} on {name} ({addr}): {e:#}");
        }
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    let expected = brokers.len() * queues as usize;
    loop {
        let routed = topic_queues(namesrv, topic);
        if routed.as_ref().is_ok_and(|q| q.len() == expected) {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!(
                "{topic} was created on {brokers:?} but the name server routes {:?}, not {expected} queues",
                routed.map(|q| q.len())
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

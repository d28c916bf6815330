//! Name-server headers: GET_ROUTEINFO_BY_TOPIC (105), REGISTER_BROKER (103),
//! UNREGISTER_BROKER (104) (§8.2, §9.1, §9.2).

use super::command_header;

command_header! {
    /// GET_ROUTEINFO_BY_TOPIC (105).
    pub struct GetRouteInfoRequestHeader {
        /// Topic whose route is wanted.
        topic: String = "topic",
        /// Quote numeric `brokerAddrs` keys even for old client versions.
        accept_standard_json_only: Option<bool> = "acceptStandardJsonOnly",
    }
}

command_header! {
    /// REGISTER_BROKER (103). Body: RegisterBrokerBody JSON, or its zlib form when
    /// `compressed` is true.
    pub struct RegisterBrokerRequestHeader {
        /// Name of the broker group (master and slaves) this broker belongs to.
        broker_name: String = "brokerName",
        /// `ip:port` clients will use.
        broker_addr: String = "brokerAddr",
        /// Cluster the broker belongs to.
        cluster_name: String = "clusterName",
        /// `brokerIP2:haListenPort`.
        ha_server_addr: String = "haServerAddr",
        /// 0 = master.
        broker_id: i64 = "brokerId",
        /// Name server default 120 000 when absent.
        heartbeat_timeout_millis: Option<i64> = "heartbeatTimeoutMillis",
        /// Absence marks a pre-acting-master broker.
        enable_acting_master: Option<bool> = "enableActingMaster",
        // Java declares the next two as primitives with defaults (false, 0) and
        // therefore always sends them; optional here so an absent one decodes.
        /// Whether the body is in its zlib form (Java's default false).
        compressed: Option<bool> = "compressed",
        /// CRC32 of the body masked with `0x7FFF_FFFF`; 0 = unchecked.
        body_crc32: Option<i32> = "bodyCrc32",
    }
}

command_header! {
    /// Response of REGISTER_BROKER; both filled only for slaves whose master
    /// is alive.
    pub struct RegisterBrokerResponseHeader {
        /// HA address (`ip:port`) of the master the registering slave should replicate from.
        ha_server_addr: Option<String> = "haServerAddr",
        /// Client-facing address (`ip:port`) of that master.
        master_addr: Option<String> = "masterAddr",
    }
}

command_header! {
    /// UNREGISTER_BROKER (104), sent at broker shutdown.
    pub struct UnregisterBrokerRequestHeader {
        /// Name of the broker group the broker belongs to.
        broker_name: String = "brokerName",
        /// The broker's client-facing `ip:port`, as registered.
        broker_addr: String = "brokerAddr",
        /// Cluster the broker belongs to.
        cluster_name: String = "clusterName",
        /// The broker's id in its group; 0 = master.
        broker_id: i64 = "brokerId",
    }
}

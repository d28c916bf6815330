//! `mqadmin`: RocketMQ's admin CLI, with its command names and flags, for
//! RingMQ and any RocketMQ-protocol cluster. `mqadmin <command> --help`
//! lists a command's flags; `--json` prints JSON instead of RocketMQ's
//! text.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use ringmq_tools::admin::{
    cluster, group, message, now_ms, parse_time, progress, topic, Admin, Output,
};

#[derive(Parser)]
#[command(
    name = "mqadmin",
    version,
    about = "RocketMQ admin commands for RingMQ and any RocketMQ-protocol cluster"
)]
struct Cli {
    /// Name servers, `;`-separated (RocketMQ's -n).
    #[arg(
        short = 'n',
        long = "namesrvAddr",
        env = "NAMESRV_ADDR",
        global = true,
        default_value = "127.0.0.1:9876"
    )]
    namesrv: String,
    /// Print JSON instead of RocketMQ's text.
    #[arg(long, global = true)]
    json: bool,
    /// Report progress on stderr even when it is not a terminal.
    #[arg(long, global = true)]
    progress: bool,
    /// ACL access key (clusters with aclEnable=true).
    #[arg(long = "accessKey", env = "ROCKETMQ_ACCESS_KEY", global = true)]
    access_key: Option<String>,
    /// ACL secret key.
    #[arg(
        long = "secretKey",
        env = "ROCKETMQ_SECRET_KEY",
        global = true,
        hide_env_values = true
    )]
    secret_key: Option<String>,
    /// Connect over TLS (`tlsMode` permissive or enforcing), trusting the
    /// certificates in this PEM file: the broker's own or its CA's.
    #[arg(long = "tlsTrustCertPath", global = true)]
    tls_trust: Option<std::path::PathBuf>,
    #[command(subcommand)]
    command: Command,
}

fn parse_bool(s: &str) -> Result<bool, String> {
    Ok(s.trim().eq_ignore_ascii_case("true"))
}

/// RocketMQ's admin commands, by family (listed in `--help` in this order).
#[derive(Subcommand)]
enum Command {
    #[command(flatten)]
    Topic(TopicCommand),
    #[command(flatten)]
    Cluster(ClusterCommand),
    #[command(flatten)]
    Group(GroupCommand),
    #[command(flatten)]
    Connection(ConnectionCommand),
    #[command(flatten)]
    Query(QueryCommand),
    #[command(flatten)]
    Offset(OffsetCommand),
    #[command(flatten)]
    Message(MessageCommand),
    #[command(flatten)]
    Namesrv(NamesrvCommand),
}

/// Topic commands.
#[derive(Subcommand)]
enum TopicCommand {
    /// Update or create topic.
    #[command(name = "updateTopic")]
    UpdateTopic {
        #[arg(short = 'b', long = "brokerAddr", required_unless_present = "cluster")]
        broker: Option<String>,
        #[arg(short = 'c', long = "clusterName")]
        cluster: Option<String>,
        #[arg(short = 't', long = "topic")]
        topic: String,
        #[arg(short = 'r', long = "readQueueNums", default_value_t = 8)]
        read: i32,
        #[arg(short = 'w', long = "writeQueueNums", default_value_t = 8)]
        write: i32,
        #[arg(short = 'p', long = "perm", default_value_t = 6)]
        perm: i32,
        #[arg(short = 'o', long = "order", default_value = "false", value_parser = parse_bool, action = clap::ArgAction::Set)]
        order: bool,
        #[arg(short = 'u', long = "unit", default_value = "false", value_parser = parse_bool, action = clap::ArgAction::Set)]
        unit: bool,
        #[arg(short = 's', long = "hasUnitSub", default_value = "false", value_parser = parse_bool, action = clap::ArgAction::Set)]
        has_unit_sub: bool,
        #[arg(short = 'a', long = "attributes")]
        attributes: Option<String>,
    },
    /// Delete topic from broker and NameServer.
    #[command(name = "deleteTopic")]
    DeleteTopic {
        #[arg(short = 't', long = "topic")]
        topic: String,
        #[arg(short = 'c', long = "clusterName")]
        cluster: String,
    },
    /// Fetch all topic list from name server.
    #[command(name = "topicList")]
    TopicList {
        #[arg(short = 'c', long = "clusterModel")]
        cluster_model: bool,
    },
    /// Examine topic route info.
    #[command(name = "topicRoute")]
    TopicRoute {
        #[arg(short = 't', long = "topic")]
        topic: String,
        #[arg(short = 'l', long = "list")]
        list: bool,
    },
    /// Examine topic Status info.
    #[command(name = "topicStatus")]
    TopicStatus {
        #[arg(short = 't', long = "topic")]
        topic: String,
    },
}

/// Cluster and broker commands.
#[derive(Subcommand)]
enum ClusterCommand {
    /// List cluster infos (RingMQ shards grouped under their broker).
    #[command(name = "clusterList")]
    ClusterList {
        #[arg(short = 'c', long = "clusterName")]
        cluster: Option<String>,
        /// One row per shard, as the name server registers them.
        #[arg(long = "shards")]
        shards: bool,
        /// Print again every this many seconds, until interrupted.
        #[arg(short = 'i', long = "interval")]
        interval: Option<u64>,
    },
    /// Fetch broker runtime status data.
    #[command(name = "brokerStatus")]
    BrokerStatus {
        #[arg(short = 'b', long = "brokerAddr", required_unless_present = "cluster")]
        broker: Option<String>,
        #[arg(short = 'c', long = "clusterName")]
        cluster: Option<String>,
    },
    /// Get broker config by cluster or special broker.
    #[command(name = "getBrokerConfig", alias = "brokerConfig")]
    GetBrokerConfig {
        #[arg(short = 'b', long = "brokerAddr", required_unless_present = "cluster")]
        broker: Option<String>,
        #[arg(short = 'c', long = "clusterName")]
        cluster: Option<String>,
    },
    /// Update broker's config.
    #[command(name = "updateBrokerConfig")]
    UpdateBrokerConfig {
        #[arg(short = 'b', long = "brokerAddr", required_unless_present = "cluster")]
        broker: Option<String>,
        #[arg(short = 'c', long = "clusterName")]
        cluster: Option<String>,
        #[arg(short = 'k', long = "key")]
        key: String,
        #[arg(short = 'v', long = "value")]
        value: String,
    },
}

/// Consumer group commands.
#[derive(Subcommand)]
enum GroupCommand {
    /// Update or create subscription group.
    #[command(name = "updateSubGroup")]
    UpdateSubGroup {
        #[arg(short = 'b', long = "brokerAddr", required_unless_present = "cluster")]
        broker: Option<String>,
        #[arg(short = 'c', long = "clusterName")]
        cluster: Option<String>,
        #[arg(short = 'g', long = "groupName")]
        group: String,
        #[arg(short = 's', long = "consumeEnable", default_value = "true", value_parser = parse_bool, action = clap::ArgAction::Set)]
        consume_enable: bool,
        #[arg(short = 'm', long = "consumeFromMinEnable", default_value = "false", value_parser = parse_bool, action = clap::ArgAction::Set)]
        consume_from_min_enable: bool,
        #[arg(short = 'd', long = "consumeBroadcastEnable", default_value = "false", value_parser = parse_bool, action = clap::ArgAction::Set)]
        consume_broadcast_enable: bool,
        #[arg(short = 'o', long = "consumeMessageOrderly", default_value = "false", value_parser = parse_bool, action = clap::ArgAction::Set)]
        consume_message_orderly: bool,
        #[arg(short = 'q', long = "retryQueueNums", default_value_t = 1)]
        retry_queue_nums: i32,
        #[arg(short = 'r', long = "retryMaxTimes", default_value_t = 16)]
        retry_max_times: i32,
        #[arg(short = 'i', long = "brokerId", default_value_t = 0)]
        broker_id: i64,
        #[arg(
            short = 'w',
            long = "whichBrokerWhenConsumeSlowly",
            default_value_t = 1
        )]
        which_broker_when_consume_slowly: i64,
        #[arg(short = 'a', long = "notifyConsumerIdsChanged", default_value = "true", value_parser = parse_bool, action = clap::ArgAction::Set)]
        notify_consumer_ids_changed: bool,
    },
    /// Delete subscription group from broker.
    #[command(name = "deleteSubGroup")]
    DeleteSubGroup {
        #[arg(short = 'b', long = "brokerAddr", required_unless_present = "cluster")]
        broker: Option<String>,
        #[arg(short = 'c', long = "clusterName")]
        cluster: Option<String>,
        #[arg(short = 'g', long = "groupName")]
        group: String,
        #[arg(short = 'r', long = "removeOffset", default_value = "false", value_parser = parse_bool, action = clap::ArgAction::Set)]
        remove_offset: bool,
    },
    /// Query consumer's progress, speed.
    #[command(name = "consumerProgress")]
    ConsumerProgress {
        #[arg(short = 'g', long = "groupName")]
        group: Option<String>,
        #[arg(short = 't', long = "topicName")]
        topic: Option<String>,
        #[arg(short = 'c', long = "cluster")]
        cluster: Option<String>,
    },
}

/// Connection commands.
#[derive(Subcommand)]
enum ConnectionCommand {
    /// Query consumer's socket connection, client version and subscription.
    #[command(name = "consumerConnection")]
    ConsumerConnection {
        #[arg(short = 'g', long = "consumerGroup")]
        group: String,
        #[arg(short = 'b', long = "brokerAddr")]
        broker: Option<String>,
    },
    /// Query producer's socket connection and client version.
    #[command(name = "producerConnection")]
    ProducerConnection {
        #[arg(short = 'g', long = "producerGroup")]
        group: String,
        #[arg(short = 't', long = "topic")]
        topic: String,
    },
}

/// Message queries (`queryMsgBy*`), by what they look a message up by.
#[derive(Subcommand)]
enum QueryCommand {
    /// Query Message by Id.
    #[command(name = "queryMsgById")]
    Id {
        #[arg(short = 't', long = "topic")]
        topic: String,
        #[arg(short = 'i', long = "msgId")]
        msg_id: String,
        /// Print the body too (RocketMQ's -f names a charset; UTF-8 here).
        #[arg(short = 'f', long = "bodyFormat")]
        body_format: Option<String>,
    },
    /// Query Message by Key.
    #[command(name = "queryMsgByKey")]
    Key {
        #[arg(short = 't', long = "topic")]
        topic: String,
        #[arg(short = 'k', long = "msgKey")]
        key: String,
        #[arg(short = 'b', long = "beginTimestamp", default_value_t = 0)]
        begin: i64,
        #[arg(short = 'e', long = "endTimestamp", default_value_t = i64::MAX)]
        end: i64,
        #[arg(short = 'm', long = "maxNum", default_value_t = 64)]
        max_num: i32,
    },
    /// Query Message by offset.
    #[command(name = "queryMsgByOffset")]
    Offset {
        #[arg(short = 't', long = "topic")]
        topic: String,
        #[arg(short = 'b', long = "brokerName")]
        broker_name: String,
        #[arg(short = 'i', long = "queueId")]
        queue_id: i32,
        #[arg(short = 'o', long = "offset")]
        offset: i64,
        #[arg(short = 'f', long = "bodyFormat")]
        body_format: Option<String>,
    },
    /// Query Message by Unique key.
    #[command(name = "queryMsgByUniqueKey")]
    UniqueKey {
        #[arg(short = 'i', long = "msgId")]
        msg_id: String,
        #[arg(short = 't', long = "topic")]
        topic: String,
        #[arg(short = 'a', long = "showAll")]
        show_all: bool,
    },
}

/// Offset commands.
#[derive(Subcommand)]
enum OffsetCommand {
    /// Reset consumer offset by timestamp(without client restart).
    #[command(name = "resetOffsetByTime")]
    ResetOffsetByTime {
        #[arg(short = 'g', long = "group")]
        group: String,
        #[arg(short = 't', long = "topic")]
        topic: String,
        /// `now`, milliseconds, or yyyy-MM-dd#HH:mm:ss:SSS.
        #[arg(short = 's', long = "timestamp")]
        timestamp: String,
        #[arg(short = 'f', long = "force", default_value = "true", value_parser = parse_bool, action = clap::ArgAction::Set)]
        force: bool,
        /// With -q: reset only this broker's queue (an address).
        #[arg(short = 'b', long = "broker", requires = "queue")]
        broker: Option<String>,
        #[arg(short = 'q', long = "queue", requires = "broker")]
        queue: Option<i32>,
        #[arg(short = 'o', long = "offset", requires = "queue")]
        offset: Option<i64>,
    },
}

/// Message commands: send, consume, print.
#[derive(Subcommand)]
enum MessageCommand {
    /// Send a message.
    #[command(name = "sendMessage")]
    SendMessage {
        #[arg(short = 't', long = "topic")]
        topic: String,
        #[arg(short = 'p', long = "body")]
        body: String,
        #[arg(short = 'k', long = "key")]
        key: Option<String>,
        #[arg(short = 'c', long = "tags")]
        tags: Option<String>,
        #[arg(short = 'b', long = "broker")]
        broker: Option<String>,
        #[arg(short = 'i', long = "qid")]
        qid: Option<i32>,
    },
    /// Consume message.
    #[command(name = "consumeMessage")]
    ConsumeMessage {
        #[arg(short = 't', long = "topic")]
        topic: String,
        #[arg(short = 'b', long = "brokerName")]
        broker_name: Option<String>,
        #[arg(short = 'i', long = "queueId", requires = "broker_name")]
        queue_id: Option<i32>,
        #[arg(short = 'o', long = "offset", requires = "queue_id")]
        offset: Option<i64>,
        #[arg(short = 's', long = "beginTimestamp")]
        begin: Option<String>,
        #[arg(short = 'e', long = "endTimestamp")]
        end: Option<String>,
        #[arg(short = 'c', long = "MessageNumber", default_value_t = 128)]
        count: u64,
    },
    /// Print Message Detail.
    #[command(name = "printMsg")]
    PrintMsg {
        #[arg(short = 't', long = "topic")]
        topic: String,
        #[arg(short = 's', long = "subExpression", default_value = "*")]
        sub: String,
        #[arg(short = 'b', long = "beginTimestamp")]
        begin: Option<String>,
        #[arg(short = 'e', long = "endTimestamp")]
        end: Option<String>,
        #[arg(short = 'd', long = "printBody", default_value = "true", value_parser = parse_bool, action = clap::ArgAction::Set)]
        print_body: bool,
    },
}

/// Name server commands.
#[derive(Subcommand)]
enum NamesrvCommand {
    /// Get configs of name server.
    #[command(name = "getNamesrvConfig")]
    GetNamesrvConfig,
    /// Wipe write perm of broker in all name server you defined in the -n param.
    #[command(name = "wipeWritePerm")]
    WipeWritePerm {
        #[arg(short = 'b', long = "brokerName")]
        broker_name: String,
    },
    /// Add write perm of broker in all name server you defined in the -n param.
    #[command(name = "addWritePerm")]
    AddWritePerm {
        #[arg(short = 'b', long = "brokerName")]
        broker_name: String,
    },
}

fn time(text: Option<&str>) -> anyhow::Result<Option<i64>> {
    text.map(|t| parse_time(t, now_ms())).transpose()
}

fn run(cli: Cli, out: &mut Output) -> anyhow::Result<()> {
    let credentials = match (cli.access_key, cli.secret_key) {
        (Some(a), Some(s)) => Some((a, s)),
        (None, None) => None,
        _ => anyhow::bail!("give both --accessKey and --secretKey"),
    };
    let tls = cli
        .tls_trust
        .as_deref()
        .map(ringmq_net::tls::ClientTls::load)
        .transpose()?;
    let admin = Admin::new(&cli.namesrv, credentials).with_tls(tls);
    match cli.command {
        Command::Topic(c) => run_topic_command(&admin, out, c),
        Command::Cluster(c) => run_cluster_command(&admin, out, c),
        Command::Group(c) => run_group_command(&admin, out, c),
        Command::Connection(c) => run_connection_command(&admin, out, c),
        Command::Query(c) => run_query_command(&admin, out, c),
        Command::Offset(c) => run_offset_command(&admin, out, c),
        Command::Message(c) => run_message_command(&admin, out, c),
        Command::Namesrv(c) => run_namesrv_command(&admin, out, c),
    }
}

fn run_topic_command(admin: &Admin, out: &mut Output, command: TopicCommand) -> anyhow::Result<()> {
    use TopicCommand as C;
    match command {
        C::UpdateTopic {
            broker,
            cluster,
            topic,
            read,
            write,
            perm,
            order,
            unit,
            has_unit_sub,
            attributes,
        } => {
            let spec = topic::TopicSpec {
                topic,
                read_queue_nums: read,
                write_queue_nums: write,
                perm,
                order,
                sys_flag: i32::from(unit) | (i32::from(has_unit_sub) << 1),
                attributes,
            };
            topic::update_topic(admin, out, &spec, broker.as_deref(), cluster.as_deref())
        }
        C::DeleteTopic { topic, cluster } => topic::delete_topic(admin, out, &topic, &cluster),
        C::TopicList { cluster_model } => topic::topic_list(admin, out, cluster_model),
        C::TopicRoute { topic, list } => topic::topic_route(admin, out, &topic, list),
        C::TopicStatus { topic } => topic::topic_status(admin, out, &topic),
    }
}

fn run_cluster_command(
    admin: &Admin,
    out: &mut Output,
    command: ClusterCommand,
) -> anyhow::Result<()> {
    use ClusterCommand as C;
    match command {
        C::ClusterList {
            cluster,
            shards,
            interval,
        } => loop {
            cluster::cluster_list(admin, out, cluster.as_deref(), shards)?;
            match interval {
                Some(secs) => {
                    out.out.flush()?;
                    std::thread::sleep(std::time::Duration::from_secs(secs.max(1)));
                }
                None => return Ok(()),
            }
        },
        C::BrokerStatus { broker, cluster } => {
            cluster::broker_status(admin, out, broker.as_deref(), cluster.as_deref())
        }
        C::GetBrokerConfig { broker, cluster } => {
            cluster::get_broker_config(admin, out, broker.as_deref(), cluster.as_deref())
        }
        C::UpdateBrokerConfig {
            broker,
            cluster,
            key,
            value,
        } => cluster::update_broker_config(
            admin,
            out,
            broker.as_deref(),
            cluster.as_deref(),
            &key,
            &value,
        ),
    }
}

fn run_group_command(admin: &Admin, out: &mut Output, command: GroupCommand) -> anyhow::Result<()> {
    use GroupCommand as C;
    match command {
        C::UpdateSubGroup {
            broker,
            cluster,
            group,
            consume_enable,
            consume_from_min_enable,
            consume_broadcast_enable,
            consume_message_orderly,
            retry_queue_nums,
            retry_max_times,
            broker_id,
            which_broker_when_consume_slowly,
            notify_consumer_ids_changed,
        } => {
            let spec = group::GroupSpec {
                group_name: group,
                consume_enable,
                consume_from_min_enable,
                consume_broadcast_enable,
                consume_message_orderly,
                retry_queue_nums,
                retry_max_times,
                broker_id,
                which_broker_when_consume_slowly,
                notify_consumer_ids_changed_enable: notify_consumer_ids_changed,
            };
            group::update_sub_group(admin, out, &spec, broker.as_deref(), cluster.as_deref())
        }
        C::DeleteSubGroup {
            broker,
            cluster,
            group,
            remove_offset,
        } => group::delete_sub_group(
            admin,
            out,
            &group,
            broker.as_deref(),
            cluster.as_deref(),
            remove_offset,
        ),
        C::ConsumerProgress {
            group,
            topic,
            cluster,
        } => group::consumer_progress(
            admin,
            out,
            group.as_deref(),
            topic.as_deref(),
            cluster.as_deref(),
        ),
    }
}

fn run_connection_command(
    admin: &Admin,
    out: &mut Output,
    command: ConnectionCommand,
) -> anyhow::Result<()> {
    match command {
        ConnectionCommand::ConsumerConnection { group, broker } => {
            group::consumer_connection(admin, out, &group, broker.as_deref())
        }
        ConnectionCommand::ProducerConnection { group, topic } => {
            group::producer_connection(admin, out, &group, &topic)
        }
    }
}

fn run_query_command(admin: &Admin, out: &mut Output, command: QueryCommand) -> anyhow::Result<()> {
    use QueryCommand as C;
    match command {
        C::Id {
            topic,
            msg_id,
            body_format,
        } => message::query_msg_by_id(admin, out, &topic, &msg_id, body_format.is_some()),
        C::Key {
            topic,
            key,
            begin,
            end,
            max_num,
        } => message::query_msg_by_key(admin, out, &topic, &key, begin, end, max_num),
        C::Offset {
            topic,
            broker_name,
            queue_id,
            offset,
            body_format,
        } => message::query_msg_by_offset(
            admin,
            out,
            &topic,
            &broker_name,
            queue_id,
            offset,
            body_format.is_some(),
        ),
        C::UniqueKey {
            msg_id,
            topic,
            show_all,
        } => message::query_msg_by_unique_key(admin, out, &topic, &msg_id, show_all),
    }
}

fn run_offset_command(
    admin: &Admin,
    out: &mut Output,
    command: OffsetCommand,
) -> anyhow::Result<()> {
    let OffsetCommand::ResetOffsetByTime {
        group,
        topic,
        timestamp,
        force,
        broker,
        queue,
        offset,
    } = command;
    let reset = group::OffsetReset {
        group: &group,
        topic: &topic,
        time_text: &timestamp,
        timestamp: parse_time(&timestamp, now_ms())?,
        force,
    };
    let one_queue = match (broker.as_deref(), queue) {
        (Some(b), Some(q)) if q >= 0 => Some((b, q, offset)),
        _ => None,
    };
    group::reset_offset_by_time(admin, out, &reset, one_queue)
}

fn run_message_command(
    admin: &Admin,
    out: &mut Output,
    command: MessageCommand,
) -> anyhow::Result<()> {
    use MessageCommand as C;
    match command {
        C::SendMessage {
            topic,
            body,
            key,
            tags,
            broker,
            qid,
        } => {
            let spec = message::SendSpec {
                topic: &topic,
                body: &body,
                keys: key.as_deref(),
                tags: tags.as_deref(),
                broker_name: broker.as_deref(),
                queue_id: qid,
            };
            message::send_message(admin, out, &spec)
        }
        C::ConsumeMessage {
            topic,
            broker_name,
            queue_id,
            offset,
            begin,
            end,
            count,
        } => {
            let spec = message::ReadSpec {
                topic: &topic,
                sub: "*",
                begin: time(begin.as_deref())?,
                end: time(end.as_deref())?,
                print_body: true,
                limit: Some(count),
                consume_banner: true,
            };
            let queue = broker_name.as_deref().map(|b| (b, queue_id, offset));
            message::consume_message(admin, out, &spec, queue)
        }
        C::PrintMsg {
            topic,
            sub,
            begin,
            end,
            print_body,
        } => {
            let spec = message::ReadSpec {
                topic: &topic,
                sub: &sub,
                begin: time(begin.as_deref())?,
                end: time(end.as_deref())?,
                print_body,
                limit: None,
                consume_banner: false,
            };
            message::print_msg(admin, out, &spec)
        }
    }
}

fn run_namesrv_command(
    admin: &Admin,
    out: &mut Output,
    command: NamesrvCommand,
) -> anyhow::Result<()> {
    match command {
        NamesrvCommand::GetNamesrvConfig => cluster::get_namesrv_config(admin, out),
        NamesrvCommand::WipeWritePerm { broker_name } => {
            cluster::write_perm(admin, out, &broker_name, false)
        }
        NamesrvCommand::AddWritePerm { broker_name } => {
            cluster::write_perm(admin, out, &broker_name, true)
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if cli.progress {
        progress::force_lines();
    }
    let stdout = std::io::stdout();
    let mut lock = stdout.lock();
    let mut out = Output::new(cli.json, &mut lock);
    let result = run(cli, &mut out);
    let _ = out.out.flush();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // A reader that stops early (`| head`) is not a failure.
        Err(e)
            if e.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) =>
        {
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("mqadmin: {e:#}");
            ExitCode::FAILURE
        }
    }
}

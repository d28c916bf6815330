//! END_TRANSACTION (37) and CHECK_TRANSACTION_STATE (39) headers (§9.12, §8.4).

use super::command_header;

command_header! {
    /// END_TRANSACTION (37); sent oneway by the Java producer, `remark` may carry
    /// an exception text.
    pub struct EndTransactionRequestHeader {
        /// Topic of the half message, when the producer sends it.
        topic: Option<String> = "topic",
        /// Must equal the half message's `PGROUP`.
        producer_group: String = "producerGroup",
        /// Queue offset of the half message.
        tran_state_table_offset: i64 = "tranStateTableOffset",
        /// Commit-log offset of the half message.
        commit_log_offset: i64 = "commitLogOffset",
        /// 0 unknown (ignored), 8 commit, 12 rollback
        /// (`crate::message::sys_flag` transaction values).
        commit_or_rollback: i32 = "commitOrRollback",
        /// `true` when answering CHECK_TRANSACTION_STATE rather than ending the
        /// transaction on the producer's own.
        from_transaction_check: Option<bool> = "fromTransactionCheck",
        /// The half message's id as the producer's `SendResult` reports it (its
        /// UNIQ_KEY for Java producers).
        msg_id: String = "msgId",
        /// Transaction id of the half message (`__transactionId__`).
        transaction_id: Option<String> = "transactionId",
        /// Name of the broker the client addressed (RocketMQ's
        /// `RpcRequestHeader.bname`, used to route static-topic requests); optional.
        broker_name: Option<String> = "bname",
    }
}

command_header! {
    /// CHECK_TRANSACTION_STATE (39), broker → producer, oneway. Body: the stored
    /// half message with its real topic and queue restored.
    pub struct CheckTransactionStateRequestHeader {
        /// Real topic of the half message.
        topic: Option<String> = "topic",
        /// Queue offset of the half message; the producer echoes it in END_TRANSACTION.
        tran_state_table_offset: i64 = "tranStateTableOffset",
        /// Commit-log offset of the half message; the producer echoes it in END_TRANSACTION.
        commit_log_offset: i64 = "commitLogOffset",
        /// The UNIQ_KEY.
        msg_id: Option<String> = "msgId",
        /// Transaction id of the half message (`__transactionId__`).
        transaction_id: Option<String> = "transactionId",
        /// Offset message id of the half message (`crate::message::id`).
        offset_msg_id: Option<String> = "offsetMsgId",
        /// Name of the broker the client addressed (RocketMQ's
        /// `RpcRequestHeader.bname`, used to route static-topic requests); optional.
        broker_name: Option<String> = "bname",
    }
}

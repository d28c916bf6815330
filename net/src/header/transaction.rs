//! END_TRANSACTION (37) and CHECK_TRANSACTION_STATE (39) headers (§9.12, §8.4).

use super::command_header;

command_header! {
    /// END_TRANSACTION (37); sent oneway by the Java producer, `remark` may carry
    /// an exception text.
    pub struct EndTransactionRequestHeader {
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
        from_transaction_check: Option<bool> = "fromTransactionCheck",
        msg_id: String = "msgId",
        transaction_id: Option<String> = "transactionId",
        broker_name: Option<String> = "bname",
    }
}

command_header! {
    /// CHECK_TRANSACTION_STATE (39), broker → producer, oneway. Body: the stored
    /// half message with its real topic and queue restored.
    pub struct CheckTransactionStateRequestHeader {
        topic: Option<String> = "topic",
        tran_state_table_offset: i64 = "tranStateTableOffset",
        commit_log_offset: i64 = "commitLogOffset",
        /// The UNIQ_KEY.
        msg_id: Option<String> = "msgId",
        transaction_id: Option<String> = "transactionId",
        offset_msg_id: Option<String> = "offsetMsgId",
        broker_name: Option<String> = "bname",
    }
}

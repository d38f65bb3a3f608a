//! The consumer's context: group membership changes logged (they explain
//! pauses in the stream), authentication/TLS failures kept (they explain
//! connection errors), and every assigned partition started where the
//! checkpoint continues.

use std::collections::BTreeMap;

use rdkafka::consumer::{Consumer, ConsumerContext, Rebalance};
use rdkafka::error::KafkaError;
use rdkafka::{ClientContext, Offset, TopicPartitionList};

use super::PartitionOffsets;

/// Logs group membership changes, which explain pauses in the stream,
/// keeps authentication/TLS failures to explain connection errors, and
/// starts every assigned partition where the checkpoint continues.
#[derive(Default)]
pub struct SourceContext {
    pub(super) security: crate::kafka::SecurityErrors,
    /// Per partition, where it continues when it is assigned here: set by
    /// the engine from the checkpoint, raised by every commit. Partitions
    /// absent from it start at their group offsets, or `starting_offsets`.
    resume: std::sync::Mutex<PartitionOffsets>,
}

impl SourceContext {
    pub(super) fn resume_book(&self) -> std::sync::MutexGuard<'_, PartitionOffsets> {
        // The book holds plain offsets: a panic elsewhere cannot leave it
        // half-updated, so a poisoned lock is still a valid one.
        self.resume.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sets each partition of an assignment the book knows to its offset.
    fn start_from_checkpoint(&self, topic_partitions: &mut TopicPartitionList) {
        let book = self.resume_book();
        let starts: Vec<(String, i32, i64)> = topic_partitions
            .elements()
            .iter()
            .filter_map(|e| {
                let at = book.get(&e.partition())?;
                Some((e.topic().to_string(), e.partition(), *at))
            })
            .collect();
        drop(book);
        for (topic, partition, at) in &starts {
            if let Err(e) =
                topic_partitions.set_partition_offset(topic, *partition, Offset::Offset(*at))
            {
                tracing::warn!(partition, error = %e, "could not start the partition at its checkpoint end");
            }
        }
        if !starts.is_empty() {
            let starts: BTreeMap<i32, i64> = starts.iter().map(|(_, p, at)| (*p, *at)).collect();
            tracing::info!(?starts, "partitions start where the checkpoint continues");
        }
    }
}

impl ClientContext for SourceContext {
    fn error(&self, error: KafkaError, reason: &str) {
        self.security.error(error, reason);
    }
}

impl ConsumerContext for SourceContext {
    /// librdkafka's rebalance, with the offsets of the assigned partitions
    /// set from the checkpoint first: a partition then never starts where
    /// the group offsets say (they may be gone: deleted, expired, a new
    /// `group_id`) or at `starting_offsets`, if the checkpoint knows better.
    fn rebalance(
        &self,
        consumer: &rdkafka::consumer::BaseConsumer<Self>,
        err: rdkafka::types::RDKafkaRespErr,
        topic_partitions: &mut TopicPartitionList,
    ) {
        use rdkafka::consumer::RebalanceProtocol;
        use rdkafka::types::RDKafkaRespErr;
        let cooperative = matches!(
            consumer.rebalance_protocol(),
            RebalanceProtocol::Cooperative
        );
        let outcome = match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                self.pre_rebalance(consumer, &Rebalance::Assign(topic_partitions));
                self.start_from_checkpoint(topic_partitions);
                if cooperative {
                    consumer.incremental_assign(topic_partitions)
                } else {
                    consumer.assign(topic_partitions)
                }
            }
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                self.pre_rebalance(consumer, &Rebalance::Revoke(topic_partitions));
                if cooperative {
                    consumer.incremental_unassign(topic_partitions)
                } else {
                    consumer.unassign()
                }
            }
            other => {
                let error = KafkaError::Rebalance(other.into());
                self.pre_rebalance(consumer, &Rebalance::Error(error));
                consumer.unassign()
            }
        };
        if let Err(e) = outcome {
            tracing::warn!(error = %e, "applying the rebalance failed");
        }
    }

    fn pre_rebalance(
        &self,
        _consumer: &rdkafka::consumer::BaseConsumer<Self>,
        rebalance: &Rebalance<'_>,
    ) {
        match rebalance {
            Rebalance::Assign(tpl) => {
                tracing::info!(partitions = ?partitions(tpl), "partitions assigned")
            }
            Rebalance::Revoke(tpl) => {
                tracing::info!(partitions = ?partitions(tpl), "partitions revoked")
            }
            Rebalance::Error(e) => tracing::warn!(error = %e, "rebalance error"),
        }
    }

    /// The outcome of an asynchronous group-offset commit (see
    /// `KafkaSource::commit`): a failure only delays the mirror.
    fn commit_callback(
        &self,
        result: rdkafka::error::KafkaResult<()>,
        offsets: &TopicPartitionList,
    ) {
        if let Err(e) = result {
            tracing::warn!(partitions = ?partitions(offsets), error = %e, "group offset commit failed; the checkpoint has the batch");
        }
    }
}

/// The partition numbers of a list, for the logs: which partitions an
/// instance holds is what an operator of several instances asks first.
fn partitions(list: &TopicPartitionList) -> Vec<i32> {
    list.elements().iter().map(|e| e.partition()).collect()
}

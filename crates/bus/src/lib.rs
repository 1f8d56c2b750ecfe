//! Bulwark's event bus: the gateway publishes every event here without ever waiting, and
//! subscribers (the store writer, the detectors) consume them from their own bounded
//! queue. A full queue sheds the event for that subscriber and counts it: a slow consumer
//! costs events, never request latency.
//!
//! [`EventBus`] is the in-process implementation of [`Publish`]; a NATS JetStream one will
//! implement the same trait for multi-node deployments. [`StoreWriter`] drains a
//! subscription into a [`bulwark_store::Store`] in batches. [`AlertBus`] carries the
//! detectors' alerts to whoever listens.

mod alerts;
mod bus;
mod writer;

pub use crate::{
    alerts::AlertBus,
    bus::{BusStats, EventBus, Publish, Subscription},
    writer::{StoreWriter, WriterStats},
};

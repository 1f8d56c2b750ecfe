use std::sync::{
    Arc,
    atomic::{AtomicU64, Ordering},
};

use bulwark_core::Event;
use parking_lot::RwLock;
use tokio::sync::mpsc;

/// Something events can be published to without waiting.
pub trait Publish: Send + Sync + std::fmt::Debug {
    /// Hands `event` to every subscriber that has room; never blocks, never fails the
    /// caller. Sheds (and counts) the event for subscribers whose queue is full.
    fn publish(&self, event: Event);
}

#[derive(Debug)]
struct Subscriber {
    name: &'static str,
    tx: mpsc::Sender<Arc<Event>>,
    dropped: Arc<AtomicU64>,
}

/// The in-process bus: one bounded queue per subscriber.
#[derive(Debug)]
pub struct EventBus {
    capacity: usize,
    subscribers: RwLock<Vec<Subscriber>>,
    published: AtomicU64,
    /// Events published while no subscriber was attached, or after `close`.
    unrouted: AtomicU64,
}

/// The receiving end of one subscriber's queue.
#[derive(Debug)]
pub struct Subscription {
    name: &'static str,
    rx: mpsc::Receiver<Arc<Event>>,
}

/// A snapshot of the bus's counters, for metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BusStats {
    pub published: u64,
    /// Per subscriber: name, events waiting in its queue, events shed because it was full.
    pub subscribers: Vec<(&'static str, usize, u64)>,
    pub unrouted: u64,
}

impl BusStats {
    /// Events shed across all subscribers.
    pub fn dropped(&self) -> u64 {
        self.subscribers.iter().map(|s| s.2).sum()
    }

    /// The deepest subscriber queue.
    pub fn depth(&self) -> usize {
        self.subscribers.iter().map(|s| s.1).max().unwrap_or(0)
    }
}

impl EventBus {
    /// A bus whose subscribers each queue at most `capacity` events.
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            subscribers: RwLock::new(Vec::new()),
            published: AtomicU64::new(0),
            unrouted: AtomicU64::new(0),
        }
    }

    /// Adds a subscriber. Subscribe before publishing starts: events published earlier are
    /// not replayed.
    pub fn subscribe(&self, name: &'static str) -> Subscription {
        self.subscribe_with_capacity(name, self.capacity)
    }

    /// Adds a subscriber whose queue holds `capacity` events rather than the bus's
    /// default.
    pub fn subscribe_with_capacity(&self, name: &'static str, capacity: usize) -> Subscription {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        self.subscribers.write().push(Subscriber {
            name,
            tx,
            dropped: Arc::default(),
        });
        Subscription { name, rx }
    }

    /// Detaches every subscriber: their queues end once drained. Publishing afterwards
    /// only counts the event as unrouted. Used on shutdown, after the last request.
    pub fn close(&self) {
        self.subscribers.write().clear();
    }

    /// The bus's counters now.
    pub fn stats(&self) -> BusStats {
        let subscribers = self
            .subscribers
            .read()
            .iter()
            .map(|s| {
                let depth = s.tx.max_capacity() - s.tx.capacity();
                (s.name, depth, s.dropped.load(Ordering::Relaxed))
            })
            .collect();
        BusStats {
            published: self.published.load(Ordering::Relaxed),
            subscribers,
            unrouted: self.unrouted.load(Ordering::Relaxed),
        }
    }
}

impl Publish for EventBus {
    fn publish(&self, event: Event) {
        self.published.fetch_add(1, Ordering::Relaxed);
        let subscribers = self.subscribers.read();
        if subscribers.is_empty() {
            self.unrouted.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let event = Arc::new(event);
        for s in subscribers.iter() {
            if s.tx.try_send(Arc::clone(&event)).is_err() {
                s.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

impl Subscription {
    /// The subscriber's name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The next event; `None` once the bus is closed and the queue drained.
    pub async fn recv(&mut self) -> Option<Arc<Event>> {
        self.rx.recv().await
    }

    /// Moves up to `limit` queued events into `buf` without waiting; returns how many.
    pub fn drain_into(&mut self, buf: &mut Vec<Arc<Event>>, limit: usize) -> usize {
        let mut n = 0;
        while n < limit {
            match self.rx.try_recv() {
                Ok(event) => {
                    buf.push(event);
                    n += 1;
                }
                Err(_) => break,
            }
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bulwark_core::{EventBody, KeyCreated};

    fn event() -> Event {
        Event::new(
            None,
            None,
            None,
            EventBody::KeyCreated(KeyCreated {
                name: None,
                models: vec![],
                rpm: None,
                tpm: None,
            }),
        )
    }

    #[tokio::test]
    async fn full_queue_sheds_and_counts_without_blocking() {
        let bus = EventBus::new(2);
        let mut sub = bus.subscribe("writer");
        for _ in 0..5 {
            bus.publish(event());
        }
        let stats = bus.stats();
        assert_eq!(stats.published, 5);
        assert_eq!(stats.depth(), 2);
        assert_eq!(stats.dropped(), 3);
        assert!(sub.recv().await.is_some());
        assert!(sub.recv().await.is_some());
        bus.close();
        assert!(
            sub.recv().await.is_none(),
            "closed bus ends the subscription once drained"
        );
    }

    #[tokio::test]
    async fn every_subscriber_gets_every_event() {
        let bus = EventBus::new(8);
        let mut a = bus.subscribe("a");
        let mut b = bus.subscribe("b");
        let e = event();
        bus.publish(e.clone());
        assert_eq!(a.recv().await.unwrap().id, e.id);
        assert_eq!(b.recv().await.unwrap().id, e.id);
    }

    #[test]
    fn publishing_without_subscribers_counts_unrouted() {
        let bus = EventBus::new(8);
        bus.publish(event());
        assert_eq!(bus.stats().unrouted, 1);
    }
}

//! The bus in memory, for the embedded mode: the same contract as RabbitMQ (competing
//! consumers, bounded prefetch, unsettled deliveries tracked per consumer and requeued when the
//! delivery or its consumer is dropped, a delivery limit, a dead-letter queue). Nothing
//! survives the process, which is what the embedded mode promises.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use tokio::sync::Notify;

use crate::delivery::{Outcome, RawDelivery, RawSource, Settle};
use crate::{
    Bus, BusError, DEFAULT_DELIVERY_LIMIT, DeadLetters, Envelope, QueueKind, Subscription, Topology,
};

/// The in-process bus. Cloning shares the queues.
#[derive(Clone)]
pub struct InProcessBus {
    events: Arc<Queue>,
    control: Arc<Queue>,
    dead: Arc<Queue>,
}

impl Default for InProcessBus {
    fn default() -> Self {
        Self::new()
    }
}

impl InProcessBus {
    pub fn new() -> Self {
        Self::with_delivery_limit(DEFAULT_DELIVERY_LIMIT)
    }

    /// A bus whose work queues dead-letter a message returned more than `limit` times.
    pub fn with_delivery_limit(limit: u32) -> Self {
        let names = Topology::new("in-process");
        let dead = Queue::new(names.dead_queue(), None);
        let work = |kind| Queue::new(names.queue(kind), Some((dead.clone(), limit)));
        Self {
            events: work(QueueKind::Events),
            control: work(QueueKind::Control),
            dead,
        }
    }

    fn queue(&self, kind: QueueKind) -> &Arc<Queue> {
        match kind {
            QueueKind::Events => &self.events,
            QueueKind::Control => &self.control,
        }
    }

    /// Puts bytes as they are on the queue of `kind`, bypassing the typed [`Envelope`]: what a
    /// foreign or newer publisher could send. For tests and for replaying dead letters.
    pub fn publish_raw(&self, kind: QueueKind, payload: Vec<u8>) -> Result<(), BusError> {
        self.queue(kind).push(Entry {
            payload,
            returns: 0,
        })
    }

    fn consumer(&self, queue: &Arc<Queue>, prefetch: u16) -> Result<Consumer, BusError> {
        if prefetch == 0 {
            return Err(BusError::InvalidPrefetch);
        }
        let mut state = queue.lock();
        if state.closed {
            return Err(BusError::Closed);
        }
        let id = state.next_id;
        state.next_id += 1;
        state.consumers.insert(id, 0);
        Ok(Consumer {
            queue: queue.clone(),
            id,
            prefetch: usize::from(prefetch),
        })
    }
}

#[async_trait]
impl Bus for InProcessBus {
    async fn publish(&self, envelope: Envelope) -> Result<(), BusError> {
        let payload = envelope.encode()?;
        self.queue(envelope.message.queue_kind()).push(Entry {
            payload,
            returns: 0,
        })
    }

    async fn subscribe(&self, queue: QueueKind, prefetch: u16) -> Result<Subscription, BusError> {
        let queue = self.queue(queue);
        let consumer = self.consumer(queue, prefetch)?;
        Ok(Subscription::new(queue.name.clone(), Box::new(consumer)))
    }

    /// One events queue: the embedded mode runs one process, which shares its work among
    /// tenants in fan-out's dispatcher.
    async fn event_shards(&self) -> Result<Vec<u16>, BusError> {
        Ok(vec![0])
    }

    async fn subscribe_event_shard(
        &self,
        shard: u16,
        prefetch: u16,
    ) -> Result<Subscription, BusError> {
        if shard != 0 {
            return Err(BusError::NoSuchShard { shard, shards: 1 });
        }
        self.subscribe(QueueKind::Events, prefetch).await
    }

    async fn subscribe_dead(&self, prefetch: u16) -> Result<DeadLetters, BusError> {
        Ok(DeadLetters::new(Box::new(
            self.consumer(&self.dead, prefetch)?,
        )))
    }

    async fn ping(&self) -> Result<(), BusError> {
        if self.events.lock().closed {
            Err(BusError::Closed)
        } else {
            Ok(())
        }
    }

    async fn close(&self) {
        for queue in [&self.events, &self.control, &self.dead] {
            queue.lock().closed = true;
            queue.notify.notify_waiters();
        }
    }
}

struct Entry {
    payload: Vec<u8>,
    /// How often it went back to the queue (RabbitMQ's `x-delivery-count`).
    returns: u32,
}

struct Queue {
    name: String,
    state: Mutex<State>,
    /// Woken whenever a message becomes available or a consumer gets room.
    notify: Notify,
    /// Where messages go when dead-lettered or past the limit; `None` for the dead queue
    /// itself (like RabbitMQ, it has no dead-letter exchange and no limit).
    dead: Option<(Arc<Queue>, u32)>,
}

#[derive(Default)]
struct State {
    ready: VecDeque<Entry>,
    /// Unsettled deliveries by tag, with the consumer holding each.
    unacked: HashMap<u64, (u64, Entry)>,
    /// Unsettled count by consumer id.
    consumers: HashMap<u64, usize>,
    next_id: u64,
    closed: bool,
}

impl Queue {
    fn new(name: String, dead: Option<(Arc<Queue>, u32)>) -> Arc<Self> {
        Arc::new(Self {
            name,
            state: Mutex::default(),
            notify: Notify::new(),
            dead,
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves the queue's data consistent (every update is
        // a single collection operation), so a poisoned lock is still usable.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn push(&self, entry: Entry) -> Result<(), BusError> {
        let mut state = self.lock();
        if state.closed {
            return Err(BusError::Closed);
        }
        state.ready.push_back(entry);
        drop(state);
        self.notify.notify_waiters();
        Ok(())
    }

    /// Takes delivery `tag` out of the unsettled set; `None` if it was already settled or
    /// requeued because its consumer died.
    fn take(&self, tag: u64) -> Option<Entry> {
        let mut state = self.lock();
        let (consumer, entry) = state.unacked.remove(&tag)?;
        if let Some(count) = state.consumers.get_mut(&consumer) {
            *count = count.saturating_sub(1);
        }
        Some(entry)
    }

    fn requeue(&self, mut entry: Entry) {
        entry.returns += 1;
        match &self.dead {
            Some((dead, limit)) if entry.returns > *limit => self.dead_letter(dead, entry),
            _ => self.lock().ready.push_front(entry),
        }
    }

    fn dead_letter(&self, dead: &Queue, entry: Entry) {
        tracing::warn!(queue = %self.name, returns = entry.returns, "message dead-lettered");
        // Ignoring `Closed`: a closing bus drops its messages, as the embedded mode says.
        let _ = dead.push(Entry {
            payload: entry.payload,
            returns: 0,
        });
    }

    fn settle(&self, tag: u64, outcome: Outcome) -> Result<(), BusError> {
        let entry = self.take(tag).ok_or(BusError::DeliveryLost)?;
        match (outcome, &self.dead) {
            (Outcome::Ack, _) | (Outcome::DeadLetter, None) => {}
            (Outcome::Requeue, _) => self.requeue(entry),
            (Outcome::DeadLetter, Some((dead, _))) => self.dead_letter(dead, entry),
        }
        self.notify.notify_waiters();
        Ok(())
    }
}

/// One subscriber. Dropping it requeues everything it holds unsettled.
struct Consumer {
    queue: Arc<Queue>,
    id: u64,
    prefetch: usize,
}

impl Consumer {
    fn try_take(&self) -> Result<Option<RawDelivery>, ()> {
        let mut state = self.queue.lock();
        if state.closed {
            return Err(());
        }
        let held = state.consumers.get(&self.id).copied().unwrap_or(0);
        if held >= self.prefetch {
            return Ok(None);
        }
        let Some(entry) = state.ready.pop_front() else {
            return Ok(None);
        };
        let tag = state.next_id;
        state.next_id += 1;
        let delivery = RawDelivery::new(
            entry.payload.clone(),
            entry.returns > 0,
            Box::new(Tag {
                queue: self.queue.clone(),
                tag,
            }),
        );
        state.unacked.insert(tag, (self.id, entry));
        state.consumers.insert(self.id, held + 1);
        Ok(Some(delivery))
    }
}

#[async_trait]
impl RawSource for Consumer {
    async fn next(&mut self) -> Option<RawDelivery> {
        loop {
            let notified = self.queue.notify.notified();
            tokio::pin!(notified);
            // Registered before looking, so a wake-up between the look and the wait is kept.
            notified.as_mut().enable();
            match self.try_take() {
                Err(()) => return None,
                Ok(Some(delivery)) => return Some(delivery),
                Ok(None) => notified.await,
            }
        }
    }
}

impl Drop for Consumer {
    fn drop(&mut self) {
        let orphans: Vec<Entry> = {
            let mut state = self.queue.lock();
            state.consumers.remove(&self.id);
            let mut tags: Vec<u64> = state
                .unacked
                .iter()
                .filter(|(_, (consumer, _))| *consumer == self.id)
                .map(|(tag, _)| *tag)
                .collect();
            tags.sort_unstable();
            tags.iter()
                .filter_map(|tag| state.unacked.remove(tag))
                .map(|(_, e)| e)
                .collect()
        };
        // Oldest first back at the head of the queue.
        for entry in orphans.into_iter().rev() {
            self.queue.requeue(entry);
        }
        self.queue.notify.notify_waiters();
    }
}

/// The settle handle of one in-process delivery.
struct Tag {
    queue: Arc<Queue>,
    tag: u64,
}

#[async_trait]
impl Settle for Tag {
    async fn settle(self: Box<Self>, outcome: Outcome) -> Result<(), BusError> {
        self.queue.settle(self.tag, outcome)
    }

    fn abandon(self: Box<Self>) {
        // `DeliveryLost` here means its consumer died first and already requeued it.
        let _ = self.queue.settle(self.tag, Outcome::Requeue);
    }

    fn live(&self) -> bool {
        self.queue.lock().unacked.contains_key(&self.tag)
    }
}

//! Wake-up channels shared by both backends: one `watch` channel per key with a waiter count.
//!
//! A guard's receiver marks the channel's current version as seen when it registers, so any
//! later `fire` wakes it, whether it is already waiting or calls `wait` afterwards. Redis feeds
//! `fire` from its single subscriber task; memory calls it from `notify`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::{mpsc, watch};

struct Slot {
    version: watch::Sender<u64>,
    waiters: usize,
}

/// The channels with at least one waiter. Cloning shares it.
#[derive(Clone, Default)]
pub(crate) struct WakeHub {
    slots: Arc<Mutex<HashMap<String, Slot>>>,
    /// Told the name of a channel whose last waiter left (the Redis subscriber unsubscribes).
    on_empty: Option<mpsc::UnboundedSender<String>>,
}

impl WakeHub {
    pub(crate) fn new(on_empty: Option<mpsc::UnboundedSender<String>>) -> Self {
        Self {
            slots: Arc::default(),
            on_empty,
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Slot>> {
        // The map stays consistent across a panic (each change is one insert or remove).
        self.slots.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Registers a waiter on `channel`.
    pub(crate) fn register(&self, channel: &str) -> WakeGuard {
        let mut slots = self.lock();
        let slot = slots.entry(channel.to_owned()).or_insert_with(|| Slot {
            version: watch::Sender::new(0),
            waiters: 0,
        });
        slot.waiters += 1;
        let receiver = slot.version.subscribe();
        WakeGuard {
            receiver,
            channel: channel.to_owned(),
            hub: self.clone(),
        }
    }

    /// Wakes every waiter on `channel`, if any.
    pub(crate) fn fire(&self, channel: &str) {
        if let Some(slot) = self.lock().get(channel) {
            slot.version.send_modify(|v| *v = v.wrapping_add(1));
        }
    }

    pub(crate) fn contains(&self, channel: &str) -> bool {
        self.lock().contains_key(channel)
    }

    /// The channels that have waiters.
    pub(crate) fn channels(&self) -> Vec<String> {
        self.lock().keys().cloned().collect()
    }

    fn release(&self, channel: &str) {
        let mut slots = self.lock();
        let emptied = match slots.get_mut(channel) {
            Some(slot) => {
                slot.waiters = slot.waiters.saturating_sub(1);
                slot.waiters == 0
            }
            None => false,
        };
        if emptied {
            slots.remove(channel);
            drop(slots);
            if let Some(on_empty) = &self.on_empty {
                // The subscriber may be gone (store dropped): nothing to unsubscribe then.
                let _ = on_empty.send(channel.to_owned());
            }
        }
    }
}

/// A registered waiter on a wake-up channel (see [`StateStore::subscribe`]). Dropping it
/// unregisters.
///
/// [`StateStore::subscribe`]: crate::StateStore::subscribe
pub struct WakeGuard {
    receiver: watch::Receiver<u64>,
    channel: String,
    hub: WakeHub,
}

impl WakeGuard {
    /// Waits until a notify arrives that this guard has not yet seen, or `timeout` passes.
    /// `true` means "woken: check again" (wake-ups may be spurious, e.g. after a Redis
    /// reconnect, when notifies may have been lost); `false` means the timeout passed.
    pub async fn wait(&mut self, timeout: Duration) -> bool {
        match tokio::time::timeout(timeout, self.receiver.changed()).await {
            Ok(_) => true,
            Err(_elapsed) => false,
        }
    }

    /// The channel (the rendered key) this guard listens on.
    pub fn channel(&self) -> &str {
        &self.channel
    }
}

impl std::fmt::Debug for WakeGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WakeGuard")
            .field("channel", &self.channel)
            .finish()
    }
}

impl Drop for WakeGuard {
    fn drop(&mut self) {
        self.hub.release(&self.channel);
    }
}

//! [`Slots`]: a replica's `maxConcurrentRequests`, shared by queries and task runs.
//!
//! A query takes a slot or is refused `busy` at once. The task worker must never hold a slot it
//! is not running a task in (a query arriving meanwhile would be refused for nothing), so it
//! does not queue for one: it waits to hear that one was freed, then fetches at most as many
//! tasks as are free.

use std::sync::Arc;

use tokio::sync::{AcquireError, Notify, OwnedSemaphorePermit, Semaphore, SemaphorePermit};

/// The concurrency slots of one replica.
#[derive(Debug)]
pub struct Slots {
    semaphore: Arc<Semaphore>,
    freed: Notify,
    total: u32,
}

/// One slot, given back when dropped.
#[derive(Debug)]
pub struct Slot {
    permit: Option<OwnedSemaphorePermit>,
    slots: Arc<Slots>,
}

impl Slots {
    /// `total` slots (at least one).
    pub fn new(total: u32) -> Arc<Self> {
        let total = total.max(1);
        Arc::new(Self { semaphore: Arc::new(Semaphore::new(total as usize)), freed: Notify::new(), total })
    }

    /// How many there are.
    pub fn total(&self) -> u32 {
        self.total
    }

    /// How many are free now.
    pub fn free(&self) -> usize {
        self.semaphore.available_permits()
    }

    /// A free slot, if there is one.
    pub fn try_take(self: &Arc<Self>) -> Option<Slot> {
        let permit = self.semaphore.clone().try_acquire_owned().ok()?;
        Some(Slot { permit: Some(permit), slots: self.clone() })
    }

    /// The next slot, waiting in line for it.
    pub async fn take(self: &Arc<Self>) -> Result<Slot, AcquireError> {
        let permit = self.semaphore.clone().acquire_owned().await?;
        Ok(Slot { permit: Some(permit), slots: self.clone() })
    }

    /// Completes once at least one slot is free, taking none.
    pub async fn wait_free(&self) {
        loop {
            let freed = self.freed.notified();
            if self.free() > 0 {
                return;
            }
            freed.await;
        }
    }

    /// Every slot: completes once no work holds one.
    pub async fn all(&self) -> Result<SemaphorePermit<'_>, AcquireError> {
        self.semaphore.acquire_many(self.total).await
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        // Given back first, so that whoever hears of it finds it free.
        drop(self.permit.take());
        self.slots.freed.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn waiting_for_a_free_slot_takes_none() {
        let slots = Slots::new(1);
        let held = slots.try_take().expect("one slot");
        assert!(slots.try_take().is_none(), "full");
        let early = tokio::time::timeout(Duration::from_millis(20), slots.wait_free()).await;
        assert!(early.is_err(), "nothing freed yet");
        let waiter = tokio::spawn({
            let slots = slots.clone();
            async move { slots.wait_free().await }
        });
        drop(held);
        waiter.await.expect("heard of the freed slot");
        assert!(slots.try_take().is_some(), "the waiter left the slot free for a query");
        assert_eq!(slots.free(), 1);
        assert!(slots.all().await.is_ok());
    }
}

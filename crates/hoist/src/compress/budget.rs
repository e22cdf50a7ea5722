//! Bytes of memory shared by the threads of one process: a [`MemoryBudget`] is charged when a
//! thread takes a share ([`MemoryBudget::try_take`], or [`MemoryBudget::take`], which waits
//! until the budget holds it) and given back when the [`MemoryPermit`] drops. A share is
//! charged at most the whole budget, so any share can be taken alone and nothing waits forever
//! for a budget smaller than what it asks.
//!
//! Two budgets draw on it: the zstd windows of the decoders in flight (`window`'s `WINDOWS`)
//! and the gzip encoder's blocks in flight (`pool`'s `BLOCKS`). Both bound a memory that
//! would otherwise grow with the number of layers handled at once.

use std::sync::{Condvar, Mutex, PoisonError};

/// Bytes of memory shared by the threads of a process (see the module docs).
#[derive(Debug)]
pub(crate) struct MemoryBudget {
    capacity: u64,
    used: Mutex<u64>,
    returned: Condvar,
}

impl MemoryBudget {
    /// A budget of `capacity` bytes.
    pub(crate) const fn new(capacity: u64) -> MemoryBudget {
        MemoryBudget {
            capacity,
            used: Mutex::new(0),
            returned: Condvar::new(),
        }
    }

    /// What a share of `bytes` (`None`: unknown) is charged: at most the capacity, so that any
    /// share can be taken alone.
    fn charge(&self, bytes: Option<u64>) -> u64 {
        bytes.unwrap_or(self.capacity).min(self.capacity)
    }

    /// Takes a share of `bytes` if the budget holds it now.
    pub(crate) fn try_take(&self, bytes: Option<u64>) -> Option<MemoryPermit<'_>> {
        let charge = self.charge(bytes);
        let mut used = self.used.lock().unwrap_or_else(PoisonError::into_inner);
        (*used + charge <= self.capacity).then(|| {
            *used += charge;
            MemoryPermit {
                budget: self,
                charge,
            }
        })
    }

    /// Takes a share of `bytes`, waiting until the budget holds it.
    pub(crate) fn take(&self, bytes: Option<u64>) -> MemoryPermit<'_> {
        let charge = self.charge(bytes);
        let mut used = self.used.lock().unwrap_or_else(PoisonError::into_inner);
        while *used + charge > self.capacity {
            used = self
                .returned
                .wait(used)
                .unwrap_or_else(PoisonError::into_inner);
        }
        *used += charge;
        MemoryPermit {
            budget: self,
            charge,
        }
    }
}

/// A share of a [`MemoryBudget`], given back when dropped.
#[derive(Debug)]
pub(crate) struct MemoryPermit<'a> {
    budget: &'a MemoryBudget,
    charge: u64,
}

impl Drop for MemoryPermit<'_> {
    fn drop(&mut self) {
        let mut used = self
            .budget
            .used
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        *used -= self.charge;
        self.budget.returned.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_fit_the_budget_and_a_large_one_waits_for_it() {
        let budget = MemoryBudget::new(100);
        let small = budget.try_take(Some(30)).unwrap();
        let other = budget.try_take(Some(30)).unwrap();
        assert!(budget.try_take(Some(50)).is_none());
        drop(other);
        let large = budget.try_take(Some(50)).unwrap();
        // Unknown and oversized windows are charged the whole budget.
        assert!(budget.try_take(None).is_none());
        drop((small, large));
        let whole = budget.try_take(Some(1 << 40)).unwrap();
        assert!(budget.try_take(Some(1)).is_none());
        drop(whole);
        assert!(budget.try_take(None).is_some());
    }

    #[test]
    fn a_waiting_share_is_taken_when_one_is_given_back() {
        let budget = MemoryBudget::new(10);
        let held = budget.try_take(Some(10)).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::scope(|scope| {
            scope.spawn(|| {
                let _permit = budget.take(Some(6));
                tx.send(()).unwrap();
            });
            assert!(rx
                .recv_timeout(std::time::Duration::from_millis(50))
                .is_err());
            drop(held);
            rx.recv_timeout(std::time::Duration::from_secs(10)).unwrap();
        });
    }
}

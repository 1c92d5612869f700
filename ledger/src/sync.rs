//! Locks shared by threads.

use std::sync::{Mutex, MutexGuard};

/// Locks `mutex`, even when a thread panicked while holding it (a poisoned
/// lock). Used where every change under the lock is a single assignment or
/// insert, so a thread that panicked left the value whole.
pub fn lock_whole<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::lock_whole;
    use std::sync::Mutex;

    #[test]
    fn a_poisoned_lock_gives_the_value_as_last_written() {
        let mutex = Mutex::new(1);
        let _ = std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    *lock_whole(&mutex) = 2;
                    let _held = lock_whole(&mutex);
                    panic!("poisons the lock");
                })
                .join()
        });
        assert!(mutex.is_poisoned());
        assert_eq!(*lock_whole(&mutex), 2);
    }
}

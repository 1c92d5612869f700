//! A bounded map of values kept in memory between uses, shared by threads:
//! records a ledger reads again and again, signers' keys as curve points.
//! Emptied at once when full (`limits::REMEMBERED_RECORDS_MAX`): the next
//! uses fill it again with what is in use.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Mutex, MutexGuard};

pub(crate) struct BoundedMap<K, V> {
    values: Mutex<HashMap<K, V>>,
}

impl<K, V> Default for BoundedMap<K, V> {
    fn default() -> Self {
        BoundedMap {
            values: Mutex::new(HashMap::new()),
        }
    }
}

impl<K: Hash + Eq, V: Clone> BoundedMap<K, V> {
    /// The value of `key`: remembered, or loaded (and then remembered when
    /// there is one).
    pub(crate) fn get_or_load<Q, E>(
        &self,
        key: &Q,
        load: impl FnOnce() -> Result<Option<V>, E>,
    ) -> Result<Option<V>, E>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
    {
        if let Some(value) = self.values().get(key).cloned() {
            return Ok(Some(value));
        }
        let loaded = load()?;
        if let Some(value) = &loaded {
            self.remember([(key.to_owned(), value.clone())]);
        }
        Ok(loaded)
    }

    /// The value of `key` if remembered (nothing is loaded or remembered).
    pub(crate) fn get<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.values().get(key).cloned()
    }

    /// The value of `key`: remembered, or made (and then remembered).
    pub(crate) fn get_or_make<Q>(&self, key: &Q, make: impl FnOnce() -> V) -> V
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
    {
        if let Some(value) = self.values().get(key).cloned() {
            return value;
        }
        let value = make();
        self.remember([(key.to_owned(), value.clone())]);
        value
    }

    pub(crate) fn remember(&self, written: impl IntoIterator<Item = (K, V)>) {
        let mut values = self.values();
        for (key, value) in written {
            if values.len() >= crate::limits::REMEMBERED_RECORDS_MAX {
                values.clear();
            }
            values.insert(key, value);
        }
    }

    pub(crate) fn forget_all(&self) {
        self.values().clear();
    }

    /// The map (every change is one insert or clear).
    fn values(&self) -> MutexGuard<'_, HashMap<K, V>> {
        crate::sync::lock_whole(&self.values)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits::REMEMBERED_RECORDS_MAX;

    #[test]
    fn a_full_map_is_emptied_and_answers_stay_right() {
        let remembered: BoundedMap<u64, u64> = BoundedMap::default();
        let total = REMEMBERED_RECORDS_MAX as u64 + 10;
        for key in 0..total {
            assert_eq!(remembered.get_or_make(&key, || key * 2), key * 2);
        }
        assert!(remembered.values().len() <= REMEMBERED_RECORDS_MAX);
        // BoundedMap: not made again.
        assert_eq!(remembered.get_or_make(&(total - 1), || 0), (total - 1) * 2);
        // Forgotten when the map was emptied: made again.
        assert_eq!(remembered.get_or_make(&0, || 7), 7);
    }

    #[test]
    fn nothing_found_is_not_remembered_and_errors_pass_through() {
        let remembered: BoundedMap<String, u32> = BoundedMap::default();
        assert_eq!(
            remembered.get_or_load::<str, ()>("a", || Ok(None)),
            Ok(None)
        );
        assert_eq!(
            remembered.get_or_load::<str, ()>("a", || Ok(Some(1))),
            Ok(Some(1))
        );
        assert_eq!(
            remembered.get_or_load::<str, ()>("a", || Err(())),
            Ok(Some(1))
        );
        assert_eq!(
            remembered.get_or_load::<str, &str>("b", || Err("gone")),
            Err("gone")
        );
        remembered.forget_all();
        assert_eq!(
            remembered.get_or_load::<str, ()>("a", || Ok(None)),
            Ok(None)
        );
    }
}

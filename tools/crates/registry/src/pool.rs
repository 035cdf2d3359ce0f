//! A bounded pool of scoped threads: blocking I/O with at most `jobs` transfers at a time.

use std::sync::atomic::{AtomicUsize, Ordering};

/// Runs `work` over `items` on at most `jobs` threads.
pub fn parallel<T: Sync>(jobs: usize, items: &[T], work: impl Fn(&T) + Sync) {
    let next = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..jobs.clamp(1, items.len().max(1)) {
            scope.spawn(|| {
                while let Some(item) = items.get(next.fetch_add(1, Ordering::Relaxed)) {
                    work(item);
                }
            });
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::lock;
    use std::sync::Mutex;

    #[test]
    fn parallel_visits_every_item_once() {
        let seen = Mutex::new(Vec::new());
        let items: Vec<usize> = (0..50).collect();
        parallel(4, &items, |i| lock(&seen).push(*i));
        let mut seen = seen.into_inner().unwrap();
        seen.sort();
        assert_eq!(seen, items);
        parallel(4, &[] as &[usize], |_| unreachable!());
    }
}

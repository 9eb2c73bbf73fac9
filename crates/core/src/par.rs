//! Data parallelism for the CPU-bound steps of a batch (normalising and scoring patient
//! records while the database connection's thread waits for the next statement): the
//! work is split in halves over two threads, no more, since the database thread and the
//! async runtime need the other cores.

/// `f` over `items` in order, on two threads when there are at least `min` items and the
/// machine has two cores; otherwise on this thread.
pub fn map_vec<T: Send, R: Send>(
    mut items: Vec<T>,
    min: usize,
    f: impl Fn(T) -> R + Sync,
) -> Vec<R> {
    if items.len() < min.max(2) || threads() < 2 {
        return items.into_iter().map(f).collect();
    }
    let back = items.split_off(items.len() / 2);
    std::thread::scope(|s| {
        let h = s.spawn(|| back.into_iter().map(&f).collect::<Vec<R>>());
        let mut out: Vec<R> = items.into_iter().map(&f).collect();
        out.extend(h.join().expect("par::map_vec worker panicked"));
        out
    })
}

/// [`map_vec`] over borrowed items.
pub fn map<T: Sync, R: Send>(items: &[T], min: usize, f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    map_vec(items.iter().collect(), min, f)
}

fn threads() -> usize {
    static N: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *N.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_order_split_or_not() {
        let v: Vec<u32> = (0..1001).collect();
        let want: Vec<u64> = v.iter().map(|x| u64::from(*x) * 3).collect();
        assert_eq!(map_vec(v.clone(), 10, |x| u64::from(x) * 3), want);
        assert_eq!(map(&v, 10_000, |x| u64::from(*x) * 3), want);
        assert_eq!(map(&v[..1], 1, |x| u64::from(*x) * 3), vec![0]);
        assert!(map_vec(Vec::<u32>::new(), 0, |x| x).is_empty());
    }
}

//! Rule evaluation allocates nothing unless it produces an event.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use yiyang_vitals::{Profile, RuleSet, Vitals};

struct Counting;

thread_local! {
    static ON: Cell<bool> = const { Cell::new(false) };
    static COUNT: Cell<usize> = const { Cell::new(0) };
}

fn note() {
    if ON.with(Cell::get) {
        COUNT.with(|c| c.set(c.get() + 1));
    }
}

// SAFETY: forwards to the system allocator; only counts calls on this thread.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note();
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note();
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

fn counted<T>(f: impl FnOnce() -> T) -> (T, usize) {
    COUNT.with(|c| c.set(0));
    ON.with(|o| o.set(true));
    let out = f();
    ON.with(|o| o.set(false));
    (out, COUNT.with(Cell::get))
}

#[test]
fn evaluation_without_events_does_not_allocate() {
    // the counter counts
    let (_, n) = counted(|| vec![1u8; 10]);
    assert_eq!(n, 1);

    let set = RuleSet::default_set();
    let mut subjects: Vec<_> = (0..50)
        .map(|_| set.subject(Profile::default(), 0).unwrap())
        .collect();
    let reading = |i: usize| Vitals {
        heart_rate: Some(60.0 + (i % 30) as f64),
        spo2: Some(95.0 + (i % 5) as f64),
        temperature: Some(36.2 + (i % 8) as f64 / 10.0),
        systolic: i.is_multiple_of(10).then_some(125.0),
        diastolic: i.is_multiple_of(10).then_some(80.0),
        ..Vitals::default()
    };
    let (events, n) = counted(|| {
        let mut events = 0usize;
        for i in 0..20_000usize {
            let at = (i / 50) as i64 * 5_000_000;
            let s = &mut subjects[i % 50];
            events += set.evaluate(s, at, &reading(i)).len();
            if i.is_multiple_of(7) {
                events += set.tick(s, at + 1).len();
            }
        }
        events
    });
    assert_eq!(events, 0, "normal values raise nothing");
    assert_eq!(n, 0, "allocations while evaluating");

    // an event allocates (its texts), which the counter sees
    let (events, n) = counted(|| {
        set.evaluate(
            &mut subjects[0],
            10_000_000_000,
            &Vitals {
                heart_rate: Some(150.0),
                ..Vitals::default()
            },
        )
    });
    assert_eq!(events.len(), 1);
    assert!(n > 0);
}

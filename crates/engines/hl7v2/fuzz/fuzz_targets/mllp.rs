//! The MLLP decoder on arbitrary bytes fed in arbitrary chunk sizes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use yiyang_hl7v2::mllp::MllpDecoder;

fuzz_target!(|data: &[u8]| {
    let Some((&cfg, rest)) = data.split_first() else {
        return;
    };
    let max = usize::from(cfg) * 4;
    let chunk = usize::from(cfg % 13) + 1;
    let mut dec = MllpDecoder::new(max);
    for c in rest.chunks(chunk) {
        dec.push(c);
        while let Some(f) = dec.next_frame() {
            if let Ok(frame) = f {
                assert!(frame.len() <= max);
            }
        }
    }
    let _ = dec.finish();
});

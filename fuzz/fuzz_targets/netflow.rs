//! NetFlow v5/v9 and IPFIX export packets through the collector's decoder
//! and pairer: never a panic, never more records than the packet can hold.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sweepwatch_input::flow::Pairer;
use sweepwatch_input::netflow::Decoder;

fuzz_target!(|data: &[u8]| {
    let mut decoder = Decoder::new();
    let mut pairer = Pairer::new(60_000_000, 1024);
    let from = "192.0.2.1:2055".parse().unwrap();
    // The input is several packets from one exporter (templates first,
    // then data), split at each 0xfe byte.
    let mut records = 0u64;
    for packet in data.split(|b| *b == 0xfe) {
        let n = decoder.decode(from, packet, &mut |rec| {
            pairer.push(rec, &mut |_| {});
        });
        // A flow record takes at least one byte on the wire.
        assert!(n as usize <= packet.len(), "{n} records from {} bytes", packet.len());
        records += n;
    }
    pairer.finish(&mut |_| {});
    assert_eq!(pairer.stats().records, records);
});

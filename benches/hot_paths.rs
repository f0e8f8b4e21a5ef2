//! Micro-benchmarks of wsclient's own hot paths: the frame write path
//! (header + masked copy), the read path (parsing a buffer of server frames
//! into messages, with UTF-8 validation), and `ws_open` options parsing.
//! Run: cargo bench --bench hot_paths
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::hint::black_box;
use wsclient::internals::{encode_frame, parse_options, Event, Reader};

fn write_path(c: &mut Criterion) {
    let mut g = c.benchmark_group("write_path/encode_frame");
    for size in [32usize, 1024, 64 * 1024, 1 << 20] {
        let payload: Vec<u8> = (0..size).map(|i| b'a' + (i % 26) as u8).collect();
        let mut out = Vec::with_capacity(size + 14);
        g.throughput(Throughput::Bytes(size as u64));
        g.bench_with_input(BenchmarkId::from_parameter(size), &payload, |b, p| {
            b.iter(|| {
                out.clear();
                encode_frame(&mut out, 1, true, black_box(p), [1, 2, 3, 4]);
                black_box(out.len())
            })
        });
    }
    g.finish();
}

/// Server frames (unmasked) of `size`-byte text messages, `count` of them.
fn server_frames(size: usize, count: usize) -> Vec<u8> {
    let mut v = Vec::new();
    for _ in 0..count {
        v.push(0x81);
        if size < 126 {
            v.push(size as u8);
        } else if size <= 0xffff {
            v.push(126);
            v.extend_from_slice(&(size as u16).to_be_bytes());
        } else {
            v.push(127);
            v.extend_from_slice(&(size as u64).to_be_bytes());
        }
        v.extend((0..size).map(|i| b'a' + (i % 26) as u8));
    }
    v
}

fn read_path(c: &mut Criterion) {
    let mut g = c.benchmark_group("read_path/parse");
    for (size, count) in [(32usize, 256usize), (1024, 16), (1 << 20, 1)] {
        let bytes = server_frames(size, count);
        g.throughput(Throughput::Elements(count as u64));
        g.bench_with_input(BenchmarkId::from_parameter(format!("{size}B_x{count}")), &bytes, |b, bytes| {
            let mut spare = Vec::new();
            b.iter(|| {
                let mut r = Reader::new(64 << 20, &[]);
                let mut pos = 0;
                let mut n = 0;
                loop {
                    while let Some(ev) = r.next_event().unwrap() {
                        assert_eq!(ev, Event::Message);
                        n += r.swap_message(&mut spare);
                    }
                    if pos == bytes.len() {
                        break;
                    }
                    let t = r.read_target();
                    let k = t.len().min(bytes.len() - pos);
                    t[..k].copy_from_slice(&bytes[pos..pos + k]);
                    r.commit(k);
                    pos += k;
                }
                black_box(n)
            })
        });
    }
    g.finish();
}

fn options(c: &mut Criterion) {
    let text = r#"{"headers":{"User-Agent":"bench","Authorization":"Bearer abc"},"timeout":5000,"subprotocols":["a","b"],"maxMessageSize":1048576,"pingInterval":10000}"#;
    c.bench_function("options/parse_options", |b| {
        b.iter(|| parse_options(black_box(Some(text))).map(|o| o.headers.len()).unwrap())
    });
    c.bench_function("options/parse_options_none", |b| b.iter(|| parse_options(black_box(None)).is_ok()));
}

criterion_group!(benches, write_path, read_path, options);
criterion_main!(benches);

//! Tests of the frame reader (src/proto.rs).

use super::*;

fn frame(b0: u8, payload: &[u8]) -> Vec<u8> {
    let mut v = vec![b0];
    let n = payload.len();
    if n < 126 {
        v.push(n as u8);
    } else if n <= 0xffff {
        v.push(126);
        v.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        v.push(127);
        v.extend_from_slice(&(n as u64).to_be_bytes());
    }
    v.extend_from_slice(payload);
    v
}

type Seen = Vec<(Event, Option<(Kind, Vec<u8>)>)>;

/// Feeds `bytes` in chunks of `chunk`, collecting events.
fn run(bytes: &[u8], chunk: usize, max: usize) -> Result<Seen, ProtoError> {
    let mut r = Reader::new(max, &[]);
    let mut out = Vec::new();
    let mut pos = 0;
    loop {
        while let Some(ev) = r.next_event()? {
            let m = r.message().map(|(k, d)| (k, d.to_vec()));
            if m.is_some() {
                r.consume_message();
            }
            out.push((ev, m));
        }
        if pos == bytes.len() {
            return Ok(out);
        }
        let t = r.read_target();
        let n = t.len().min(chunk).min(bytes.len() - pos);
        t[..n].copy_from_slice(&bytes[pos..pos + n]);
        r.commit(n);
        pos += n;
    }
}

#[test]
fn messages_in_any_chunking() {
    let big: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    let mut s = frame(0x81, b"hello");
    s.extend(frame(0x02, &big[..50_000]));
    s.extend(frame(0x89, b"p"));
    s.extend(frame(0x80, &big[50_000..]));
    s.extend(frame(0x01, "h\u{e9}".as_bytes()));
    s.extend(frame(0x80, "llo".as_bytes()));
    s.extend(frame(0x88, &[0x03, 0xe8, b'b', b'y', b'e']));
    for chunk in [1, 2, 3, 7, 100, 5000, 1 << 20] {
        let ev = run(&s, chunk, 1 << 20).unwrap();
        assert_eq!(ev.len(), 5, "chunk {chunk}");
        assert_eq!(ev[0].1, Some((Kind::Text, b"hello".to_vec())));
        assert_eq!(ev[1].0, Event::Ping(b"p".to_vec()));
        // fragments are reassembled and the ping in between does not disturb them
        assert_eq!(ev[2].1, Some((Kind::Binary, big.clone())), "chunk {chunk}");
        assert_eq!(ev[3].1, Some((Kind::Text, "h\u{e9}llo".as_bytes().to_vec())));
        assert_eq!(ev[4].0, Event::Close(Some((1000, "bye".into()))));
    }
}

#[test]
fn violations() {
    let cases: Vec<(Vec<u8>, Code, u16)> = vec![
        (frame(0xC1, b"x"), Code::Compression, 1002),     // rsv1, not negotiated
        (frame(0xA1, b"x"), Code::Protocol, 1002),        // rsv2
        (frame(0x83, b"x"), Code::Protocol, 1002),        // reserved opcode
        (frame(0x8B, b""), Code::Protocol, 1002),         // reserved control
        (frame(0x09, b""), Code::Protocol, 1002),         // fragmented ping
        (frame(0x89, &[0u8; 126]), Code::Protocol, 1002), // long ping
        (frame(0x80, b"x"), Code::Protocol, 1002),        // stray continuation
        ([frame(0x01, b"a"), frame(0x81, b"b")].concat(), Code::Protocol, 1002),
        (frame(0x81, &[0xff]), Code::InvalidUtf8, 1007),
        (frame(0x88, &[0x03]), Code::Protocol, 1002),       // 1-byte close
        (frame(0x88, &[0x03, 0xed]), Code::Protocol, 1002), // 1005
        (frame(0x88, &[0x03, 0xe8, 0xff]), Code::InvalidUtf8, 1007),
        (frame(0x82, &[0u8; 200]), Code::MessageTooBig, 1009),
        (vec![0x81, 0x81, 1, 2, 3, 4, 0], Code::Protocol, 1002), // masked
    ];
    for (bytes, code, close) in cases {
        let e = run(&bytes, 1 << 20, 100).unwrap_err();
        assert_eq!((e.code, e.close), (code, close), "{bytes:x?}: {}", e.msg);
    }
}

// ---- permessage-deflate ----

fn agreed(bits: u8, nct: bool) -> crate::deflate::Agreed {
    crate::deflate::Agreed {
        client_max_window_bits: bits,
        server_max_window_bits: bits,
        client_no_context_takeover: nct,
        server_no_context_takeover: nct,
        level: 6,
        mem_level: 8,
        threshold: 0,
    }
}

fn deflating(max: usize, bits: u8, nct: bool) -> Reader {
    let mut r = Reader::new(max, &[]);
    let a = agreed(bits, nct);
    r.set_inflater(Some(Box::new(crate::deflate::Inflater::new(&a, Default::default()))));
    r
}

/// Feeds `bytes` to `r` in chunks of `chunk`, collecting messages
/// (control frames as events); the peak of `r.memory()`.
fn feed(r: &mut Reader, bytes: &[u8], chunk: usize) -> (Result<Seen, ProtoError>, usize) {
    let mut out = Vec::new();
    let (mut pos, mut peak) = (0, 0);
    loop {
        loop {
            match r.next_event() {
                Ok(Some(ev)) => {
                    let m = r.message().map(|(k, d)| (k, d.to_vec()));
                    if m.is_some() {
                        r.consume_message();
                    }
                    out.push((ev, m));
                }
                Ok(None) => break,
                Err(e) => return (Err(e), peak.max(r.memory())),
            }
        }
        peak = peak.max(r.memory());
        if pos == bytes.len() {
            return (Ok(out), peak);
        }
        let t = r.read_target();
        let n = t.len().min(chunk).min(bytes.len() - pos);
        t[..n].copy_from_slice(&bytes[pos..pos + n]);
        r.commit(n);
        pos += n;
    }
}

/// The payload of a compressed message (what a server puts on the wire).
fn deflated(c: &mut crate::deflate::Compressor, m: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    c.compress(m, true, false, &mut out).unwrap();
    out
}

#[test]
fn compressed_messages_in_any_chunking() {
    let text = "{\"tag\":\"line1.temp\",\"v\":21.5,\"q\":\"good\"} \u{e9}\u{20ac}".repeat(2000);
    let big: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8 ^ (i >> 12) as u8).collect();
    for nct in [false, true] {
        for bits in [8u8, 9, 15] {
            let mut c = crate::deflate::Compressor::new(&agreed(bits, nct), Default::default());
            let mut s = frame(0xC1, &deflated(&mut c, text.as_bytes()));
            s.extend(frame(0x81, b"plain text on a compressed connection"));
            // one compressed message in three frames, a ping in between
            let z = deflated(&mut c, &big);
            let (a, b) = z.split_at(z.len() / 3);
            s.extend(frame(0x42, a));
            s.extend(frame(0x89, b"p"));
            s.extend(frame(0x00, &b[..b.len() / 2]));
            s.extend(frame(0x80, &b[b.len() / 2..]));
            s.extend(frame(0xC1, &deflated(&mut c, b""))); // empty
            s.extend(frame(0xC2, &deflated(&mut c, &big))); // context takeover: refers back
            for chunk in [1, 7, 1000, 1 << 20] {
                let mut r = deflating(1 << 20, bits, nct);
                let (ev, _) = feed(&mut r, &s, chunk);
                let ev = ev.unwrap_or_else(|e| panic!("bits {bits} nct {nct} chunk {chunk}: {}", e.msg));
                let msgs: Vec<_> = ev.iter().filter_map(|(_, m)| m.clone()).collect();
                assert_eq!(msgs.len(), 5, "chunk {chunk}");
                assert_eq!(msgs[0], (Kind::Text, text.as_bytes().to_vec()));
                assert_eq!(msgs[1].1, b"plain text on a compressed connection");
                assert!(msgs[2] == (Kind::Binary, big.clone()), "chunk {chunk}");
                assert_eq!(msgs[3], (Kind::Text, Vec::new()));
                assert!(msgs[4] == (Kind::Binary, big.clone()), "chunk {chunk}");
                assert!(ev.iter().any(|(e, _)| *e == Event::Ping(b"p".to_vec())));
            }
        }
    }
}

/// A server compressing with a 32 KiB window after agreeing to 9 bits: zlib
/// resolves a reference one to two windows back or not depending on where
/// the inflate calls split the output. The reader places the steps by the
/// server's bytes, so every read split gives the same events; a reference
/// more than two windows back always fails.
#[test]
fn references_beyond_the_agreed_window_give_the_same_result_however_the_reads_split() {
    let noise = |n: usize, seed: u32| -> Vec<u8> {
        (0..n as u32).map(|i| ((i ^ seed).wrapping_mul(2654435761) >> 13) as u8).collect()
    };
    let mut outcomes = std::collections::BTreeSet::new();
    for dist in (300..1400).step_by(61) {
        let mut c = crate::deflate::Compressor::new(&agreed(15, false), Default::default());
        let b = noise(dist, dist as u32);
        let mut s = frame(0xC2, &deflated(&mut c, &noise(200, 1)));
        // the repeat in pieces of frames, so that frame ends fall inside it
        let z = deflated(&mut c, &[&b[..], &b[..], &noise(3000, 2)[..]].concat());
        let (x, y) = z.split_at(z.len() / 2);
        s.extend(frame(0x42, x));
        s.extend(frame(0x80, y));
        s.extend(frame(0x89, b"after"));
        type Outcome = Result<Vec<(String, Option<(Kind, Vec<u8>)>)>, (Code, String)>;
        let mut first: Option<(Outcome, usize)> = None;
        for chunk in [1usize, 2, 7, 100, 999, 4096, 5000, 1 << 20] {
            let mut r = deflating(1 << 20, 9, false);
            let got = match feed(&mut r, &s, chunk).0 {
                Ok(ev) => Ok(ev.into_iter().map(|(e, m)| (format!("{e:?}"), m)).collect()),
                Err(e) => Err((e.code, e.msg)),
            };
            if let Err((code, msg)) = &got {
                assert_eq!(*code, Code::Compression, "{msg}");
                assert!(msg.contains("larger window than the agreed server_max_window_bits=9"), "{msg}");
            } else if dist > 1024 {
                panic!("a reference {dist} bytes back decoded with a 512-byte window");
            }
            match &first {
                None => first = Some((got, chunk)),
                Some((f, c0)) => assert!(*f == got, "distance {dist}: reads of {c0} and {chunk} bytes differ"),
            }
        }
        outcomes.insert(first.unwrap().0.is_ok());
    }
    // both outcomes occur in the range (else the test shows nothing)
    assert_eq!(outcomes.len(), 2);
}

/// With context takeover the history kept over an idle release is the
/// decoder's whole window (512 bytes when 8 bits were agreed, read with 9):
/// a message referring into the previous one resolves the same whether or
/// not the decoder was released in between.
#[test]
fn an_idle_release_changes_nothing_that_resolves() {
    for bits in [8u8, 9, 12] {
        for dist in [200usize, 300, 500, 700, 3000, 5000] {
            let b: Vec<u8> = (0..dist as u32).map(|i| (i.wrapping_mul(2654435761) >> 11) as u8).collect();
            let mut c = crate::deflate::Compressor::new(&agreed(15, false), Default::default());
            let (m1, m2) = (frame(0xC2, &deflated(&mut c, &b)), frame(0xC2, &deflated(&mut c, &b)));
            let mut results = Vec::new();
            for idle in [false, true] {
                let mut r = deflating(1 << 20, bits, false);
                if feed(&mut r, &m1, 1 << 20).0.is_err() {
                    // noise with a chance match further back than the window
                    results.push(None);
                    continue;
                }
                if idle {
                    let z = r.inflate.as_mut().unwrap();
                    z.trim();
                    z.trim();
                }
                results.push(Some(feed(&mut r, &m2, 1 << 20).0.map_err(|e| e.msg)));
            }
            assert_eq!(results[0], results[1], "bits {bits} distance {dist}");
            if dist <= 500 {
                // inside the window: resolves, released or not
                assert!(matches!(&results[1], Some(Ok(_))), "bits {bits} distance {dist}: {:?}", results[1]);
            }
        }
    }
}

#[test]
fn compression_violations() {
    let mut c = crate::deflate::Compressor::new(&agreed(15, false), Default::default());
    let good = deflated(&mut c, b"hello hello hello");
    let mut corrupt = good.clone();
    corrupt[0] ^= 0x06; // BTYPE 11: reserved block type
    let bad_utf8 =
        deflated(&mut crate::deflate::Compressor::new(&agreed(15, false), Default::default()), &[0xff, 0xfe]);
    let cases: Vec<(Vec<u8>, Code, u16, &str)> = vec![
        (frame(0xC1, &corrupt), Code::Compression, 1007, "corrupt compressed data"),
        (frame(0xC1, &[0xff; 40]), Code::Compression, 1007, "corrupt compressed data"),
        ([frame(0x41, &good[..3]), frame(0xC0, &good[3..])].concat(), Code::Compression, 1002, "continuation"),
        (frame(0xC9, b""), Code::Compression, 1002, "control frame"),
        (frame(0xE1, &good), Code::Protocol, 1002, "reserved bits 0x6"),
        (frame(0xC1, &bad_utf8), Code::InvalidUtf8, 1007, "invalid UTF-8"),
    ];
    for (bytes, code, close, needle) in cases {
        let mut r = deflating(1 << 20, 15, false);
        let e = feed(&mut r, &bytes, 1 << 20).0.unwrap_err();
        assert_eq!((e.code, e.close), (code, close), "{}", e.msg);
        assert!(e.msg.contains(needle), "{}", e.msg);
    }
    // a final block (BFINAL) followed by more data in the message
    let mut z = zlib_rs::Deflate::new(6, false, 15);
    let mut w = vec![0u8; 64];
    z.compress(b"abc", &mut w, zlib_rs::DeflateFlush::Finish).unwrap();
    w.truncate(z.total_out() as usize);
    let mut r = deflating(1 << 20, 15, false);
    let e = feed(&mut r, &frame(0xC1, &[&w[..], b"xyz"].concat()), 1 << 20).0.unwrap_err();
    assert!(e.msg.contains("after the final deflate block"), "{}", e.msg);
    let mut r = deflating(1 << 20, 15, false);
    let ev = feed(&mut r, &frame(0xC1, &w), 1 << 20).0.unwrap();
    assert_eq!(ev[0].1, Some((Kind::Text, b"abc".to_vec())));
}

#[test]
fn a_compression_bomb_fails_within_max_plus_one_step() {
    // 64 MiB of zeros deflate to ~64 KiB (1000:1); maxMessageSize 1 MiB
    let mut c = crate::deflate::Compressor::new(&agreed(15, false), Default::default());
    let mut z = Vec::new();
    let zeros = vec![0u8; 1 << 20];
    for i in 0..64 {
        c.compress(&zeros, i == 63, false, &mut z).unwrap();
    }
    assert!(z.len() < 80_000, "{}", z.len());
    let max = 1 << 20;
    for chunk in [100, 1 << 20] {
        let mut r = deflating(max, 15, false);
        let (res, peak) = feed(&mut r, &frame(0xC2, &z), chunk);
        let e = res.unwrap_err();
        assert_eq!((e.code, e.close), (Code::MessageTooBig, 1009), "{}", e.msg);
        assert!(e.msg.contains("after decompression"), "{}", e.msg);
        // the message buffer never exceeds maxMessageSize + 1 byte; the
        // rest is the read buffer and the decompressor
        assert!(peak <= max + 1 + READ_BUF + crate::deflate::INFLATE_STATE + 64 * 1024, "peak {peak}");
    }
    // in stream mode (no limit) the pieces stay within PIECE_CAP
    let mut r = Reader::streaming(0, &[]);
    r.set_inflater(Some(Box::new(crate::deflate::Inflater::new(&agreed(15, false), Default::default()))));
    let bytes = frame(0xC2, &z);
    let (mut pos, mut total, mut peak) = (0, 0u64, 0);
    let mut piece = vec![0u8; 100_000];
    loop {
        match r.next_event().unwrap() {
            Some(Event::Piece) | Some(Event::Message) => {
                let p = r.take_piece(&mut piece).unwrap();
                assert!(piece[..p.len].iter().all(|&b| b == 0));
                total += p.len as u64;
                if p.last {
                    break;
                }
                continue;
            }
            Some(e) => panic!("{e:?}"),
            None => {}
        }
        peak = peak.max(r.memory());
        let t = r.read_target();
        let n = t.len().min(bytes.len() - pos);
        assert!(n > 0);
        t[..n].copy_from_slice(&bytes[pos..pos + n]);
        r.commit(n);
        pos += n;
    }
    assert_eq!(total, 64 << 20);
    assert!(peak <= PIECE_CAP + READ_BUF + crate::deflate::INFLATE_STATE + 64 * 1024, "peak {peak}");
}

#[test]
fn invalid_utf8_fails_before_the_frame_ends() {
    // first bytes of a text frame whose payload is not all here yet
    let mut f = frame(0x81, &[b'a'; 200]);
    f[10] = 0xff;
    let mut r = Reader::new(1 << 20, &[]);
    let t = r.read_target();
    t[..20].copy_from_slice(&f[..20]);
    r.commit(20);
    assert_eq!(r.next_event().unwrap_err().code, Code::InvalidUtf8);
    // an incomplete sequence at the end of what arrived is fine
    let mut f = frame(0x81, "aaa\u{20ac}".as_bytes());
    let mut r = Reader::new(1 << 20, &[]);
    r.read_target()[..6].copy_from_slice(&f[..6]);
    r.commit(6);
    assert_eq!(r.next_event().unwrap(), None);
    let rest = f.split_off(6);
    r.read_target()[..rest.len()].copy_from_slice(&rest);
    r.commit(rest.len());
    assert_eq!(r.next_event().unwrap(), Some(Event::Message));
}

#[test]
fn memory_follows_bytes_received_not_the_announced_length() {
    // a header announcing 60 MiB, then the payload trickles in
    let announced = 60usize << 20;
    let mut h = vec![0x82, 127];
    h.extend_from_slice(&(announced as u64).to_be_bytes());
    let mut r = Reader::new(64 << 20, &h);
    assert_eq!(r.next_event().unwrap(), None);
    let mut received = 0usize;
    let mut peak = 0;
    while received < announced {
        let t = r.read_target();
        assert!(!t.is_empty());
        let n = t.len().min(100_000);
        t[..n].fill(7);
        r.commit(n);
        received += n;
        assert!(r.memory() <= READ_BUF + GROW_CHUNK + 2 * received, "{} bytes held for {received}", r.memory());
        if received < 1 << 20 {
            peak = peak.max(r.memory());
        }
        let ev = r.next_event().unwrap();
        assert_eq!(ev.is_some(), received == announced);
    }
    assert!(peak < 3 << 20, "{peak}");
    assert_eq!(r.message().unwrap().1.len(), announced);
    // a buffer kept from that message takes the next large one in one read
    r.consume_message();
    let mut h = vec![0x82, 127];
    h.extend_from_slice(&(1u64 << 20).to_be_bytes());
    r.read_target()[..10].copy_from_slice(&h);
    r.commit(10);
    assert_eq!(r.next_event().unwrap(), None);
    assert_eq!(r.read_target().len(), 1 << 20);
}

#[test]
fn a_trickling_server_does_not_make_the_buffer_grow_per_read() {
    let mut h = vec![0x82, 127];
    h.extend_from_slice(&(1u64 << 20).to_be_bytes());
    let mut r = Reader::new(64 << 20, &h);
    assert_eq!(r.next_event().unwrap(), None);
    let (mut changes, mut last) = (0, r.memory());
    for _ in 0..300_000 {
        let t = r.read_target();
        t[0] = 1;
        r.commit(1);
        assert_eq!(r.next_event().unwrap(), None);
        if r.memory() != last {
            changes += 1;
            last = r.memory();
        }
    }
    assert!(changes <= 3, "{changes} reallocations for 300000 one-byte reads");
}

#[test]
fn stream_mode_reads_large_binary_payload_straight_into_the_callers_buffer() {
    // a 40 KiB binary fragment, a ping, then a final 20 KiB fragment
    let (a, b): (Vec<u8>, Vec<u8>) = ((0..40_960u32).map(|i| i as u8).collect(), vec![7u8; 20_480]);
    let f1 = frame(0x02, &a);
    let mut r = Reader::streaming(0, &f1[..4 + 100]);
    // the header and 100 bytes arrived through the buffer: a piece
    assert_eq!(r.next_event().unwrap(), Some(Event::Piece));
    assert_eq!(r.direct_piece(65_536), None, "bytes are held: they go first");
    let mut out = vec![0u8; 65_536];
    let p = r.take_piece(&mut out).unwrap();
    assert_eq!((p.len, p.offset, p.last), (100, 0, false));
    // now nothing is held: the rest may go straight to the caller, at
    // most what the frame has left and what the caller's buffer takes
    assert_eq!(r.direct_piece(1000), None, "a small buffer reads through the buffers");
    assert_eq!(r.direct_piece(65_536), Some(40_960 - 100));
    assert_eq!(r.direct_piece(16_384), Some(16_384));
    out[..16_384].copy_from_slice(&a[100..16_484]);
    let p = r.commit_direct(16_384);
    assert_eq!((p.kind, p.len, p.offset, p.last), (Kind::Binary, 16_384, 100, false));
    let rest = 40_960 - 16_484;
    assert_eq!(r.direct_piece(65_536), Some(rest));
    let p = r.commit_direct(rest);
    assert_eq!((p.len, p.offset, p.last), (rest, 16_484, false), "a fragment without FIN");
    assert!(r.mid_message() && r.in_message());
    // between fragments: a ping, then the final fragment's header
    let mut more = frame(0x89, b"hi");
    let f2 = frame(0x80, &b);
    more.extend_from_slice(&f2[..4]);
    r.read_target()[..more.len()].copy_from_slice(&more);
    r.commit(more.len());
    assert_eq!(r.next_event().unwrap(), Some(Event::Ping(b"hi".to_vec())));
    assert_eq!(r.next_event().unwrap(), None);
    assert_eq!(r.direct_piece(65_536), Some(20_480));
    let p = r.commit_direct(20_480);
    assert_eq!((p.len, p.offset, p.last), (20_480, 40_960, true), "FIN: the message ends");
    assert!(!r.mid_message() && !r.in_message());
    assert_eq!(r.direct_piece(65_536), None, "no frame open");
    // text is never read past the UTF-8 check; nor outside stream mode
    let t = frame(0x01, &[b'a'; 20_000]);
    let mut r = Reader::streaming(0, &t[..4]);
    assert_eq!(r.next_event().unwrap(), None);
    assert_eq!(r.direct_piece(65_536), None);
    let mut r = Reader::new(1 << 20, &f1[..4]);
    assert_eq!(r.next_event().unwrap(), None);
    assert_eq!(r.direct_piece(65_536), None);
}

#[test]
fn a_direct_read_spills_what_follows_the_frame_into_the_read_buffer() {
    // one read takes the rest of a fragment into the caller's buffer
    // and the next fragment's header and first bytes into the spill
    let f1 = frame(0x02, &[1u8; 30_000]);
    let f2 = frame(0x80, &[2u8; 500]);
    let mut r = Reader::streaming(0, &f1[..4]);
    assert_eq!(r.next_event().unwrap(), None);
    let room = r.direct_piece(65_536).unwrap();
    assert_eq!(room, 30_000);
    let spill = r.spill_target();
    assert!(spill.len() >= f2.len());
    spill[..f2.len()].copy_from_slice(&f2);
    let p = r.commit_direct(room);
    r.commit_spill(f2.len());
    assert_eq!((p.len, p.offset, p.last), (30_000, 0, false));
    assert_eq!(r.direct_piece(65_536), None, "buffered bytes are parsed first");
    assert_eq!(r.next_event().unwrap(), Some(Event::Message));
    let mut out = vec![0u8; 65_536];
    let p = r.take_piece(&mut out).unwrap();
    assert_eq!((p.len, p.offset, p.last), (500, 30_000, true));
    assert_eq!(&out[..500], &[2u8; 500][..]);
}

#[test]
fn stream_mode_direct_reads_are_not_capped_by_an_early_small_read() {
    // pieces taken as they arrive keep nothing held; the message buffer
    // must still offer the rest of a large frame in one read
    let f = frame(0x02, &vec![3u8; 200_000]);
    let mut r = Reader::streaming(0, &f[..10 + 16_000]);
    assert_eq!(r.next_event().unwrap(), Some(Event::Piece));
    let mut out = vec![0u8; 16_000];
    assert_eq!(r.take_piece(&mut out).unwrap().len, 16_000);
    assert_eq!(r.read_target().len(), 184_000);
    assert!(r.memory() <= READ_BUF + PIECE_CAP);
}

#[test]
fn mask_roundtrip() {
    for n in [0, 1, 5, 8, 13, 1000] {
        let p: Vec<u8> = (0..n).map(|i| i as u8).collect();
        let mut out = Vec::new();
        encode_frame(&mut out, 2, true, &p, [1, 2, 3, 4]);
        let h = out.len() - n;
        let mut body = out[h..].to_vec();
        apply_mask(&mut body, [1, 2, 3, 4]);
        assert_eq!(body, p);
        assert_eq!(out[h - 4..h], [1, 2, 3, 4]);
    }
}

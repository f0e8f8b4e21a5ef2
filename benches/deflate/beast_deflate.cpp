// beast-deflate: the compressed benchmark's Boost.Beast client
// (benches/deflate/run.sh): Beast 1.74's synchronous websocket::stream over a
// TCP socket with permessage-deflate, the shared bench's client contract
// (../shared/bench/README.md, "Contract": the command line and the JSON
// line of bench_common.h), messages from a file as wsclient-bench's
// --messages.
//
//   beast-deflate [--client-max-window-bits 9-15] [--server-max-window-bits 9-15]
//                 [--level 0-9] [--mem-level 1-9] [--client-no-context-takeover]
//                 [--server-no-context-takeover] [--no-deflate] [--name NAME]
//                 --messages FILE
//                 --url ws://127.0.0.1:PORT/ --workload rtt|pipeline --count N --size S
//
// Our flags come first, then the contract's. Without them, Beast's
// permessage_deflate defaults with client_enable = true (windows 15 both
// ways, context takeover, compLevel 8, memLevel 4); --no-deflate does not
// offer the extension. Beast's offer always names both windows
// ("server_max_window_bits=N; client_max_window_bits=N"); what it then
// uses is what the server answers.
//
// --messages FILE: K lines of exactly S bytes; message i is line i % K with
// the 16 hex digits of %016x of i written at byte 8 (text messages). Echo i
// is checked for length and stamp, and compared whole when i % 8 == 0;
// DEFLATEBENCH_TAMPER=stamp / body breaks one expectation (the self-test's
// proof that the checks are live). Any failure: message on stderr, exit 2,
// no JSON.
//
// rtt:      write message i, read its echo, validate; N times.
// pipeline: write until 64 are in flight, then read until 32 are in flight
//           (Beast's sync API has no batching: one write call per message).
// Settings: TCP_NODELAY, auto_fragment(false), one reused flat_buffer for
// reads; a compressed message goes out in one frame while its deflated
// bytes fit Beast's write buffer (4 KiB default, far above these messages).
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

#include "bench_common.h"

namespace net = boost::asio;
namespace beast = boost::beast;
namespace websocket = boost::beast::websocket;
using tcp = boost::asio::ip::tcp;

namespace {

constexpr size_t kStampOffset = 8;

struct Messages {
    std::vector<unsigned char> lines;  // K lines of `size` bytes, packed
    size_t count = 0;
    size_t size = 0;
    int tamper = 0;  // 1 stamp (message 5), 2 body (message 8)
};

void load(Messages &m, const char *path, size_t size) {
    FILE *f = std::fopen(path, "rb");
    if (!f) bench_die("--messages: cannot open the file");
    if (size < kStampOffset + BENCH_STAMP_LEN) bench_die("--messages: --size below 24 bytes");
    std::vector<unsigned char> data;
    unsigned char chunk[65536];
    size_t n;
    while ((n = std::fread(chunk, 1, sizeof chunk, f)) > 0) data.insert(data.end(), chunk, chunk + n);
    std::fclose(f);
    size_t at = 0;
    while (at < data.size()) {
        const void *nl = std::memchr(data.data() + at, '\n', data.size() - at);
        size_t len = nl ? (size_t)((const unsigned char *)nl - (data.data() + at)) : data.size() - at;
        if (len != size) {
            std::fprintf(stderr, "error: --messages: line %zu has %zu bytes, --size is %zu\n", m.count + 1, len, size);
            std::exit(2);
        }
        m.lines.insert(m.lines.end(), data.begin() + (long)at, data.begin() + (long)(at + len));
        m.count++;
        at += len + (nl != nullptr);
    }
    if (m.count == 0) bench_die("--messages: empty file");
    m.size = size;
    const char *t = std::getenv("DEFLATEBENCH_TAMPER");
    if (t && !std::strcmp(t, "stamp")) m.tamper = 1;
    else if (t && !std::strcmp(t, "body")) m.tamper = 2;
    else if (t && *t) bench_die("DEFLATEBENCH_TAMPER: stamp or body");
}

void stamp(uint64_t i, unsigned char *out) {
    static const char hex[] = "0123456789abcdef";
    for (int k = 0; k < BENCH_STAMP_LEN; k++) out[k] = (unsigned char)hex[(i >> (4 * (BENCH_STAMP_LEN - 1 - k))) & 0xf];
}

void make(const Messages &m, uint64_t i, unsigned char *out) {
    std::memcpy(out, m.lines.data() + (size_t)(i % m.count) * m.size, m.size);
    stamp(i, out + kStampOffset);
}

void check(const Messages &m, uint64_t i, const unsigned char *got, size_t len, unsigned char *scratch) {
    char msg[128];
    if (len != m.size) {
        std::snprintf(msg, sizeof msg, "echo %llu: length %zu != %zu", (unsigned long long)i, len, m.size);
        bench_die(msg);
    }
    unsigned char want[BENCH_STAMP_LEN];
    stamp(m.tamper == 1 && i == 5 ? 6 : i, want);
    if (std::memcmp(got + kStampOffset, want, BENCH_STAMP_LEN)) {
        std::snprintf(msg, sizeof msg, "echo %llu: stamp mismatch", (unsigned long long)i);
        bench_die(msg);
    }
    if (i % BENCH_FULL_CHECK_EVERY == 0) {
        make(m, i, scratch);
        if (m.tamper == 2 && i == 8) scratch[m.size - 1] ^= 1;
        if (std::memcmp(got, scratch, m.size)) {
            std::snprintf(msg, sizeof msg, "echo %llu: payload content mismatch", (unsigned long long)i);
            bench_die(msg);
        }
    }
}

int bits_arg(const char *v, int lo, int hi, const char *name) {
    char *end;
    long b = std::strtol(v, &end, 10);
    if (*end || b < lo || b > hi) {
        std::fprintf(stderr, "error: %s must be %d..%d\n", name, lo, hi);
        std::exit(2);
    }
    return (int)b;
}

}  // namespace

int main(int argc, char **argv) {
    websocket::permessage_deflate pmd;  // Beast's defaults
    pmd.client_enable = true;
    const char *messages = nullptr;
    std::string name = "beast-deflate";
    // our flags, before the contract's
    int i = 1;
    for (; i < argc && std::strncmp(argv[i], "--url", 5) && std::strcmp(argv[i], "--workload") &&
           std::strcmp(argv[i], "--count") && std::strcmp(argv[i], "--size") && std::strcmp(argv[i], "--window");
         i++) {
        const char *k = argv[i];
        bool has_v = i + 1 < argc;
        if (!std::strcmp(k, "--client-no-context-takeover")) pmd.client_no_context_takeover = true;
        else if (!std::strcmp(k, "--server-no-context-takeover")) pmd.server_no_context_takeover = true;
        else if (!std::strcmp(k, "--no-deflate")) pmd.client_enable = false;
        else if (!has_v) bench_die("missing value");
        else if (!std::strcmp(k, "--client-max-window-bits")) pmd.client_max_window_bits = bits_arg(argv[++i], 9, 15, k);
        else if (!std::strcmp(k, "--server-max-window-bits")) pmd.server_max_window_bits = bits_arg(argv[++i], 9, 15, k);
        else if (!std::strcmp(k, "--level")) pmd.compLevel = bits_arg(argv[++i], 0, 9, k);
        else if (!std::strcmp(k, "--mem-level")) pmd.memLevel = bits_arg(argv[++i], 1, 9, k);
        else if (!std::strcmp(k, "--messages")) messages = argv[++i];
        else if (!std::strcmp(k, "--name")) name = argv[++i];
        else bench_die("unknown argument");
    }
    if (!messages) bench_die("--messages FILE is needed");
    // the contract's flags: bench_parse_args reads argv[1..]
    argv[i - 1] = argv[0];
    struct bench_args a;
    bench_parse_args(argc - (i - 1), argv + (i - 1), &a);
    if (a.workload != W_RTT && a.workload != W_PIPELINE) bench_die("workloads: rtt, pipeline");
    Messages m;
    load(m, messages, a.size);
    std::vector<unsigned char> tx(a.size), scratch(a.size);

    std::vector<uint64_t> lat;
    uint64_t t0 = 0, t1 = 0;
    try {
        net::io_context ioc;
        tcp::resolver resolver(ioc);
        websocket::stream<tcp::socket> ws(ioc);
        net::connect(ws.next_layer(), resolver.resolve(a.host, std::to_string(a.port)));
        ws.next_layer().set_option(tcp::no_delay(true));
        ws.set_option(pmd);
        ws.auto_fragment(false);
        ws.read_message_max(64u << 20);
        ws.handshake(std::string(a.host) + ":" + std::to_string(a.port), a.path);
        ws.text(true);
        beast::flat_buffer buf;
        auto recv = [&](uint64_t k) {
            ws.read(buf);
            auto d = buf.data();
            check(m, k, static_cast<const unsigned char *>(d.data()), d.size(), scratch.data());
            buf.consume(buf.size());
        };
        if (a.workload == W_RTT) {
            lat.resize(a.count);
            t0 = bench_now_ns();
            for (uint64_t k = 0; k < a.count; k++) {
                make(m, k, tx.data());
                uint64_t ts = bench_now_ns();
                ws.write(net::buffer(tx.data(), tx.size()));
                recv(k);
                lat[k] = bench_now_ns() - ts;
            }
            t1 = bench_now_ns();
        } else {
            uint64_t sent = 0, recvd = 0, w = a.window;
            t0 = bench_now_ns();
            while (recvd < a.count) {
                while (sent < a.count && sent - recvd < w) {
                    make(m, sent, tx.data());
                    ws.write(net::buffer(tx.data(), tx.size()));
                    sent++;
                }
                uint64_t low = sent == a.count ? a.count : sent - w / 2;
                while (recvd < low) recv(recvd++);
            }
            t1 = bench_now_ns();
        }
        ws.close(websocket::close_code::normal);
        // the server's close answer, then TCP's end
        beast::error_code ec;
        while (!ec) ws.read(buf, ec);
    } catch (const std::exception &e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        return 2;
    }
    bench_report(name.c_str(), &a, t1 - t0, lat.empty() ? nullptr : lat.data(), lat.size());
    return 0;
}

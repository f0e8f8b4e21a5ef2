// beast-stream: the streaming benchmark's Boost.Beast client (header-only
// Boost 1.74 from Debian's libboost-dev), C++17. One connection, --bytes
// each way, one io_context on one thread with one read and one write
// outstanding at once (Beast allows one of each), against
// `wsclient-echo-server --frames`.
//
//   --mode pieces: one message sent with async_write_some(fin, piece), one
//     frame per piece of --piece bytes, and received with async_read_some
//     into a --piece buffer until is_message_done().
//   --mode whole: --bytes / --piece messages, async_write of each and
//     async_read into a reused flat_buffer.
//
// Tuning as the shared benchmark's Beast client: auto_fragment(false) and
// write_buffer_bytes(64 KiB) (Beast masks through that buffer, one write
// per buffer-full); BEAST_DEFAULTS=1 keeps Beast's defaults (auto_fragment
// on, 4 KiB) and reports as "beast-defaults". No compression, TCP_NODELAY,
// read_message_max(0) (no limit). Every byte is validated (stream_common.h).
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <string>
#include <vector>

#include "stream_common.h"

namespace beast = boost::beast;
namespace websocket = beast::websocket;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using wsstream = websocket::stream<tcp::socket>;

static sargs A;
static unsigned char *pat, *scratch;

struct Run {
    wsstream ws;
    bool pieces;
    uint64_t sent = 0, got = 0;
    std::vector<unsigned char> rbuf;
    beast::flat_buffer fb;

    explicit Run(net::io_context &ioc) : ws(ioc), pieces(!strcmp(A.mode, "pieces")) {}

    static void check(const beast::error_code &ec, const char *what) {
        if (ec) {
            fprintf(stderr, "error: %s: %s\n", what, ec.message().c_str());
            exit(2);
        }
    }

    void write_next() {
        if (sent == A.bytes) return;
        size_t n = A.bytes - sent < A.piece ? size_t(A.bytes - sent) : A.piece;
        const unsigned char *d = s_send_bytes(pat, &A, sent, n, scratch);
        auto done = [this, n](beast::error_code ec, size_t) {
            check(ec, "write");
            sent += n;
            write_next();
        };
        if (pieces) ws.async_write_some(sent + n == A.bytes, net::buffer(d, n), done);
        else ws.async_write(net::buffer(d, n), done);
    }

    void read_next() {
        if (pieces) {
            ws.async_read_some(net::buffer(rbuf.data(), rbuf.size()), [this](beast::error_code ec, size_t n) {
                check(ec, "read_some");
                if (got + n > A.bytes) s_die("more bytes than were sent");
                s_check(pat, got, rbuf.data(), n);
                got += n;
                if (ws.is_message_done()) {
                    if (got != A.bytes) s_die("the message ended early");
                    return;
                }
                read_next();
            });
        } else {
            ws.async_read(fb, [this](beast::error_code ec, size_t) {
                check(ec, "read");
                auto d = fb.cdata();
                if (!ws.got_binary() || d.size() != A.piece) s_die("message of the wrong type or size");
                s_check(pat, got, static_cast<const unsigned char *>(d.data()), d.size());
                got += d.size();
                fb.consume(fb.size());
                if (got < A.bytes) read_next();
            });
        }
    }
};

int main(int argc, char **argv) {
    s_parse(argc, argv, &A);
    pat = s_pattern();
    scratch = static_cast<unsigned char *>(malloc(MAX_PIECE));
    const char *e = getenv("BEAST_DEFAULTS");
    bool defaults = e && *e == '1';
    try {
        net::io_context ioc(1);
        Run r(ioc);
        tcp::endpoint ep(net::ip::make_address(A.host), (unsigned short)A.port);
        r.ws.next_layer().connect(ep);
        r.ws.next_layer().set_option(tcp::no_delay(true));
        websocket::permessage_deflate pmd;
        pmd.client_enable = false;
        pmd.server_enable = false;
        r.ws.set_option(pmd);
        if (!defaults) {
            r.ws.auto_fragment(false);
            r.ws.write_buffer_bytes(64 * 1024);
        }
        r.ws.read_message_max(0);
        r.ws.binary(true);
        r.ws.handshake(std::string(A.host) + ":" + std::to_string(A.port), A.path);
        r.rbuf.resize(A.piece);
        struct rusage r0, r1;
        getrusage(RUSAGE_SELF, &r0);
        uint64_t t0 = s_now_ns();
        r.write_next();
        r.read_next();
        ioc.run();
        uint64_t t1 = s_now_ns();
        getrusage(RUSAGE_SELF, &r1);
        if (r.got != A.bytes || r.sent != A.bytes) s_die("the run ended before every byte came back");
        r.ws.close(websocket::close_code::normal);
        s_report(defaults ? "beast-defaults" : "beast", &A, t1 - t0, &r0, &r1);
    } catch (const std::exception &ex) {
        fprintf(stderr, "error: %s\n", ex.what());
        return 2;
    }
    return 0;
}

/* wsclient-stream: the streaming benchmark's client on wsclient's public C
 * API. One connection, --bytes each way, the writer on its own thread and
 * the reader on the main thread at once (the library is full duplex across
 * threads), against `wsclient-echo-server --frames`.
 *
 *   --mode pieces: one message of --bytes, sent with ws_write_part in
 *     pieces of --piece bytes (WS_BINARY on the first, WS_CONT while more
 *     follow) and received with ws_read_part into a --piece buffer on a
 *     socket opened with {"streamReceive": true, "maxMessageSize": 0}.
 *   --mode whole: --bytes / --piece messages of --piece bytes, each sent
 *     with ws_write and received with ws_read (the lent buffer): the
 *     library's whole-message bulk path, the reference.
 *
 * Every byte is validated (stream_common.h); the clock runs from just
 * before the first write to the validation of the last byte.
 * --options replaces the ws_open options of the mode.
 * Diagnostics (not in the default table): --batch K queues pieces with
 * WS_MORE and hands every K-th to the kernel with those before it;
 * --read-cap N reads with an N-byte ws_read_part buffer. */
#include <pthread.h>

#include "stream_common.h"
#include "wsclient.h"

static struct sargs A;
static unsigned char *pat, *scratch;
static int sock;

static void fail(const char *what) {
    fprintf(stderr, "error: %s: %s (%s)\n", what, ws_last_error(), ws_error_name(ws_last_error_code()));
    exit(2);
}

static void *writer(void *arg) {
    (void)arg;
    int pieces = !strcmp(A.mode, "pieces");
    uint64_t k = 0;
    for (uint64_t off = 0; off < A.bytes; k++) {
        size_t n = A.bytes - off < A.piece ? (size_t)(A.bytes - off) : A.piece;
        const unsigned char *d = s_send_bytes(pat, &A, off, n, scratch);
        if (pieces) {
            int flags = (off == 0 ? WS_BINARY : 0) | (off + n < A.bytes ? WS_CONT : 0);
            /* --batch K: queue K pieces, hand them to the kernel with the K-th */
            if (A.batch > 1 && (k + 1) % A.batch && off + n < A.bytes) flags |= WS_MORE;
            if (ws_write_part(sock, d, n, flags) != WS_OK) fail("ws_write_part");
        } else if (ws_write(sock, d, n, WS_BINARY) != WS_OK) {
            fail("ws_write");
        }
        off += n;
    }
    return NULL;
}

static void read_pieces(void) {
    unsigned char *buf = malloc(A.read_cap);
    if (!buf) s_die("out of memory");
    uint64_t got = 0;
    for (;;) {
        ws_part p;
        int r = ws_read_part(sock, buf, A.read_cap, &p, -1);
        if (r != WS_OK) {
            if (r == WS_CLOSED) s_die("connection closed by the server");
            fail("ws_read_part");
        }
        if (p.type != WS_BINARY || p.offset != got) s_die("piece of the wrong type or at the wrong offset");
        s_check(pat, got, buf, p.len);
        got += p.len;
        if (p.last) break;
        if (got > A.bytes) s_die("more bytes than were sent");
    }
    if (got != A.bytes) s_die("the message ended early");
    free(buf);
}

static void read_whole(void) {
    uint64_t got = 0;
    while (got < A.bytes) {
        const void *data;
        size_t len;
        int type;
        int r = ws_read(sock, &data, &len, &type, -1);
        if (r != WS_OK) {
            if (r == WS_CLOSED) s_die("connection closed by the server");
            fail("ws_read");
        }
        if (type != WS_BINARY || len != A.piece) s_die("message of the wrong type or size");
        s_check(pat, got, data, len);
        got += len;
    }
}

int main(int argc, char **argv) {
    s_parse(argc, argv, &A);
    pat = s_pattern();
    scratch = malloc(MAX_PIECE);
    int pieces = !strcmp(A.mode, "pieces");
    const char *opts = A.options ? A.options
                       : pieces  ? "{\"streamReceive\": true, \"maxMessageSize\": 0}"
                                 : "{\"maxMessageSize\": 1073741824}";
    sock = ws_open(A.url, opts);
    if (sock < 0) fail("ws_open");
    struct rusage r0, r1;
    getrusage(RUSAGE_SELF, &r0);
    uint64_t t0 = s_now_ns();
    pthread_t w;
    if (pthread_create(&w, NULL, writer, NULL)) s_die("pthread_create");
    if (pieces) read_pieces();
    else read_whole();
    pthread_join(w, NULL);
    uint64_t t1 = s_now_ns();
    getrusage(RUSAGE_SELF, &r1);
    if (ws_close(sock, 1000, "") != WS_OK) fail("ws_close");
    s_report("wsclient", &A, t1 - t0, &r0, &r1);
    return 0;
}

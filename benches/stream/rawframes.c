/* rawframes: the echo server's ceiling. Not a WebSocket library: a raw TCP
 * client that does the upgrade by hand, then sends pre-built, pre-masked
 * frames of --piece bytes (a batch of frames built once, written again and
 * again with plain blocking send) on one thread and reads the echo on
 * another, comparing every byte with the pre-built image of the echo. It
 * does no framing, masking or parsing work while the clock runs, so its
 * MB/s is what `wsclient-echo-server --frames` (and the kernel's loopback)
 * can relay: a library client at this figure is held back by the server.
 * Same command line and JSON as the other clients; --mode is ignored
 * (every frame is a whole binary message to the relay, which does not
 * look at opcodes), --bytes must be a multiple of --piece. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sys/socket.h>

#include "stream_common.h"

static struct sargs A;
static int fd;
static unsigned char *batch, *image; /* what we send, what comes back */
static size_t frame_len, echo_len, nframes_batch;
static uint64_t frames_total;
static const unsigned char MASK[4] = {0x5a, 0xc3, 0x0f, 0x96};

static size_t put_header(unsigned char *h, uint64_t len, int masked) {
    size_t n = 0;
    h[n++] = 0x82; /* FIN, binary */
    unsigned char m = masked ? 0x80 : 0;
    if (len <= 125) {
        h[n++] = m | (unsigned char)len;
    } else if (len <= 0xffff) {
        h[n++] = m | 126;
        h[n++] = (unsigned char)(len >> 8);
        h[n++] = (unsigned char)len;
    } else {
        h[n++] = m | 127;
        for (int i = 7; i >= 0; i--) h[n++] = (unsigned char)(len >> (8 * i));
    }
    if (masked) {
        memcpy(h + n, MASK, 4);
        n += 4;
    }
    return n;
}

static void send_all(const unsigned char *p, size_t n) {
    while (n) {
        ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) s_die("send failed");
        p += k;
        n -= (size_t)k;
    }
}

static void *writer(void *arg) {
    (void)arg;
    for (uint64_t f = 0; f < frames_total;) {
        uint64_t k = frames_total - f < nframes_batch ? frames_total - f : nframes_batch;
        send_all(batch, (size_t)k * frame_len);
        f += k;
    }
    return NULL;
}

static void handshake(void) {
    char req[1024];
    int n = snprintf(req, sizeof req,
                     "GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
                     A.path, A.host, A.port);
    send_all((const unsigned char *)req, (size_t)n);
    char resp[4096];
    size_t got = 0;
    /* byte by byte: nothing of the frame stream may be read here */
    while (got < 4 || memcmp(resp + got - 4, "\r\n\r\n", 4)) {
        if (got == sizeof resp - 1) s_die("upgrade response too long");
        ssize_t k = recv(fd, resp + got, 1, 0);
        if (k <= 0) s_die("upgrade: connection closed");
        got++;
    }
    resp[got] = 0;
    if (strncmp(resp, "HTTP/1.1 101", 12)) s_die("upgrade refused");
}

int main(int argc, char **argv) {
    s_parse(argc, argv, &A);
    if (A.bytes % A.piece) s_die("--bytes must be a multiple of --piece");
    unsigned char *pat = s_pattern();
    unsigned char h[14];
    size_t hm = put_header(h, A.piece, 1), hu = put_header(h, A.piece, 0);
    frame_len = hm + A.piece;
    echo_len = hu + A.piece;
    frames_total = A.bytes / A.piece;
    nframes_batch = A.piece >= (1u << 20) ? 2 : (size_t)((2u << 20) / A.piece);
    if (nframes_batch == 0) nframes_batch = 1;
    if (nframes_batch > frames_total) nframes_batch = (size_t)frames_total;
    batch = malloc(nframes_batch * frame_len);
    size_t image_len = nframes_batch * echo_len;
    image = malloc(image_len * 2); /* twice, so any window up to image_len is contiguous */
    if (!batch || !image) s_die("out of memory");
    for (size_t f = 0; f < nframes_batch; f++) {
        unsigned char *b = batch + f * frame_len, *e = image + f * echo_len;
        const unsigned char *payload = pat + (f * A.piece) % PATTERN_PERIOD;
        put_header(b, A.piece, 1);
        put_header(e, A.piece, 0);
        for (size_t i = 0; i < A.piece; i++) b[hm + i] = payload[i] ^ MASK[i & 3];
        memcpy(e + hu, payload, A.piece);
        if (A.tamper >= 0 && (uint64_t)A.tamper / A.piece == f) b[hm + A.tamper % A.piece] ^= 0x20;
    }
    memcpy(image + image_len, image, image_len);

    fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)A.port)};
    if (fd < 0 || inet_pton(AF_INET, A.host, &sa.sin_addr) != 1) s_die("socket / address");
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa)) s_die("connect failed");
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    handshake();

    size_t rcap = 256 * 1024;
    if (rcap > image_len) rcap = image_len;
    unsigned char *rbuf = malloc(rcap);
    uint64_t total = frames_total * echo_len, got = 0;
    struct rusage r0, r1;
    getrusage(RUSAGE_SELF, &r0);
    uint64_t t0 = s_now_ns();
    pthread_t w;
    if (pthread_create(&w, NULL, writer, NULL)) s_die("pthread_create");
    while (got < total) {
        size_t want = total - got < rcap ? (size_t)(total - got) : rcap;
        ssize_t k = recv(fd, rbuf, want, 0);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) s_die("recv: connection closed");
        if (memcmp(rbuf, image + got % image_len, (size_t)k)) {
            size_t i = 0;
            while (rbuf[i] == image[(got + i) % image_len]) i++;
            fprintf(stderr, "error: validation: mismatch at byte %llu of the echoed frames\n",
                    (unsigned long long)(got + i));
            exit(3);
        }
        got += (uint64_t)k;
    }
    pthread_join(w, NULL);
    uint64_t t1 = s_now_ns();
    getrusage(RUSAGE_SELF, &r1);
    /* close frame (masked, no payload); the server echoes it and closes */
    unsigned char cl[6] = {0x88, 0x80, MASK[0], MASK[1], MASK[2], MASK[3]};
    send_all(cl, sizeof cl);
    while (recv(fd, rbuf, rcap, 0) > 0) {
    }
    s_report("raw-frames", &A, t1 - t0, &r0, &r1);
    return 0;
}

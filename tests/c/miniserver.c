/* A scriptable WebSocket server for the C tests; see miniserver.h. */
#define _GNU_SOURCE /* strcasestr, accept4 */
#include "miniserver.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "testutil.h"

/* --- SHA-1 (RFC 3174) and base64, only for Sec-WebSocket-Accept ---------- */

struct sha1 {
    uint32_t h[5];
    uint64_t bits;
    unsigned char block[64];
    size_t used;
};

static uint32_t rol(uint32_t x, int n)
{
    return (x << n) | (x >> (32 - n));
}

static void sha1_block(struct sha1 *s, const unsigned char *p)
{
    uint32_t w[80];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
               (uint32_t)p[4 * i + 2] << 8 | (uint32_t)p[4 * i + 3];
    for (int i = 16; i < 80; i++)
        w[i] = rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
    uint32_t a = s->h[0], b = s->h[1], c = s->h[2], d = s->h[3], e = s->h[4];
    for (int i = 0; i < 80; i++) {
        uint32_t f, k;
        if (i < 20) {
            f = (b & c) | (~b & d);
            k = 0x5A827999;
        } else if (i < 40) {
            f = b ^ c ^ d;
            k = 0x6ED9EBA1;
        } else if (i < 60) {
            f = (b & c) | (b & d) | (c & d);
            k = 0x8F1BBCDC;
        } else {
            f = b ^ c ^ d;
            k = 0xCA62C1D6;
        }
        uint32_t t = rol(a, 5) + f + e + k + w[i];
        e = d;
        d = c;
        c = rol(b, 30);
        b = a;
        a = t;
    }
    s->h[0] += a;
    s->h[1] += b;
    s->h[2] += c;
    s->h[3] += d;
    s->h[4] += e;
}

static void sha1_update(struct sha1 *s, const void *data, size_t len)
{
    const unsigned char *p = data;
    s->bits += (uint64_t)len * 8;
    while (len > 0) {
        size_t n = 64 - s->used < len ? 64 - s->used : len;
        memcpy(s->block + s->used, p, n);
        s->used += n;
        p += n;
        len -= n;
        if (s->used == 64) {
            sha1_block(s, s->block);
            s->used = 0;
        }
    }
}

static void sha1_digest(const void *data, size_t len, unsigned char out[20])
{
    struct sha1 s = {{0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0}, 0, {0}, 0};
    sha1_update(&s, data, len);
    uint64_t bits = s.bits;
    unsigned char pad = 0x80;
    sha1_update(&s, &pad, 1);
    unsigned char zero = 0;
    while (s.used != 56)
        sha1_update(&s, &zero, 1);
    unsigned char be[8];
    for (int i = 0; i < 8; i++)
        be[i] = (unsigned char)(bits >> (56 - 8 * i));
    sha1_update(&s, be, 8);
    for (int i = 0; i < 5; i++) {
        out[4 * i] = (unsigned char)(s.h[i] >> 24);
        out[4 * i + 1] = (unsigned char)(s.h[i] >> 16);
        out[4 * i + 2] = (unsigned char)(s.h[i] >> 8);
        out[4 * i + 3] = (unsigned char)s.h[i];
    }
}

static void base64(const unsigned char *in, size_t len, char *out)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0;
    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16;
        if (i + 1 < len)
            v |= (uint32_t)in[i + 1] << 8;
        if (i + 2 < len)
            v |= in[i + 2];
        out[o++] = tab[(v >> 18) & 63];
        out[o++] = tab[(v >> 12) & 63];
        out[o++] = i + 1 < len ? tab[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < len ? tab[v & 63] : '=';
    }
    out[o] = '\0';
}

void ms_accept_key(const char *key, char *out)
{
    static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    char buf[256];
    int n = snprintf(buf, sizeof buf, "%s%s", key, guid);
    unsigned char digest[20];
    sha1_digest(buf, n > 0 && (size_t)n < sizeof buf ? (size_t)n : 0, digest);
    base64(digest, sizeof digest, out);
}

/* --- I/O with bounded, stoppable waits ------------------------------------ */

/* Waits for `events` on the connection; 1 ready, 0 timeout/stop, -1 error. */
static int wait_fd(struct ms_conn *c, short events, int timeout_ms)
{
    int64_t deadline = wst_now_ms() + timeout_ms;
    for (;;) {
        if (c->server->stop)
            return 0;
        int64_t left = deadline - wst_now_ms();
        if (left <= 0)
            return 0;
        struct pollfd p = {c->fd, events, 0};
        int rc = poll(&p, 1, left < 50 ? (int)left : 50);
        if (rc > 0)
            return 1;
        if (rc < 0 && errno != EINTR)
            return -1;
    }
}

/* Reads at most `cap` bytes (pending bytes first). >0 bytes, 0 EOF, -1 timeout/error. */
static ssize_t read_some(struct ms_conn *c, void *buf, size_t cap, int timeout_ms)
{
    if (c->pending_len > 0) {
        size_t n = c->pending_len < cap ? c->pending_len : cap;
        memcpy(buf, c->pending, n);
        memmove(c->pending, c->pending + n, c->pending_len - n);
        c->pending_len -= n;
        return (ssize_t)n;
    }
    for (;;) {
        if (wait_fd(c, POLLIN, timeout_ms) != 1)
            return -1;
        ssize_t n = recv(c->fd, buf, cap, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == ECONNRESET))
            return 0;
        return n < 0 ? -1 : n;
    }
}

static int read_exact(struct ms_conn *c, void *buf, size_t len, int64_t deadline)
{
    unsigned char *p = buf;
    while (len > 0) {
        int64_t left = deadline - wst_now_ms();
        if (left <= 0)
            return -1;
        ssize_t n = read_some(c, p, len, (int)left);
        if (n <= 0)
            return n == 0 ? 0 : -1;
        p += n;
        len -= (size_t)n;
    }
    return 1;
}

int ms_send_raw(struct ms_conn *c, const void *buf, size_t len)
{
    const unsigned char *p = buf;
    while (len > 0) {
        if (wait_fd(c, POLLOUT, 10000) != 1)
            return -1;
        ssize_t n = send(c->fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int ms_send_frame(struct ms_conn *c, unsigned b0, const void *payload, size_t len)
{
    if ((b0 & 0x0f) == 0x8)
        c->close_sent = 1;
    unsigned char hdr[10];
    size_t h = 0;
    hdr[h++] = (unsigned char)b0;
    if (len < 126) {
        hdr[h++] = (unsigned char)len;
    } else if (len <= 0xffff) {
        hdr[h++] = 126;
        hdr[h++] = (unsigned char)(len >> 8);
        hdr[h++] = (unsigned char)len;
    } else {
        hdr[h++] = 127;
        for (int i = 7; i >= 0; i--)
            hdr[h++] = (unsigned char)((uint64_t)len >> (8 * i));
    }
    if (ms_send_raw(c, hdr, h) != 0)
        return -1;
    return len ? ms_send_raw(c, payload, len) : 0;
}

int ms_read_request(struct ms_conn *c, int timeout_ms)
{
    int64_t deadline = wst_now_ms() + timeout_ms;
    c->request_len = 0;
    while (c->request_len < sizeof c->request - 1) {
        int64_t left = deadline - wst_now_ms();
        if (left <= 0)
            return -1;
        ssize_t n = read_some(c, c->request + c->request_len,
                              sizeof c->request - 1 - c->request_len, (int)left);
        if (n <= 0)
            return -1;
        c->request_len += (size_t)n;
        c->request[c->request_len] = '\0';
        char *end = strstr(c->request, "\r\n\r\n");
        if (end) {
            /* Keep what follows the request for ms_read_frame. */
            size_t head = (size_t)(end + 4 - c->request);
            size_t extra = c->request_len - head;
            memcpy(c->pending, c->request + head, extra);
            c->pending_len = extra;
            c->request_len = head;
            c->request[head] = '\0';
            return 0;
        }
    }
    return -1;
}

int ms_request_header(const struct ms_conn *c, const char *name, char *out, size_t cap)
{
    size_t nl = strlen(name);
    const char *line = strstr(c->request, "\r\n");
    while (line && line[2] != '\r') {
        line += 2;
        if (strncasecmp(line, name, nl) == 0 && line[nl] == ':') {
            const char *v = line + nl + 1;
            while (*v == ' ' || *v == '\t')
                v++;
            const char *e = strstr(v, "\r\n");
            size_t n = e ? (size_t)(e - v) : strlen(v);
            if (n >= cap)
                return -1;
            memcpy(out, v, n);
            out[n] = '\0';
            return 0;
        }
        line = strstr(line, "\r\n");
    }
    return -1;
}

int ms_handshake(struct ms_conn *c, const char *extra_headers)
{
    if (ms_read_request(c, 10000) != 0)
        return -1;
    return ms_send_101(c, extra_headers);
}

int ms_send_101(struct ms_conn *c, const char *extra_headers)
{
    char key[128], accept[32], resp[2048];
    if (ms_request_header(c, "Sec-WebSocket-Key", key, sizeof key) != 0)
        return -1;
    ms_accept_key(key, accept);
    int n = snprintf(resp, sizeof resp,
                     "HTTP/1.1 101 Switching Protocols\r\n"
                     "Upgrade: websocket\r\n"
                     "Connection: Upgrade\r\n"
                     "Sec-WebSocket-Accept: %s\r\n"
                     "%s\r\n",
                     accept, extra_headers ? extra_headers : "");
    if (n < 0 || (size_t)n >= sizeof resp)
        return -1;
    return ms_send_raw(c, resp, (size_t)n);
}

int ms_read_frame(struct ms_conn *c, unsigned *b0, unsigned char *buf, size_t cap,
                  size_t *len, int timeout_ms)
{
    int64_t deadline = wst_now_ms() + timeout_ms;
    unsigned char h[2];
    int r = read_exact(c, h, 2, deadline);
    if (r <= 0)
        return r;
    uint64_t n = h[1] & 0x7f;
    if (n == 126 || n == 127) {
        unsigned char ext[8];
        size_t el = n == 126 ? 2 : 8;
        if ((r = read_exact(c, ext, el, deadline)) <= 0)
            return r;
        n = 0;
        for (size_t i = 0; i < el; i++)
            n = n << 8 | ext[i];
    }
    unsigned char mask[4] = {0, 0, 0, 0};
    if (h[1] & 0x80) {
        if ((r = read_exact(c, mask, 4, deadline)) <= 0)
            return r;
    } else {
        c->unmasked_frame = 1;
    }
    for (uint64_t i = 0; i < n; i++) {
        unsigned char byte;
        if ((r = read_exact(c, &byte, 1, deadline)) <= 0)
            return r;
        if (i < cap)
            buf[i] = byte ^ mask[i % 4];
    }
    *b0 = h[0];
    *len = (size_t)n;
    return 1;
}

int ms_wait_close(struct ms_conn *c, int timeout_ms)
{
    int64_t deadline = wst_now_ms() + timeout_ms;
    for (;;) {
        int64_t left = deadline - wst_now_ms();
        if (left <= 0)
            return -1;
        unsigned b0;
        unsigned char buf[256];
        size_t len;
        int r = ms_read_frame(c, &b0, buf, sizeof buf, &len, (int)left);
        if (r == 0)
            return 0;
        if (r < 0)
            return -1;
        if ((b0 & 0x0f) == 0x8) {
            int code = len >= 2 ? buf[0] << 8 | buf[1] : 1005;
            /* Answer unless we started the closing handshake; then return:
             * the caller closes TCP first, as a server should (RFC 6455
             * section 7.1.1). */
            if (!c->close_sent)
                ms_send_frame(c, 0x88, buf, len >= 2 ? 2 : 0);
            return code;
        }
    }
}

int ms_wait_eof(struct ms_conn *c, int timeout_ms)
{
    int64_t deadline = wst_now_ms() + timeout_ms;
    unsigned char buf[4096];
    for (;;) {
        int64_t left = deadline - wst_now_ms();
        if (left <= 0)
            return -1;
        ssize_t n = read_some(c, buf, sizeof buf, (int)left);
        if (n == 0)
            return 0;
        if (n < 0)
            return -1;
    }
}

/* --- server thread -------------------------------------------------------- */

static void *server_main(void *arg)
{
    struct miniserver *ms = arg;
    while (!ms->stop) {
        struct pollfd p = {ms->listen_fd, POLLIN, 0};
        int rc = poll(&p, 1, 50);
        if (rc <= 0)
            continue;
        int fd = accept4(ms->listen_fd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0)
            continue;
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        struct ms_conn *c = calloc(1, sizeof *c);
        if (!c) {
            close(fd);
            continue;
        }
        c->fd = fd;
        c->server = ms;
        __atomic_add_fetch(&ms->connections, 1, __ATOMIC_SEQ_CST);
        ms->script(c, ms->arg);
        close(fd);
        free(c);
    }
    return NULL;
}

int ms_start(struct miniserver *ms, ms_script script, void *arg)
{
    memset(ms, 0, sizeof *ms);
    ms->script = script;
    ms->arg = arg;
    ms->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (ms->listen_fd < 0) {
        wst_fail(__FILE__, __LINE__, "socket: %s", strerror(errno));
        return -1;
    }
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t alen = sizeof a;
    if (bind(ms->listen_fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        listen(ms->listen_fd, 16) != 0 ||
        getsockname(ms->listen_fd, (struct sockaddr *)&a, &alen) != 0) {
        wst_fail(__FILE__, __LINE__, "listen: %s", strerror(errno));
        close(ms->listen_fd);
        return -1;
    }
    ms->port = ntohs(a.sin_port);
    snprintf(ms->url, sizeof ms->url, "ws://127.0.0.1:%d/", ms->port);
    if (pthread_create(&ms->thread, NULL, server_main, ms) != 0) {
        wst_fail(__FILE__, __LINE__, "pthread_create failed");
        close(ms->listen_fd);
        return -1;
    }
    ms->started = 1;
    return 0;
}

void ms_stop(struct miniserver *ms)
{
    if (!ms->started)
        return;
    ms->stop = 1;
    pthread_join(ms->thread, NULL);
    close(ms->listen_fd);
    ms->started = 0;
}

/* --- Servers that go away and come back ----------------------------------- */

int ms_listen(int port, int *bound)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        wst_fail(__FILE__, __LINE__, "socket: %s", strerror(errno));
        return -1;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons((uint16_t)port);
    socklen_t alen = sizeof a;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, 16) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &alen) != 0) {
        wst_fail(__FILE__, __LINE__, "listen on 127.0.0.1:%d: %s", port, strerror(errno));
        close(fd);
        return -1;
    }
    *bound = ntohs(a.sin_port);
    return fd;
}

int ms_start_port(struct miniserver *ms, int port, ms_script script, void *arg)
{
    memset(ms, 0, sizeof *ms);
    ms->script = script;
    ms->arg = arg;
    ms->listen_fd = ms_listen(port, &ms->port);
    if (ms->listen_fd < 0)
        return -1;
    snprintf(ms->url, sizeof ms->url, "ws://127.0.0.1:%d/", ms->port);
    if (pthread_create(&ms->thread, NULL, server_main, ms) != 0) {
        wst_fail(__FILE__, __LINE__, "pthread_create failed");
        close(ms->listen_fd);
        return -1;
    }
    ms->started = 1;
    return 0;
}

int ms_serve_one(int listen_fd, ms_script script, void *arg, int timeout_ms)
{
    int64_t deadline = wst_now_ms() + timeout_ms;
    int fd = -1;
    while (fd < 0) {
        int64_t left = deadline - wst_now_ms();
        if (left <= 0)
            break;
        struct pollfd p = {listen_fd, POLLIN, 0};
        int rc = poll(&p, 1, (int)left);
        if (rc < 0 && errno != EINTR)
            break;
        if (rc > 0)
            fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
    }
    close(listen_fd);
    if (fd < 0)
        return -1;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    /* A private, never-stopped owner: the script's own timeouts bound it. */
    struct miniserver *owner = calloc(1, sizeof *owner);
    struct ms_conn *c = calloc(1, sizeof *c);
    if (!owner || !c) {
        free(owner);
        free(c);
        close(fd);
        return -1;
    }
    owner->listen_fd = -1;
    owner->connections = 1;
    c->fd = fd;
    c->server = owner;
    script(c, arg);
    close(fd);
    free(c);
    free(owner);
    return 0;
}

int ms_echo_until_close(struct ms_conn *c, int timeout_ms)
{
    int64_t deadline = wst_now_ms() + timeout_ms;
    unsigned char *buf = malloc(65536);
    if (!buf)
        return -1;
    int result = -1;
    for (;;) {
        int64_t left = deadline - wst_now_ms();
        if (left <= 0)
            break;
        unsigned b0;
        size_t len;
        int r = ms_read_frame(c, &b0, buf, 65536, &len, (int)left);
        if (r == 0) {
            result = 0;
            break;
        }
        if (r < 0)
            break;
        size_t n = len < 65536 ? len : 65536;
        unsigned op = b0 & 0x0f;
        if (op == 0x1 || op == 0x2) {
            if (ms_send_frame(c, 0x80 | op, buf, n) != 0)
                break;
        } else if (op == 0x9) {
            if (ms_send_frame(c, 0x8a, buf, n) != 0)
                break;
        } else if (op == 0x8) {
            result = len >= 2 ? buf[0] << 8 | buf[1] : 1005;
            if (!c->close_sent)
                ms_send_frame(c, 0x88, buf, len >= 2 ? 2 : 0);
            break;
        }
    }
    free(buf);
    return result;
}

/* fast-relay: a second frame-by-frame echo server for the streaming
 * benchmark, built to have a higher ceiling than `wsclient-echo-server
 * --frames`, so that the clients' own costs show in MB/s. Like that
 * server it never holds a message: frames go back with their FIN and
 * opcode bits as their bytes arrive (pings come back as pongs, a close
 * frame is echoed and ends the connection). Unlike it, it reads up to
 * 1 MiB per recv and relays every frame in it with one send (the other
 * reads each header in three small reads and writes header and payload
 * separately, 64 KiB at a time).
 *
 *   fast-relay [--port N]     prints "LISTENING <port>" when ready
 *
 * One thread per connection, blocking I/O, loopback only. Not a general
 * server: no UTF-8 checks, no limits but 2^63 per frame; for benchmarks. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define RBUF ((size_t)1 << 20)

static int send_all(int fd, const unsigned char *p, size_t n) {
    while (n) {
        ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) return -1;
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

/* reads the upgrade request and answers it; leftover bytes after the
 * request are copied to buf (returns their count, -1 on failure) */
static ssize_t upgrade(int fd, unsigned char *buf) {
    char req[8192];
    size_t got = 0;
    char *end = NULL;
    while (!end) {
        if (got == sizeof req - 1) return -1;
        ssize_t k = recv(fd, req + got, sizeof req - 1 - got, 0);
        if (k <= 0) return -1;
        got += (size_t)k;
        req[got] = 0;
        end = strstr(req, "\r\n\r\n");
    }
    size_t head = (size_t)(end + 4 - req);
    const char *key = NULL;
    for (char *line = strstr(req, "\r\n"); line && line < end; line = strstr(line + 2, "\r\n")) {
        if (!strncasecmp(line + 2, "Sec-WebSocket-Key:", 18)) {
            key = line + 2 + 18;
            break;
        }
    }
    if (!key) return -1;
    while (*key == ' ') key++;
    size_t klen = strcspn(key, "\r\n ");
    char cat[128];
    if (klen > 64) return -1;
    snprintf(cat, sizeof cat, "%.*s258EAFA5-E914-47DA-95CA-C5AB0DC85B11", (int)klen, key);
    unsigned char sha[SHA_DIGEST_LENGTH];
    SHA1((const unsigned char *)cat, strlen(cat), sha);
    unsigned char acc[64];
    EVP_EncodeBlock(acc, sha, SHA_DIGEST_LENGTH);
    char resp[256];
    int n = snprintf(resp, sizeof resp,
                     "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Accept: %s\r\n\r\n",
                     acc);
    if (send_all(fd, (const unsigned char *)resp, (size_t)n)) return -1;
    memcpy(buf, req + head, got - head);
    return (ssize_t)(got - head);
}

static void unmask(unsigned char *p, size_t n, const unsigned char m[4], uint64_t phase) {
    unsigned char r[4];
    for (int i = 0; i < 4; i++) r[i] = m[(phase + (uint64_t)i) & 3];
    uint64_t m8;
    unsigned char w[8] = {r[0], r[1], r[2], r[3], r[0], r[1], r[2], r[3]};
    memcpy(&m8, w, 8);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t v;
        memcpy(&v, p + i, 8);
        v ^= m8;
        memcpy(p + i, &v, 8);
    }
    for (; i < n; i++) p[i] ^= r[i & 3];
}

static void *conn(void *arg) {
    int fd = (int)(intptr_t)arg;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    unsigned char *in = malloc(RBUF), *out = malloc(RBUF + 64 * 14);
    ssize_t have = in && out ? upgrade(fd, in) : -1;
    size_t start = 0, end = have > 0 ? (size_t)have : 0;
    /* the frame being relayed: payload bytes still to come */
    uint64_t remaining = 0, phase = 0;
    unsigned char mask[4] = {0};
    int masked = 0, closing = 0;
    if (have < 0) goto done;
    for (;;) {
        size_t o = 0;
        /* everything buffered: payload of the open frame, then headers */
        for (;;) {
            if (remaining > 0) {
                size_t n = end - start;
                if (n > remaining) n = (size_t)remaining;
                if (n == 0) break;
                if (masked) unmask(in + start, n, mask, phase);
                memcpy(out + o, in + start, n);
                o += n;
                start += n;
                remaining -= n;
                phase += n;
                continue;
            }
            if (closing) break;
            size_t avail = end - start;
            if (avail < 2) break;
            unsigned char b0 = in[start], b1 = in[start + 1];
            size_t ext = (b1 & 0x7f) == 126 ? 2 : (b1 & 0x7f) == 127 ? 8 : 0;
            size_t hl = 2 + ext + ((b1 & 0x80) ? 4 : 0);
            if (avail < hl) break;
            uint64_t len = b1 & 0x7f;
            if (ext) {
                len = 0;
                for (size_t i = 0; i < ext; i++) len = len << 8 | in[start + 2 + i];
            }
            masked = (b1 & 0x80) != 0;
            if (masked) memcpy(mask, in + start + 2 + ext, 4);
            unsigned op = b0 & 0x0f;
            unsigned char ob0 = op == 0x9 ? (unsigned char)((b0 & 0xf0) | 0xA) : b0;
            out[o++] = ob0;
            if (len <= 125) {
                out[o++] = (unsigned char)len;
            } else if (len <= 0xffff) {
                out[o++] = 126;
                out[o++] = (unsigned char)(len >> 8);
                out[o++] = (unsigned char)len;
            } else {
                out[o++] = 127;
                for (int i = 7; i >= 0; i--) out[o++] = (unsigned char)(len >> (8 * i));
            }
            start += hl;
            remaining = len;
            phase = 0;
            if (op == 0x8) closing = 1; /* its payload (<= 125) follows, then we stop */
            if (o > RBUF) break;        /* headers of many tiny frames: send first */
        }
        if (o && send_all(fd, out, o)) goto done;
        if (closing && remaining == 0) {
            shutdown(fd, SHUT_WR);
            goto done;
        }
        if (start == end) {
            start = end = 0;
        } else if (start > 0) {
            memmove(in, in + start, end - start);
            end -= start;
            start = 0;
        }
        ssize_t k = recv(fd, in + end, RBUF - end, 0);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) goto done;
        end += (size_t)k;
    }
done:
    free(in);
    free(out);
    close(fd);
    return NULL;
}

int main(int argc, char **argv) {
    int port = 0;
    for (int i = 1; i + 1 < argc; i += 2)
        if (!strcmp(argv[i], "--port")) port = atoi(argv[i + 1]);
    int ls = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (ls < 0 || bind(ls, (struct sockaddr *)&sa, sizeof sa) || listen(ls, 64)) {
        perror("fast-relay: listen");
        return 1;
    }
    socklen_t sl = sizeof sa;
    getsockname(ls, (struct sockaddr *)&sa, &sl);
    printf("LISTENING %d\n", ntohs(sa.sin_port));
    fflush(stdout);
    for (;;) {
        int fd = accept(ls, NULL, NULL);
        if (fd < 0) {
            if (errno == EINTR) continue;
            perror("fast-relay: accept");
            continue;
        }
        pthread_t t;
        if (pthread_create(&t, NULL, conn, (void *)(intptr_t)fd)) {
            close(fd);
            continue;
        }
        pthread_detach(t);
    }
}

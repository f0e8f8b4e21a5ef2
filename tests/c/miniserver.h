/*
 * A scriptable WebSocket server in C for the tests that need a misbehaving
 * or silent peer (the echo server behaves). It listens on 127.0.0.1:0, runs
 * on its own thread, takes connections one at a time and hands each to a
 * script function that decides what to send, byte by byte if need be.
 *
 *     static void script(struct ms_conn *c, void *arg) {
 *         if (ms_handshake(c, NULL) != 0) return;      // answer with 101
 *         ms_send_frame(c, 0x88, "\x0f\xa1" "bye", 5); // close 4001 "bye"
 *         ms_wait_close(c, 5000);
 *     }
 *     struct miniserver ms;
 *     ms_start(&ms, script, NULL);  ... ws_open(ms.url, NULL) ...  ms_stop(&ms);
 *
 * Every wait is bounded and also ends when ms_stop() is called, so a test
 * whose client misbehaves cannot hang in the server.
 */
#ifndef WSCLIENT_MINISERVER_H
#define WSCLIENT_MINISERVER_H

#include <pthread.h>
#include <stddef.h>

struct miniserver;

struct ms_conn {
    int fd;
    struct miniserver *server;
    char request[8192]; /* the upgrade request, NUL-terminated */
    size_t request_len;
    /* Bytes read past the request (the client may pipeline frames). */
    unsigned char pending[65536];
    size_t pending_len;
    int unmasked_frame; /* set when the client sent an unmasked frame */
    int close_sent;     /* set when the script sent a close frame */
};

typedef void (*ms_script)(struct ms_conn *c, void *arg);

struct miniserver {
    int listen_fd;
    int port;
    char url[64]; /* "ws://127.0.0.1:PORT/" */
    pthread_t thread;
    int started;
    volatile int stop;
    ms_script script;
    void *arg;
    int connections; /* accepted so far */
};

/* Starts listening and the server thread. Returns 0, or -1 (failure recorded). */
int ms_start(struct miniserver *ms, ms_script script, void *arg);
/* Stops the thread (interrupting waits in the script) and closes everything. */
void ms_stop(struct miniserver *ms);

/* Reads the upgrade request (up to `timeout_ms`). Returns 0 or -1. */
int ms_read_request(struct ms_conn *c, int timeout_ms);
/* Value of a request header (case-insensitive), copied into `out`; 0 or -1. */
int ms_request_header(const struct ms_conn *c, const char *name, char *out, size_t cap);
/* Sec-WebSocket-Accept for a key (RFC 6455 section 4.2.2); `out` >= 29 bytes. */
void ms_accept_key(const char *key, char *out);
/*
 * Reads the request and answers "101 Switching Protocols" with the right
 * accept key plus `extra_headers` ("Name: value\r\n" lines, or NULL).
 * Returns 0 or -1.
 */
int ms_handshake(struct ms_conn *c, const char *extra_headers);
/* The second half of ms_handshake, after ms_read_request. */
int ms_send_101(struct ms_conn *c, const char *extra_headers);

/* Sends bytes as they are. Returns 0 or -1. */
int ms_send_raw(struct ms_conn *c, const void *buf, size_t len);
/*
 * Sends one unmasked frame; `b0` is the first byte (FIN, RSV1-3, opcode),
 * e.g. 0x81 for a final text frame, 0x88 for close. Returns 0 or -1.
 */
int ms_send_frame(struct ms_conn *c, unsigned b0, const void *payload, size_t len);

/*
 * Reads one client frame (unmasking it) within `timeout_ms`: returns 1 and
 * fills `*b0` (first byte), the payload (truncated to `cap`) and `*len`
 * (full payload length); 0 at EOF; -1 on timeout, error or stop.
 */
int ms_read_frame(struct ms_conn *c, unsigned *b0, unsigned char *buf, size_t cap,
                  size_t *len, int timeout_ms);

/*
 * Waits up to `timeout_ms` for the client's close frame and answers it with
 * the same code (unless the script sent a close frame first). Returns the
 * client's close code (1005 if the close frame had none), 0 if the client
 * dropped TCP without one, -1 on timeout or stop. The script should then
 * return, so that the server closes TCP first.
 */
int ms_wait_close(struct ms_conn *c, int timeout_ms);

/* Waits until the client closes TCP (discarding what arrives), up to
 * `timeout_ms`. Returns 0 at EOF, -1 on timeout or stop. */
int ms_wait_eof(struct ms_conn *c, int timeout_ms);

/* --- Servers that go away and come back (reconnect tests) ---------------- */

/*
 * A listening socket on 127.0.0.1:`port` (0: any free port) with
 * SO_REUSEADDR, so that a server can stop and listen again on the same port
 * (its old connections in TIME_WAIT do not block the new bind). Returns the
 * fd and sets `*bound` to the port; -1 after recording a failure.
 */
int ms_listen(int port, int *bound);

/* Like ms_start, but on `port` (0: any free port) with SO_REUSEADDR. */
int ms_start_port(struct miniserver *ms, int port, ms_script script, void *arg);

/*
 * Serves exactly one connection on the calling thread: waits up to
 * `timeout_ms` for a client on `listen_fd` (from ms_listen), closes
 * `listen_fd` at once (the server "went away": later connection attempts are
 * refused), runs `script` and closes the connection. Every wait of the script
 * is bounded by its own timeouts. `listen_fd` is closed in every case.
 * Returns 0, or -1 when no client came.
 */
int ms_serve_one(int listen_fd, ms_script script, void *arg, int timeout_ms);

/*
 * Echoes text and binary messages (up to 64 KiB each) and answers pings,
 * until the client's close frame (answered with the same code) or EOF, within
 * `timeout_ms`. Returns the client's close code (1005 if its close frame had
 * none), 0 at EOF without a close frame, -1 on timeout, error or stop.
 */
int ms_echo_until_close(struct ms_conn *c, int timeout_ms);

#endif /* WSCLIENT_MINISERVER_H */

/*
 * autobahn_testee.c - the standard Autobahn|Testsuite client testee, written
 * against the public wsclient C API only (include/wsclient.h).
 *
 * The fuzzing server tells the client what to do through URLs:
 *   1. {base}/getCaseCount                    -> one text message: N
 *   2. for i in 1..N: {base}/runCase?case=i&agent=AGENT
 *      echo every text/binary message back, with the same type, until the
 *      server closes the connection
 *   3. {base}/updateReports?agent=AGENT       -> the server writes its reports
 *
 * Environment:
 *   AUTOBAHN_URL    base URL of the fuzzing server, e.g. ws://127.0.0.1:9001
 *                   (required; scripts/autobahn.sh sets it)
 *   AUTOBAHN_AGENT  agent name in the reports (default "wsclient"); it goes
 *                   into the query string unencoded, so keep it to
 *                   [A-Za-z0-9._-]
 *   AUTOBAHN_PARTS  when set (e.g. to 1): open every case with
 *                   "streamReceive" and echo each message piece by piece
 *                   (ws_read_part into a 4 KiB buffer, ws_write_part), never
 *                   holding a message whole; the score must be the same
 *   AUTOBAHN_COMPRESSION  when set: offer permessage-deflate in every case,
 *                   with the value as the "compression" option ("1" or
 *                   "true": the defaults; or a JSON object such as
 *                   {"clientNoContextTakeover": true}); the 12.* and 13.*
 *                   cases then compress instead of being UNIMPLEMENTED
 *
 * A failing case is not a failure of this program: many cases send invalid
 * frames on purpose, and the library's answer (an error from ws_read, a close
 * frame with 1002/1007) is what the server scores. Those errors are printed
 * to stderr and the next case runs. The exit status is non-zero only when
 * the run itself could not be done (no case count, a case that could not be
 * connected, no report update).
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wsclient.h"

/* The 9.* cases send messages of up to 16 MiB; allow 64 MiB (also the
 * library's default, spelled out here because the test depends on it). */
static const char *const OPTIONS = "{\"maxMessageSize\": 67108864}";
static const char *const PARTS_OPTIONS = "{\"maxMessageSize\": 67108864, \"streamReceive\": true}";
/* With AUTOBAHN_COMPRESSION: the same plus "compression". */
static char options_buf[1024];

/* A safety net: no case waits longer than this for its next message. The
 * server drives every case to a close within seconds. */
enum { READ_TIMEOUT_MS = 60 * 1000 };

/* Print "what: <last error>" to stderr. Call it right after the failing
 * ws_* call: the next call on this thread resets the last error. */
static void print_error(const char *what)
{
    fprintf(stderr, "%s: %s (%s)\n", what, ws_last_error(),
            ws_error_name(ws_last_error_code()));
}

/*
 * Read from `sock` until the connection ends, echoing every message back when
 * `echo` is set, then release the socket. If `first_text` is not NULL, the
 * first text message is copied there as a NUL-terminated string (truncated to
 * `cap` - 1 bytes).
 */
static void serve(int sock, const char *what, int echo, char *first_text, size_t cap)
{
    for (;;) {
        const void *data;
        size_t len;
        int type;
        int rc = ws_read(sock, &data, &len, &type, READ_TIMEOUT_MS);

        if (rc == WS_CLOSED)
            break; /* the server's close frame arrived; the library answered it */
        if (rc != WS_OK) {
            /* WS_ERROR: a protocol violation by the server (the library has
             * already sent 1002/1007/1009) or a lost connection;
             * WS_TIMEOUT: the server went quiet. Either way this case is over. */
            print_error(what);
            break;
        }
        if (first_text != NULL && type == WS_TEXT) {
            size_t n = len < cap - 1 ? len : cap - 1;
            memcpy(first_text, data, n);
            first_text[n] = '\0';
            first_text = NULL;
        }
        /* `data` stays valid until the next ws_read; ws_write copies it.
         * The same type goes back: text stays text, binary stays binary. */
        if (echo && ws_write(sock, data, len, type) != WS_OK) {
            /* The server may be failing the connection already: keep reading,
             * the next ws_read reports how it ended. */
            print_error(what);
        }
    }
    /* Always release the socket. After the server's close this only frees it
     * (the close frame was already answered); after an error it completes or
     * abandons the closing handshake within "closeTimeout". Code 0 = 1000. */
    if (ws_close(sock, 0, NULL) != WS_OK)
        print_error(what);
}

/*
 * The same as serve() with echo, piece by piece: each piece read with
 * ws_read_part() goes back at once with ws_write_part() (the message's type
 * on its first piece, WS_CONT on all but its last).
 */
static void serve_parts(int sock, const char *what)
{
    unsigned char buf[4096];
    for (;;) {
        ws_part part;
        int rc = ws_read_part(sock, buf, sizeof buf, &part, READ_TIMEOUT_MS);
        if (rc == WS_CLOSED)
            break;
        if (rc != WS_OK) {
            print_error(what);
            break;
        }
        int flags = (part.offset == 0 ? part.type : 0) | (part.last ? 0 : WS_CONT);
        if (ws_write_part(sock, buf, part.len, flags) != WS_OK)
            print_error(what);
    }
    if (ws_close(sock, 0, NULL) != WS_OK)
        print_error(what);
}

int main(void)
{
    const char *parts_env = getenv("AUTOBAHN_PARTS");
    int parts = parts_env != NULL && *parts_env != '\0' && strcmp(parts_env, "0") != 0;
    const char *options = parts ? PARTS_OPTIONS : OPTIONS;
    const char *z = getenv("AUTOBAHN_COMPRESSION");
    if (z != NULL && *z != '\0' && strcmp(z, "0") != 0) {
        const char *value = (strcmp(z, "1") == 0) ? "true" : z;
        /* options without its closing brace, then the compression key */
        int n = snprintf(options_buf, sizeof options_buf, "%.*s, \"compression\": %s}", (int)strlen(options) - 1,
                         options, value);
        if (n < 0 || (size_t)n >= sizeof options_buf) {
            fprintf(stderr, "AUTOBAHN_COMPRESSION is too long\n");
            return 2;
        }
        options = options_buf;
    }
    const char *base = getenv("AUTOBAHN_URL");
    const char *agent = getenv("AUTOBAHN_AGENT");
    char url[2048];
    char count_text[32] = "";
    int failures = 0;

    if (base == NULL || *base == '\0') {
        fprintf(stderr, "AUTOBAHN_URL is not set (e.g. ws://127.0.0.1:9001)\n");
        return 2;
    }
    if (agent == NULL || *agent == '\0')
        agent = "wsclient";
    /* The paths below start with '/': drop trailing ones from the base URL. */
    size_t n = strlen(base);
    while (n > 0 && base[n - 1] == '/')
        n--;
    if (n + strlen(agent) > sizeof url - 64) {
        fprintf(stderr, "AUTOBAHN_URL or AUTOBAHN_AGENT is too long\n");
        return 2;
    }
    int base_len = (int)n; /* for "%.*s" */

    /* 1. How many cases? The answer is a text message, e.g. "517". */
    snprintf(url, sizeof url, "%.*s/getCaseCount", base_len, base);
    int sock = ws_open(url, NULL);
    if (sock < 0) {
        print_error(url);
        return 1;
    }
    serve(sock, "getCaseCount", 0, count_text, sizeof count_text);
    char *end;
    long count = strtol(count_text, &end, 10);
    if (end == count_text || *end != '\0' || count < 0 || count > 100000) {
        fprintf(stderr, "getCaseCount: bad answer \"%s\"\n", count_text);
        return 1;
    }
    fprintf(stderr, "autobahn_testee: %ld cases, agent %s, wsclient %s, options %s\n",
            count, agent, ws_version(), options);

    /* 2. Run every case, whatever happened in the previous one. */
    for (long i = 1; i <= count; i++) {
        char what[32];
        snprintf(what, sizeof what, "case %ld", i);
        snprintf(url, sizeof url, "%.*s/runCase?case=%ld&agent=%s", base_len, base, i, agent);
        sock = ws_open(url, options);
        if (sock < 0) {
            print_error(what);
            failures++;
            continue;
        }
        if (parts)
            serve_parts(sock, what);
        else
            serve(sock, what, 1, NULL, 0);
    }

    /* 3. Ask the server to write the reports; it closes when done. */
    snprintf(url, sizeof url, "%.*s/updateReports?agent=%s", base_len, base, agent);
    sock = ws_open(url, NULL);
    if (sock < 0) {
        print_error(url);
        return 1;
    }
    serve(sock, "updateReports", 0, NULL, 0);

    if (failures > 0)
        fprintf(stderr, "autobahn_testee: %d case(s) could not be connected\n", failures);
    fprintf(stderr, "autobahn_testee: done\n");
    return failures > 0 ? 1 : 0;
}

/*
 * The C mini server as a program, for tests of the example programs that
 * need a server that misbehaves or closes first (run_with_echo_server.sh
 * starts it like the echo server):
 *
 *   scripted_server --scenario close|drop [--port 0] [--host 127.0.0.1]
 *
 * close: upgrade, send the text "hello from server", then a close frame
 *        with code 4001 and reason "bye"; wait for the client's answer.
 * drop:  upgrade, send "hello from server", then close TCP without a close
 *        frame.
 * Prints "LISTENING <port>" when ready and serves until killed (at most
 * 60 s).
 */
#include <stdio.h>
#include <string.h>

#include "miniserver.h"
#include "testutil.h"

static void scenario_close(struct ms_conn *c, void *arg)
{
    (void)arg;
    if (ms_handshake(c, NULL) != 0)
        return;
    ms_send_frame(c, 0x81, "hello from server", 17);
    ms_send_frame(c, 0x88, "\x0f\xa1" "bye", 5);
    ms_wait_close(c, 10000);
}

static void scenario_drop(struct ms_conn *c, void *arg)
{
    (void)arg;
    if (ms_handshake(c, NULL) != 0)
        return;
    ms_send_frame(c, 0x81, "hello from server", 17);
    wst_sleep_ms(100);
}

int main(int argc, char **argv)
{
    ms_script script = NULL;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--scenario") == 0) {
            if (strcmp(argv[i + 1], "close") == 0)
                script = scenario_close;
            else if (strcmp(argv[i + 1], "drop") == 0)
                script = scenario_drop;
        }
        /* --port and --host are accepted for the runner: always 127.0.0.1:0. */
    }
    if (!script) {
        fprintf(stderr, "usage: scripted_server --scenario close|drop\n");
        return 2;
    }
    char *no_args[] = {argv[0], NULL};
    wst_init(1, no_args, 70);
    struct miniserver ms;
    if (ms_start(&ms, script, NULL) != 0)
        return 1;
    printf("LISTENING %d\n", ms.port);
    fflush(stdout);
    wst_sleep_ms(60000);
    ms_stop(&ms);
    return 0;
}

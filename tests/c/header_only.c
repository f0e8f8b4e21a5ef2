/*
 * Compiled by ctest (header_c99, header_cxx11) with
 *   cc  -std=c99   -pedantic -Wall -Wextra -Werror -Wstrict-prototypes -fsyntax-only
 *   c++ -std=c++11 -pedantic -Wall -Wextra -Werror -fsyntax-only -x c++
 * to prove that include/wsclient.h is self-contained, valid C99 and C++11,
 * and declares the functions with the documented types.
 */
#include "wsclient.h"
#include "wsclient.h" /* include guard */

/* Compile-time checks without _Static_assert (not in C99). */
#define WSCLIENT_ASSERT(name, cond) typedef char wsclient_assert_##name[(cond) ? 1 : -1]
WSCLIENT_ASSERT(ok, WS_OK == 0);
WSCLIENT_ASSERT(closed, WS_CLOSED == 1);
WSCLIENT_ASSERT(error, WS_ERROR == -1);
WSCLIENT_ASSERT(timeout, WS_TIMEOUT == -2);
WSCLIENT_ASSERT(types, WS_TEXT == 1 && WS_BINARY == 2 && (WS_MORE & (WS_TEXT | WS_BINARY)) == 0);
WSCLIENT_ASSERT(reason, WS_MAX_CLOSE_REASON == 123);
WSCLIENT_ASSERT(codes, WS_E_OK == 0 && WS_E_INVALID_ARGUMENT == 1 && WS_E_TIMEOUT == 16 &&
                           WS_E_BAD_SOCKET == 17 && WS_E_BUFFER_TOO_SMALL == 20);

int wsclient_header_check(void);
int wsclient_header_check(void)
{
    int (*open_fn)(const char *, const char *) = ws_open;
    int (*write_fn)(int, const void *, size_t, int) = ws_write;
    int (*flush_fn)(int, int) = ws_flush;
    int (*read_fn)(int, const void **, size_t *, int *, int) = ws_read;
    int (*read_into_fn)(int, void *, size_t, size_t *, int *, int) = ws_read_into;
    int (*close_fn)(int, int, const char *) = ws_close;
    const char *(*last_error_fn)(void) = ws_last_error;
    int (*last_error_code_fn)(void) = ws_last_error_code;
    const char *(*error_name_fn)(int) = ws_error_name;
    const char *(*version_fn)(void) = ws_version;
    int (*set_max_fn)(int) = ws_set_max_sockets;
    int (*status_fn)(int) = ws_http_status;
    const char *(*header_fn)(int, const char *) = ws_response_header;
    const char *(*headers_fn)(int) = ws_response_headers;
    const char *(*subprotocol_fn)(int) = ws_subprotocol;
    int (*close_code_fn)(int) = ws_close_code;
    const char *(*close_reason_fn)(int) = ws_close_reason;
    return open_fn != 0 && write_fn != 0 && flush_fn != 0 && read_fn != 0 &&
           read_into_fn != 0 && close_fn != 0 && last_error_fn != 0 &&
           last_error_code_fn != 0 && error_name_fn != 0 && version_fn != 0 &&
           set_max_fn != 0 && status_fn != 0 && header_fn != 0 && headers_fn != 0 &&
           subprotocol_fn != 0 && close_code_fn != 0 && close_reason_fn != 0;
}

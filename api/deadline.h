/*
 * Clients too slow to send a request are cut off, over HTTP/1.1 and HTTP/2
 * alike. libh2o 2.2 resets its idle timers on every frame or byte it reads,
 * so a client that trickles a header block (one CONTINUATION every 2 s) or a
 * body (one byte a second) would hold a connection for as long as it likes.
 * The rule here: a connection with no request open (dispatched to a handler
 * and not yet finished) that has not produced one within the timeout since it
 * was accepted or since its last request ended is shut down. Held answers
 * (SSE, long polls, min_position waits) are open requests, never cut.
 * One watcher per event loop; it never touches h2o's private fields: it uses
 * the socket's on_close hook, the connection's get_socket callback and the
 * request pool's dispose callbacks. It also counts the open connections, so
 * the server knows at exit whether h2o still has any.
 */
#ifndef XL_API_DEADLINE_H
#define XL_API_DEADLINE_H

#include <h2o.h>

typedef struct st_xl_deadline_t xl_deadline_t;

/** @brief A watcher on loop cutting connections idle for timeout_ms. @return NULL when out of memory. */
xl_deadline_t *xl_deadline_create(h2o_loop_t *loop, int timeout_ms);
/** @brief Stop watching (connections still open are left to h2o) and free. NULL is fine. */
void xl_deadline_destroy(xl_deadline_t *dl);
/** @brief Watch a freshly accepted socket; call before h2o_accept. @return 0, or -1 when out of memory. */
int xl_deadline_watch(xl_deadline_t *dl, h2o_socket_t *sock);
/** @brief How many watched connections are still open. */
size_t xl_deadline_open(const xl_deadline_t *dl);
/** @brief A request was dispatched: its connection is busy until req's pool is disposed. */
void xl_deadline_request(xl_deadline_t *dl, h2o_req_t *req);

#endif

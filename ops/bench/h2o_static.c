/*
 * Ceiling for the API: h2o serving one static JSON file, on one event-loop
 * thread like execlogd, HTTP/1.1 and h2c (prior knowledge) on one plain port.
 * It answers exactly what h2o itself can do with a file of the same size as
 * our status answer; it must never do more work per request than that.
 *
 *   xl_bench_h2o_static --listen 127.0.0.1:PORT --root DIR
 *
 * Prints "listening on PORT" once it accepts connections; stops on SIGTERM.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <h2o.h>

static h2o_globalconf_t globalconf;
static h2o_context_t ctx;
static h2o_accept_ctx_t accept_ctx;
static volatile sig_atomic_t stop_requested;

static void on_signal(int sig) { stop_requested = 1; }

static void on_accept(h2o_socket_t *listener, const char *err)
{
    if (err != NULL)
        return;
    h2o_socket_t *sock = h2o_evloop_socket_accept(listener);
    if (sock != NULL)
        h2o_accept(&accept_ctx, sock);
}

static int open_listener(const char *host, int port, int *bound)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    int fd, one = 1;
    if (inet_pton(AF_INET, host, &sin.sin_addr) != 1)
        return -1;
    if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
        return -1;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        bind(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0 || listen(fd, SOMAXCONN) != 0) {
        close(fd);
        return -1;
    }
    socklen_t len = sizeof(sin);
    getsockname(fd, (struct sockaddr *)&sin, &len);
    *bound = ntohs(sin.sin_port);
    return fd;
}

int main(int argc, char **argv)
{
    const char *listen_at = "127.0.0.1:0", *root = NULL;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--listen") == 0)
            listen_at = argv[i + 1];
        else if (strcmp(argv[i], "--root") == 0)
            root = argv[i + 1];
    }
    if (root == NULL) {
        fprintf(stderr, "usage: %s --listen HOST:PORT --root DIR\n", argv[0]);
        return 2;
    }
    char host[64];
    const char *colon = strrchr(listen_at, ':');
    if (colon == NULL || (size_t)(colon - listen_at) >= sizeof(host)) {
        fprintf(stderr, "--listen: expected HOST:PORT\n");
        return 2;
    }
    memcpy(host, listen_at, (size_t)(colon - listen_at));
    host[colon - listen_at] = '\0';

    signal(SIGPIPE, SIG_IGN);
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);

    h2o_config_init(&globalconf);
    h2o_hostconf_t *hostconf = h2o_config_register_host(&globalconf, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    h2o_pathconf_t *pathconf = h2o_config_register_path(hostconf, "/", 0);
    /* no ETag: execlogd sends none, so neither side may answer 304 */
    h2o_file_register(pathconf, root, NULL, NULL, H2O_FILE_FLAG_NO_ETAG);

    h2o_loop_t *loop = h2o_evloop_create();
    h2o_context_init(&ctx, loop, &globalconf);
    accept_ctx.ctx = &ctx;
    accept_ctx.hosts = globalconf.hosts;

    int port = 0, fd = open_listener(host, atoi(colon + 1), &port);
    if (fd < 0) {
        fprintf(stderr, "cannot listen on %s: %s\n", listen_at, strerror(errno));
        return 1;
    }
    h2o_socket_t *sock = h2o_evloop_socket_create(loop, fd, H2O_SOCKET_FLAG_DONT_READ);
    h2o_socket_read_start(sock, on_accept);
    printf("listening on %d\n", port);
    fflush(stdout);

    while (!stop_requested)
        h2o_evloop_run(loop, 200);
    h2o_socket_read_stop(sock);
    h2o_socket_close(sock);
    return 0;
}

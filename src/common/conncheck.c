/* conncheck.c — idle connection checks behind conncheck.h. */
#include "common/conncheck.h"

#include <errno.h>
#include <sys/socket.h>

bool tr_idle_peer_gone(int fd) {
    if (fd < 0) return true;
    char b;
    ssize_t n = recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n < 0) return errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR;
    return true; /* EOF, or data nobody asked for */
}

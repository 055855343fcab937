/* status: the service -> master status messages.  See status.h. */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "error.h"
#include "master/status.h"

static void put32(unsigned char *p, uint32_t v)
{
    memcpy(p, &v, 4);
}

static uint32_t get32(const unsigned char *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

void status_encode(unsigned char *buf, enum status_code code, pid_t pid, uint32_t seq)
{
    put32(buf, STATUS_MAGIC);
    put32(buf + 4, (uint32_t)code);
    put32(buf + 8, (uint32_t)pid);
    put32(buf + 12, seq);
}

int status_decode(const unsigned char *buf, struct status_msg *msg)
{
    if (get32(buf) != STATUS_MAGIC) return CYRERR_PROTOCOL_ERROR;
    uint32_t code = get32(buf + 4);
    if (code < STATUS_AVAILABLE || code > STATUS_SELFSERVE)
        return CYRERR_PROTOCOL_ERROR;
    int32_t pid = (int32_t)get32(buf + 8);
    if (pid <= 0) return CYRERR_PROTOCOL_ERROR;
    msg->code = (enum status_code)code;
    msg->pid = (pid_t)pid;
    msg->seq = get32(buf + 12);
    return 0;
}

int status_send(int fd, enum status_code code)
{
    static uint32_t seq;
    unsigned char buf[STATUS_MSG_SIZE];
    status_encode(buf, code, getpid(), ++seq);
    for (;;) {
        ssize_t n = write(fd, buf, sizeof(buf));
        if (n == (ssize_t)sizeof(buf)) return 0;
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EPIPE) return CYRERR_EOF;
        return CYRERR_IO;   /* a short write cannot happen on a pipe */
    }
}

const char *status_code_name(enum status_code code)
{
    switch (code) {
    case STATUS_AVAILABLE: return "available";
    case STATUS_BUSY: return "busy";
    case STATUS_EXITING: return "exiting";
    case STATUS_SELFSERVE: return "selfserve";
    }
    return "unknown";
}

/* status: the pipe on which service processes tell master what they do.
 *
 * master starts every service process with two fixed descriptors (as Cyrus
 * does): STATUS_FD, the write end of a pipe shared by all processes of that
 * service, and LISTEN_FD, the service's listening socket.  A process writes
 * one fixed-size message per change of state; a write of that size to a
 * pipe is atomic, so the messages of many writers never interleave.
 *
 *   STATUS_AVAILABLE  ready to accept (sent before every wait in accept)
 *   STATUS_BUSY       accepted a connection and is serving it
 *   STATUS_EXITING    will exit on its own (use count or idle timeout);
 *                     master stops counting it as available at once
 *   STATUS_SELFSERVE  a threaded service that accepts on LISTEN_FD by
 *                     itself from now on; master counts it as one permanent
 *                     available process and never forks more for it while
 *                     it lives
 *
 * A service process starts counted as available (master assumes it will be
 * in accept soon), so master does not over-fork while processes start up.
 * A process that dies before its first message is counted as a failed start
 * and makes master throttle the service.
 *
 * Memory: nothing is allocated.  Errors: status_send returns 0 or a
 * CYRERR_* (CYRERR_EOF when master has gone away); status_decode returns
 * CYRERR_PROTOCOL_ERROR for a malformed message.
 */
#ifndef MASTER_STATUS_H
#define MASTER_STATUS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define STATUS_FD 3
#define LISTEN_FD 4

enum status_code {
    STATUS_AVAILABLE = 1,
    STATUS_BUSY = 2,
    STATUS_EXITING = 3,
    STATUS_SELFSERVE = 4,
};

/* On the pipe: four 32-bit words in host order (the pipe never leaves the
 * host): magic, code, pid, and a sequence number per sender. */
#define STATUS_MAGIC 0x43794d53u   /* "CyMS" */
#define STATUS_MSG_SIZE 16

struct status_msg {
    enum status_code code;
    pid_t pid;
    uint32_t seq;
};

/* Send `code` for the calling process on fd (normally STATUS_FD). */
int status_send(int fd, enum status_code code) __attribute__((warn_unused_result));

/* Decode one STATUS_MSG_SIZE-byte message. */
int status_decode(const unsigned char *buf, struct status_msg *msg)
    __attribute__((warn_unused_result));

/* Encode one message into buf (STATUS_MSG_SIZE bytes). */
void status_encode(unsigned char *buf, enum status_code code, pid_t pid, uint32_t seq);

/* "available", "busy", "exiting", "selfserve", or "unknown". */
const char *status_code_name(enum status_code code);

#endif

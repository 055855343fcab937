/* pop3_send: a message file as a POP3 multi-line response body (RFC 1939
 * 3): every line ended by CRLF (a bare LF gets its CR), a line starting
 * with '.' gets one more '.', and ".\r\n" ends the body.  For TOP the
 * header, the blank line and the first n body lines are sent.  The file is
 * read in fixed chunks; nothing is held in memory beyond one chunk.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "error.h"
#include "log.h"
#include "prot.h"
#include "xmalloc.h"

#include "imap/pop3d/pop3d.h"

#define SEND_CHUNK 65536

struct sender {
    struct buf out;
    int at_bol;          /* the next byte starts a line */
    int prev_cr;         /* the last byte written was CR */
    int in_header;
    size_t line_len;     /* bytes of the current line, CRs not counted */
    long body_lines;     /* body lines sent */
    long maxlines;       /* < 0: all */
    int finished;        /* TOP reached its limit */
};

/* Feed bytes; stops (finished) once TOP's limit is reached. */
static void sender_feed(struct sender *sd, const char *p, size_t n)
{
    for (size_t i = 0; i < n && !sd->finished; i++) {
        char c = p[i];
        if (sd->at_bol && c == '.') buf_putc(&sd->out, '.');
        sd->at_bol = 0;
        if (c == '\n') {
            if (!sd->prev_cr) buf_putc(&sd->out, '\r');
            buf_putc(&sd->out, '\n');
            sd->at_bol = 1;
            sd->prev_cr = 0;
            if (sd->in_header) {
                if (sd->line_len == 0) {
                    sd->in_header = 0;
                    if (sd->maxlines == 0) sd->finished = 1;
                }
            } else {
                sd->body_lines++;
                if (sd->maxlines >= 0 && sd->body_lines >= sd->maxlines)
                    sd->finished = 1;
            }
            sd->line_len = 0;
            continue;
        }
        buf_putc(&sd->out, c);
        sd->prev_cr = c == '\r';
        if (c != '\r') sd->line_len++;
    }
}

int pop3_send_message(struct prot *p, int fd, long maxlines)
{
    struct sender sd;
    memset(&sd, 0, sizeof(sd));
    sd.at_bol = 1;
    sd.in_header = 1;
    sd.maxlines = maxlines;
    char *chunk = xmalloc(SEND_CHUNK);
    int r = 0;

    while (!sd.finished) {
        ssize_t n = read(fd, chunk, SEND_CHUNK);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            xsyslog(LOG_ERR, "cannot read message file", "error=<%s>", strerror(errno));
            r = CYRERR_IO;
            break;
        }
        if (n == 0) break;
        sender_feed(&sd, chunk, (size_t)n);
        r = prot_write(p, buf_base(&sd.out), buf_len(&sd.out));
        buf_reset(&sd.out);
        if (r) break;
    }
    if (!r) {
        /* a last line without its end, then the terminator */
        if (!sd.at_bol) prot_puts(p, sd.prev_cr ? "\n" : "\r\n");
        r = prot_puts(p, ".\r\n");
    }
    buf_free(&sd.out);
    free(chunk);
    return r < 0 ? r : 0;
}

/* lmtp_addr: the arguments of MAIL FROM and RCPT TO.  See lmtp_addr.h. */
#include "config.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "error.h"
#include "lmtp/lmtp_addr.h"
#include "xmalloc.h"

static int is_blank(char c)
{
    return c == ' ' || c == '\t';
}

/* A byte that may stand unquoted in an address: RFC 5321 atext, '.', '@',
 * and what domain literals need ('[', ']', ':'). */
static int addr_char_ok(unsigned char c)
{
    if (c <= 32 || c >= 127) return 0;
    return !strchr("<>()\",;\\", c);
}

/* A source route "@a,@b:" at *pp: skip it.  0 or CYRERR_PARSE. */
static int skip_route(const char **pp)
{
    const char *p = *pp;
    while (*p == '@') {
        p++;
        const char *start = p;
        while (isalnum((unsigned char)*p) || *p == '.' || *p == '-' || *p == '[' ||
               *p == ']')
            p++;
        if (p == start) return CYRERR_PARSE;
        if (*p == ',') {
            p++;
            continue;
        }
        if (*p == ':') {
            *pp = p + 1;
            return 0;
        }
        return CYRERR_PARSE;
    }
    return CYRERR_PARSE;
}

/* A byte of the path: 8-bit is refused or replaced; controls are refused.
 * Appends to out.  0 or CYRERR_PARSE with *why. */
static int path_byte(unsigned char c, unsigned flags, struct buf *out, const char **why)
{
    if (c >= 128) {
        if (flags & LMTP_PATH_STRICT) {
            *why = "8-bit characters are not allowed in addresses";
            return CYRERR_PARSE;
        }
        buf_putc(out, 'X');
        return 0;
    }
    if (c < 32 || c == 127) {
        *why = "control characters are not allowed in addresses";
        return CYRERR_PARSE;
    }
    buf_putc(out, (char)c);
    return 0;
}

/* The mailbox between '<' (already consumed) and '>' (consumed here). */
static int parse_mailbox(const char **pp, unsigned flags, struct buf *out,
                         const char **why)
{
    const char *p = *pp;
    for (;;) {
        unsigned char c = (unsigned char)*p;
        if (c == '\0') {
            *why = "missing '>' after the address";
            return CYRERR_PARSE;
        }
        if (c == '>') break;
        if (c == '"') {
            buf_putc(out, '"');
            p++;
            for (;;) {
                c = (unsigned char)*p;
                if (c == '\0') {
                    *why = "unterminated quoted string in address";
                    return CYRERR_PARSE;
                }
                if (c == '"') break;
                if (c == '\\') {
                    buf_putc(out, '\\');
                    p++;
                    c = (unsigned char)*p;
                    if (c == '\0') {
                        *why = "unterminated quoted string in address";
                        return CYRERR_PARSE;
                    }
                }
                if (path_byte(c, flags, out, why)) return CYRERR_PARSE;
                p++;
            }
            buf_putc(out, '"');
            p++;
            continue;
        }
        if (c >= 128) {
            if (path_byte(c, flags, out, why)) return CYRERR_PARSE;
        } else if (!addr_char_ok(c)) {
            *why = "invalid character in address";
            return CYRERR_PARSE;
        } else {
            buf_putc(out, (char)c);
        }
        p++;
    }
    *pp = p + 1;
    return 0;
}

static int keyword_ok(const char *s, size_t n)
{
    if (n == 0 || !isalnum((unsigned char)s[0])) return 0;
    for (size_t i = 1; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '-') return 0;
    return 1;
}

static int value_ok(const char *s, size_t n)
{
    if (n == 0) return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 33 || c > 126 || c == '=') return 0;
    }
    return 1;
}

static int parse_params(const char *p, struct strarray *params, const char **why)
{
    if (*p && !is_blank(*p)) {
        *why = "unexpected text after the address";
        return CYRERR_PARSE;
    }
    for (;;) {
        while (is_blank(*p))
            p++;
        if (!*p) return 0;
        const char *start = p;
        while (*p && !is_blank(*p))
            p++;
        size_t len = (size_t)(p - start);
        const char *eq = memchr(start, '=', len);
        size_t klen = eq ? (size_t)(eq - start) : len;
        if (!keyword_ok(start, klen) || (eq && !value_ok(eq + 1, len - klen - 1))) {
            *why = "invalid parameter";
            return CYRERR_PARSE;
        }
        strarray_appendm(params, xstrndup(start, len));
    }
}

int lmtp_path_parse(const char *arg, unsigned flags, struct lmtp_path *path,
                    const char **why)
{
    struct buf addr = BUF_INITIALIZER;
    const char *p = arg;
    memset(path, 0, sizeof(*path));
    *why = NULL;

    while (is_blank(*p))
        p++;
    if (*p != '<') {
        *why = "the address must be enclosed in <>";
        return CYRERR_PARSE;
    }
    p++;
    if (*p == '>') {
        if (!(flags & LMTP_PATH_ALLOW_NULL)) {
            *why = "the null address <> is not allowed here";
            return CYRERR_PARSE;
        }
        p++;
    } else {
        if (*p == '@' && skip_route(&p)) {
            *why = "invalid source route";
            return CYRERR_PARSE;
        }
        if (*p == '>') {
            *why = "empty address";
            return CYRERR_PARSE;
        }
        if (parse_mailbox(&p, flags, &addr, why)) {
            buf_free(&addr);
            return CYRERR_PARSE;
        }
        if (buf_base(&addr)[0] == '@' || buf_base(&addr)[buf_len(&addr) - 1] == '@') {
            buf_free(&addr);
            *why = "invalid address";
            return CYRERR_PARSE;
        }
    }
    if (parse_params(p, &path->params, why)) {
        buf_free(&addr);
        strarray_free(&path->params);
        return CYRERR_PARSE;
    }
    path->addr = xstrdup(buf_cstring(&addr));
    buf_free(&addr);
    return 0;
}

void lmtp_path_fini(struct lmtp_path *path)
{
    if (!path) return;
    xfree(path->addr);
    strarray_free(&path->params);
}

const char *lmtp_path_param(const struct lmtp_path *path, const char *keyword)
{
    size_t klen = strlen(keyword);
    for (int i = 0; i < path->params.count; i++) {
        const char *s = path->params.data[i];
        if (strncasecmp(s, keyword, klen)) continue;
        if (s[klen] == '\0') return "";
        if (s[klen] == '=') return s + klen + 1;
    }
    return NULL;
}

int lmtp_addr_split(const char *addr, char **local_r, char **domain_r)
{
    const char *at = NULL;
    int inquote = 0;
    *local_r = *domain_r = NULL;
    for (const char *p = addr; *p; p++) {
        if (inquote && *p == '\\' && p[1]) {
            p++;
            continue;
        }
        if (*p == '"')
            inquote = !inquote;
        else if (*p == '@' && !inquote)
            at = p;
    }
    if (inquote) return CYRERR_PARSE;
    size_t llen = at ? (size_t)(at - addr) : strlen(addr);
    if (llen == 0) return CYRERR_PARSE;

    struct buf local = BUF_INITIALIZER;
    if (addr[0] == '"' && llen >= 2 && addr[llen - 1] == '"') {
        for (size_t i = 1; i + 1 < llen; i++) {
            if (addr[i] == '\\' && i + 2 < llen) i++;
            buf_putc(&local, addr[i]);
        }
        if (buf_len(&local) == 0) {
            buf_free(&local);
            return CYRERR_PARSE;
        }
    } else {
        buf_appendmap(&local, addr, llen);
    }
    *local_r = buf_release(&local);
    *domain_r = xstrdup(at ? at + 1 : "");
    return 0;
}

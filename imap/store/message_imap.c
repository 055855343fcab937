/* message_imap: ENVELOPE, BODY and BODYSTRUCTURE.  See message_imap.h.
 *
 * RFC 3501 9 (formal syntax) lines that this file follows:
 *   envelope        = "(" env-date SP env-subject SP env-from SP
 *                     env-sender SP env-reply-to SP env-to SP env-cc SP
 *                     env-bcc SP env-in-reply-to SP env-message-id ")"
 *   address         = "(" addr-name SP addr-adl SP addr-mailbox SP
 *                     addr-host ")"
 *   body            = "(" (body-type-1part / body-type-mpart) ")"
 *   body-type-mpart = 1*body SP media-subtype [SP body-ext-mpart]
 *   body-type-1part = (body-type-basic / body-type-msg / body-type-text)
 *                     [SP body-ext-1part]
 *   body-type-basic = media-basic SP body-fields
 *   body-type-msg   = media-message SP body-fields SP envelope
 *                     SP body SP body-fld-lines
 *   body-type-text  = media-text SP body-fields SP body-fld-lines
 *   body-fields     = body-fld-param SP body-fld-id SP body-fld-desc SP
 *                     body-fld-enc SP body-fld-octets
 *   body-ext-1part  = body-fld-md5 [SP body-fld-dsp [SP body-fld-lang
 *                     [SP body-fld-loc *(SP body-extension)]]]
 *   body-ext-mpart  = body-fld-param [SP body-fld-dsp [SP body-fld-lang
 *                     [SP body-fld-loc *(SP body-extension)]]]
 *   body-fld-param  = "(" string SP string *(SP string SP string) ")" / nil
 *   body-fld-dsp    = "(" string SP body-fld-param ")" / nil
 *   body-fld-lang   = nstring / "(" string *(SP string) ")"
 *   quoted          = DQUOTE *QUOTED-CHAR DQUOTE
 *   QUOTED-CHAR     = <any TEXT-CHAR except quoted-specials> /
 *                     "\" quoted-specials
 *   literal         = "{" number "}" CRLF *CHAR8
 */
#include "config.h"

#include <string.h>

#include "imap/store/message_imap.h"

void message_imap_string(struct buf *out, const char *s, size_t len)
{
    int quotable = 1;
    size_t nuls = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!c) nuls++;
        else if (c >= 0x80 || c == '\r' || c == '\n') quotable = 0;
    }
    if (quotable) {
        buf_ensure(out, len + 2);
        out->s[out->len] = '\0';
        buf_putc(out, '"');
        for (size_t i = 0; i < len; i++) {
            char c = s[i];
            if (!c) continue;
            if (c == '"' || c == '\\') buf_putc(out, '\\');
            buf_putc(out, c);
        }
        buf_putc(out, '"');
        return;
    }
    buf_printf(out, "{%zu}\r\n", len - nuls);
    if (!nuls) {
        buf_appendmap(out, s, len);
        return;
    }
    for (size_t i = 0; i < len; i++)
        if (s[i]) buf_putc(out, s[i]);
}

void message_imap_nstring(struct buf *out, const char *s)
{
    if (!s) buf_appendcstr(out, "NIL");
    else message_imap_string(out, s, strlen(s));
}

static int write_address_list(struct buf *out, const char *value)
{
    if (!value) return 0;
    struct message_address *list = message_address_parse(value,
                                                         strlen(value));
    if (!list) return 0;
    buf_putc(out, '(');
    for (struct message_address *a = list; a; a = a->next) {
        buf_putc(out, '(');
        message_imap_nstring(out, a->name);
        buf_putc(out, ' ');
        message_imap_nstring(out, a->route);
        buf_putc(out, ' ');
        message_imap_nstring(out, a->mailbox);
        buf_putc(out, ' ');
        message_imap_nstring(out, a->domain);
        buf_putc(out, ')');
    }
    buf_putc(out, ')');
    message_address_free(&list);
    return 1;
}

void message_imap_addresses(struct buf *out, const char *value)
{
    if (!write_address_list(out, value)) buf_appendcstr(out, "NIL");
}

void message_imap_envelope(struct buf *out, const struct message_part *msg)
{
    char *const *h = msg->hdr;
    buf_putc(out, '(');
    message_imap_nstring(out, h[MESSAGE_HDR_DATE]);
    buf_putc(out, ' ');
    message_imap_nstring(out, h[MESSAGE_HDR_SUBJECT]);
    buf_putc(out, ' ');
    message_imap_addresses(out, h[MESSAGE_HDR_FROM]);
    /* sender and reply-to default to from */
    const int dflt[2] = { MESSAGE_HDR_SENDER, MESSAGE_HDR_REPLY_TO };
    for (int i = 0; i < 2; i++) {
        buf_putc(out, ' ');
        if (!write_address_list(out, h[dflt[i]]))
            message_imap_addresses(out, h[MESSAGE_HDR_FROM]);
    }
    const int rest[3] = { MESSAGE_HDR_TO, MESSAGE_HDR_CC, MESSAGE_HDR_BCC };
    for (int i = 0; i < 3; i++) {
        buf_putc(out, ' ');
        message_imap_addresses(out, h[rest[i]]);
    }
    buf_putc(out, ' ');
    message_imap_nstring(out, h[MESSAGE_HDR_IN_REPLY_TO]);
    buf_putc(out, ' ');
    message_imap_nstring(out, h[MESSAGE_HDR_MESSAGE_ID]);
    buf_putc(out, ')');
}

static void write_params(struct buf *out, const struct message_param *p)
{
    if (!p) {
        buf_appendcstr(out, "NIL");
        return;
    }
    buf_putc(out, '(');
    for (; p; p = p->next) {
        message_imap_nstring(out, p->attribute);
        buf_putc(out, ' ');
        message_imap_nstring(out, p->value);
        if (p->next) buf_putc(out, ' ');
    }
    buf_putc(out, ')');
}

/* body-fld-dsp SP body-fld-lang SP body-fld-loc */
static void write_ext_common(struct buf *out, const struct message_part *part)
{
    if (part->disposition) {
        buf_putc(out, '(');
        message_imap_nstring(out, part->disposition);
        buf_putc(out, ' ');
        write_params(out, part->disp_params);
        buf_putc(out, ')');
    } else {
        buf_appendcstr(out, "NIL");
    }
    buf_putc(out, ' ');
    if (part->language.count == 0) {
        buf_appendcstr(out, "NIL");
    } else if (part->language.count == 1) {
        message_imap_nstring(out, part->language.data[0]);
    } else {
        buf_putc(out, '(');
        for (int i = 0; i < part->language.count; i++) {
            if (i) buf_putc(out, ' ');
            message_imap_nstring(out, part->language.data[i]);
        }
        buf_putc(out, ')');
    }
    buf_putc(out, ' ');
    message_imap_nstring(out, part->location);
}

void message_imap_body(struct buf *out, const struct message_part *part,
                       int extended)
{
    buf_putc(out, '(');
    if (part->kind == MESSAGE_KIND_MULTIPART && part->nchildren) {
        for (int i = 0; i < part->nchildren; i++)
            message_imap_body(out, part->children[i], extended);
        buf_putc(out, ' ');
        message_imap_nstring(out, part->subtype);
        if (extended) {
            buf_putc(out, ' ');
            write_params(out, part->params);
            buf_putc(out, ' ');
            write_ext_common(out, part);
        }
        buf_putc(out, ')');
        return;
    }
    int is_msg = part->kind == MESSAGE_KIND_RFC822 && part->nchildren == 1;
    /* a container without contents (never made by message_parse) must
     * not look like one to a client's parser */
    int fake = !is_msg && ((!strcmp(part->type, "MESSAGE") &&
                            !strcmp(part->subtype, "RFC822")) ||
                           !strcmp(part->type, "MULTIPART"));
    message_imap_nstring(out, fake ? "APPLICATION" : part->type);
    buf_putc(out, ' ');
    message_imap_nstring(out, fake ? "OCTET-STREAM" : part->subtype);
    buf_putc(out, ' ');
    write_params(out, part->params);
    buf_putc(out, ' ');
    message_imap_nstring(out, part->id);
    buf_putc(out, ' ');
    message_imap_nstring(out, part->description);
    buf_putc(out, ' ');
    message_imap_nstring(out, part->encoding ? part->encoding : "7BIT");
    buf_printf(out, " %zu", part->body_len);
    if (is_msg) {
        buf_putc(out, ' ');
        message_imap_envelope(out, part->children[0]);
        buf_putc(out, ' ');
        message_imap_body(out, part->children[0], extended);
        buf_printf(out, " %zu", part->body_lines);
    } else if (!strcmp(part->type, "TEXT")) {
        buf_printf(out, " %zu", part->body_lines);
    }
    if (extended) {
        buf_putc(out, ' ');
        message_imap_nstring(out, part->md5);
        buf_putc(out, ' ');
        write_ext_common(out, part);
    }
    buf_putc(out, ')');
}

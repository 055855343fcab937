/* pop3_maildrop: the user's INBOX as a POP3 maildrop -- opened at login,
 * updated at QUIT (RFC 1939 6), closed at the end of the session.
 *
 * Login: the INBOX is looked up in mailboxes.db (a missing one is
 * "[SYS/PERM]", a reserved or moving one "[SYS/TEMP]"), with popuseacl the
 * user needs the r right, the mailbox is opened and its records read once
 * under a shared lock: every message not expunged (with popuseimapflags,
 * not flagged \Deleted either) becomes one entry of the session's fixed
 * list.  Messages that arrive later are not part of this session.  Then
 * popminpoll is enforced ("[LOGIN-DELAY]").
 *
 * Update: messages marked by DELE are expunged in one mailbox_expunge()
 * call (which takes the exclusive lock and returns once the change is
 * durable), and with popuseimapflags those retrieved get \Seen (the owner's
 * flag in the index record, as Cyrus's popuseimapflags does).  "+OK" is
 * sent only after that.  A session that ends without QUIT changes nothing.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "error.h"
#include "libconfig.h"
#include "log.h"
#include "prot.h"
#include "xmalloc.h"
#include "imap/store/acl.h"
#include "imap/store/mailbox.h"
#include "imap/store/mboxlist.h"
#include "imap/store/namespace.h"

#include "imap/pop3d/pop3d.h"

/* The mailboxes.db entry of the INBOX: 0 with *e filled, or an error after
 * the "-ERR" reply. */
static int locate(struct pop3_session *s, const char *inbox, struct mboxlist_entry *e)
{
    struct mboxlist *ml = NULL;
    int r = mboxlist_open_config(CYRUSDB_READONLY, &ml);
    if (r == CYRERR_NOTFOUND) {
        /* no mailboxes.db yet: no mailbox at all */
        r = CYRERR_MAILBOX_NONEXISTENT;
        pop3_err(s, "[SYS/PERM] Unable to locate maildrop: %s", error_message(r));
        return r;
    }
    if (r) {
        xsyslog(LOG_ERR, "cannot open mailboxes.db", "error=<%s>", error_message(r));
        pop3_err(s, "[SYS/TEMP] Unable to locate maildrop: %s", error_message(r));
        return r;
    }
    r = mboxlist_lookup(ml, inbox, e, NULL);
    (void)mboxlist_close(ml);
    if (r == 0) {
        if (e->type & MBOXLIST_DELETED) r = CYRERR_MAILBOX_NONEXISTENT;
        else if (e->type & MBOXLIST_RESERVED) r = CYRERR_MAILBOX_RESERVED;
        else if (e->type & MBOXLIST_MOVING) r = CYRERR_MAILBOX_MOVED;
        else if (e->type & MBOXLIST_REMOTE) r = CYRERR_MAILBOX_MOVED;
        if (r) mboxlist_entry_free(e);
    }
    switch (r) {
    case 0:
        return 0;
    case CYRERR_MAILBOX_NONEXISTENT:
    case CYRERR_NOTFOUND:
        r = CYRERR_MAILBOX_NONEXISTENT;
        pop3_err(s, "[SYS/PERM] Unable to locate maildrop: %s", error_message(r));
        break;
    default:
        pop3_err(s, "[SYS/TEMP] Unable to open maildrop: %s", error_message(r));
        break;
    }
    xsyslog(LOG_INFO, "unable to open maildrop", "mailbox=<%s> error=<%s>", inbox,
            error_message(r));
    return r;
}

static unsigned owner_rights(void)
{
    unsigned rights = 0;
    const char *s = config_getstring(IMAPOPT_IMPLICIT_OWNER_RIGHTS);
    if (s && acl_rights_parse(s, &rights, NULL)) rights = 0;
    return rights;
}

/* Read the messages of the open mailbox into md.  0 or an error (no reply). */
static int read_messages(struct pop3_maildrop *md)
{
    int r = mailbox_lock(md->mb, MAILBOX_LOCK_SHARED);
    if (r) return r;
    struct mailbox_status st;
    mailbox_status(md->mb, &st);
    md->uidvalidity = st.uidvalidity;
    uint32_t n = mailbox_num_records(md->mb);
    md->msgs = xcalloc(n ? n : 1, sizeof(*md->msgs));
    md->count = 0;
    for (uint32_t recno = 0; recno < n; recno++) {
        struct mailbox_record rec;
        r = mailbox_read_record(md->mb, recno, &rec);
        if (r) break;
        if (rec.system_flags & (MAILBOX_FLAG_EXPUNGED | MAILBOX_FLAG_UNLINKED)) continue;
        if (md->useimapflags && (rec.system_flags & MAILBOX_FLAG_DELETED)) continue;
        struct pop3_msg *m = &md->msgs[md->count++];
        m->uid = rec.uid;
        m->size = rec.size;
    }
    mailbox_unlock(md->mb);
    return r;
}

static void maildrop_free(struct pop3_maildrop **mdp)
{
    struct pop3_maildrop *md = *mdp;
    if (!md) return;
    mailbox_close(&md->mb);
    free(md->name);
    free(md->msgs);
    free(md);
    *mdp = NULL;
}

/* popminpoll: 0 when the login may go on, else after the "-ERR" reply. */
static int check_login_delay(struct pop3_session *s, const char *userid)
{
    long long minpoll = config_getduration(IMAPOPT_POPMINPOLL);
    if (minpoll <= 0) return 0;
    long long padding = config_getint(IMAPOPT_POPPOLLPADDING);
    if (padding < 1) padding = 1;
    if (padding > 1000) padding = 1000;
    long wait = 0;
    int r = pop3_logindelay_take(userid, time(NULL), (long)minpoll, (int)padding, &wait);
    if (r < 0) {
        /* an unreadable record must not lock the user out: log and go on */
        xsyslog(LOG_ERR, "cannot update login delay record", "user=<%s> error=<%s>",
                userid, error_message(r));
        return 0;
    }
    if (r == 1) return 0;
    long long minutes = (minpoll + 59) / 60;
    xsyslog(LOG_NOTICE, "login refused by popminpoll", "user=<%s> peer=<%s> wait=<%ld>",
            userid, s->conn->peer, wait);
    pop3_err(s, "[LOGIN-DELAY] Logins must be at least %lld minute%s apart", minutes,
             minutes == 1 ? "" : "s");
    return CYRERR_PERMISSION;
}

int pop3_maildrop_open(struct pop3_session *s, const char *userid)
{
    struct namespace ns;
    namespace_from_config(&ns, 0);
    char *inbox = namespace_user_inbox(&ns, userid);
    if (!inbox) {
        pop3_err(s, "[SYS/PERM] Unable to locate maildrop: %s",
                 error_message(CYRERR_INVALID_USER));
        return CYRERR_INVALID_USER;
    }

    struct mboxlist_entry e = MBOXLIST_ENTRY_INITIALIZER;
    int r = locate(s, inbox, &e);
    if (r) {
        free(inbox);
        return r;
    }

    struct pop3_maildrop *md = xzmalloc(sizeof(*md));
    md->name = inbox;
    md->rights = ACL_FULL;
    md->useimapflags = config_getswitch(IMAPOPT_POPUSEIMAPFLAGS);
    if (config_getswitch(IMAPOPT_POPUSEACL)) {
        struct acl_identity who = { userid, NULL, config_is_admin(userid) };
        md->rights = acl_myrights_str(e.acl, &who, namespace_user_owns(&ns, userid, inbox),
                                      owner_rights());
        if (!(md->rights & ACL_READ)) {
            r = CYRERR_PERMISSION;
            pop3_err(s, "[SYS/PERM] Unable to open maildrop: %s", error_message(r));
            goto fail;
        }
    }

    r = mailbox_open(inbox, e.partition, &md->mb);
    if (!r) r = read_messages(md);
    if (r) {
        xsyslog(LOG_ERR, "unable to open maildrop", "mailbox=<%s> error=<%s>", inbox,
                error_message(r));
        if (r == CYRERR_MAILBOX_LOCKED || r == CYRERR_DEADLOCK || r == CYRERR_LOCKED)
            pop3_err(s, "[IN-USE] Unable to lock maildrop: %s", error_message(r));
        else
            pop3_err(s, "[SYS/TEMP] Unable to open maildrop: %s", error_message(r));
        goto fail;
    }

    r = check_login_delay(s, userid);
    if (r) goto fail;

    uint64_t octets = 0;
    for (uint32_t i = 0; i < md->count; i++) octets += md->msgs[i].size;
    mboxlist_entry_free(&e);
    s->md = md;
    s->state = POP3_TRANSACTION;
    pop3_ok(s, "Maildrop has %u message%s (%llu octets)", md->count,
            md->count == 1 ? "" : "s", (unsigned long long)octets);
    return 0;

fail:
    mboxlist_entry_free(&e);
    maildrop_free(&md);
    return r;
}

void pop3_maildrop_update(struct pop3_session *s)
{
    struct pop3_maildrop *md = s->md;
    uint32_t *del = xcalloc(md->count ? md->count : 1, sizeof(uint32_t));
    uint32_t *seen = xcalloc(md->count ? md->count : 1, sizeof(uint32_t));
    size_t ndel = 0, nseen = 0;
    int setseen = md->useimapflags && (md->rights & ACL_SETSEEN);

    for (uint32_t i = 0; i < md->count; i++) {
        if (md->msgs[i].deleted) del[ndel++] = md->msgs[i].uid;
        else if (setseen && md->msgs[i].retrieved) seen[nseen++] = md->msgs[i].uid;
    }

    int r = 0;
    if (nseen) {
        struct mailbox_flags flags;
        memset(&flags, 0, sizeof(flags));
        flags.system = MAILBOX_FLAG_SEEN;
        r = mailbox_store(md->mb, seen, nseen, MAILBOX_STORE_ADD, &flags, 0, NULL,
                          NULL, NULL);
        if (r)
            xsyslog(LOG_ERR, "cannot set \\Seen", "mailbox=<%s> error=<%s>", md->name,
                    error_message(r));
    }
    size_t nexpunged = 0;
    int rx = 0;
    if (ndel) {
        rx = mailbox_expunge(md->mb, del, ndel, MAILBOX_EXPUNGE_ANY, NULL, NULL,
                             &nexpunged);
        if (rx)
            xsyslog(LOG_ERR, "cannot expunge", "mailbox=<%s> error=<%s>", md->name,
                    error_message(rx));
        else
            xsyslog(LOG_INFO, "pop3 expunge", "mailbox=<%s> marked=<%zu> expunged=<%zu>",
                    md->name, ndel, nexpunged);
    }

    if (rx) {
        pop3_err(s, "[SYS/TEMP] Some deleted messages were not removed: %s",
                 error_message(rx));
    } else {
        uint32_t left = md->count - (uint32_t)ndel;
        if (left)
            pop3_ok(s, "%s POP3 server signing off (%u message%s left)",
                    config_servername(), left, left == 1 ? "" : "s");
        else
            pop3_ok(s, "%s POP3 server signing off (maildrop empty)",
                    config_servername());
    }
    (void)prot_flush(s->p);
    free(del);
    free(seen);
    /* closing may clean up the expunged files: after the reply */
    pop3_maildrop_close(s);
}

void pop3_maildrop_close(struct pop3_session *s)
{
    maildrop_free(&s->md);
}

/* mailbox_quota: the only place where the mailbox module talks to the quota
 * database (quota.h), so that a mailbox without a quota root never needs
 * one.  Usage is charged under the mailbox lock, after the index commit. */
#include "config.h"

#include <string.h>

#include "error.h"
#include "log.h"
#include "imap/store/mailbox_int.h"
#include "imap/store/quota.h"

int mailbox_quota_begin(struct mailbox *mb, struct mailbox_quota *mq)
{
    memset(mq, 0, sizeof(*mq));
    const char *root = mb->meta.quotaroot;
    if (!root || !*root) return 0;
    quota_init(&mq->q, root);
    int r = quota_read(root, &mq->q);
    if (r == CYRERR_QUOTAROOT_NONEXISTENT || r == CYRERR_NOTFOUND) {
        /* the root was removed: nothing to enforce */
        quota_free(&mq->q);
        return 0;
    }
    if (r) {
        quota_free(&mq->q);
        xsyslog(LOG_ERR, "mailbox quota read failed", "mailbox=<%s> root=<%s> error=<%s>",
                mb->meta.name, root, error_message(r));
        return r;
    }
    mq->active = 1;
    return 0;
}

int mailbox_quota_fits(struct mailbox_quota *mq, long long bytes, long long msgs)
{
    if (!mq->active) return 0;
    return quota_check(&mq->q, mq->bytes + bytes, mq->msgs + msgs);
}

void mailbox_quota_take(struct mailbox_quota *mq, long long bytes, long long msgs)
{
    mq->bytes += bytes;
    mq->msgs += msgs;
}

void mailbox_quota_end(struct mailbox_quota *mq)
{
    if (mq->active) quota_free(&mq->q);
    mq->active = 0;
}

int mailbox_quota_charge(struct mailbox *mb, long long bytes, long long msgs)
{
    const char *root = mb->meta.quotaroot;
    if (!root || !*root || (!bytes && !msgs)) return 0;
    int r = quota_update_used(root, bytes, msgs);
    if (r == CYRERR_QUOTAROOT_NONEXISTENT || r == CYRERR_NOTFOUND) return 0;
    if (r)
        xsyslog(LOG_ERR, "mailbox quota update failed",
                "mailbox=<%s> root=<%s> bytes=<%lld> msgs=<%lld> error=<%s>",
                mb->meta.name, root, bytes, msgs, error_message(r));
    return r;
}

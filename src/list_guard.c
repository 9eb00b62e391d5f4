/* Listing loop detection (see list_guard.h). S3 and TOS list keys and common
 * prefixes together in byte order, so every page must begin after the last
 * name of the page before; a token already sent since names last moved
 * forward would give the same pages again. */
#include "list_guard.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void pfs_list_guard_init(struct pfs_list_guard *g)
{
    memset(g, 0, sizeof(*g));
}

static void forget_tokens(struct pfs_list_guard *g)
{
    for (size_t i = 0; i < g->n_tokens; i++)
        free(g->tokens[i]);
    g->n_tokens = 0;
}

void pfs_list_guard_cleanup(struct pfs_list_guard *g)
{
    forget_tokens(g);
    free(g->tokens);
    free(g->last);
    memset(g, 0, sizeof(*g));
}

/* The smallest and the greatest name of a page (entries and prefixes are
 * each sorted; the two lists interleave). */
static const char *page_first(const struct pfs_list_page *p)
{
    const char *e = p->n_entries ? p->entries[0].key : NULL;
    const char *x = p->n_prefixes ? p->prefixes[0] : NULL;
    if (!e || !x)
        return e ? e : x;
    return strcmp(e, x) < 0 ? e : x;
}

static const char *page_last(const struct pfs_list_page *p)
{
    const char *e = p->n_entries ? p->entries[p->n_entries - 1].key : NULL;
    const char *x = p->n_prefixes ? p->prefixes[p->n_prefixes - 1] : NULL;
    if (!e || !x)
        return e ? e : x;
    return strcmp(e, x) > 0 ? e : x;
}

static int remember_token(struct pfs_list_guard *g, const char *token)
{
    char **t = realloc(g->tokens, (g->n_tokens + 1) * sizeof(*t));
    if (!t)
        return -ENOMEM;
    g->tokens = t;
    if (!(t[g->n_tokens] = strdup(token)))
        return -ENOMEM;
    g->n_tokens++;
    return 0;
}

int pfs_list_guard_check(struct pfs_list_guard *g, const struct pfs_list_page *page,
                         const char *sent, char *why, size_t why_len)
{
    g->pages++;
    const char *first = page_first(page);
    if (first) {
        if (g->last && strcmp(first, g->last) <= 0) {
            snprintf(why, why_len,
                     "the listing went backwards: page %u begins at '%s', not after '%s'", g->pages,
                     first, g->last);
            return -EIO;
        }
        char *last = strdup(page_last(page));
        if (!last)
            return -ENOMEM;
        free(g->last);
        g->last = last;
        g->empty = 0;
        forget_tokens(g); /* names moved forward: earlier tokens cannot recur */
    } else if (page->truncated && ++g->empty > PFS_LIST_MAX_EMPTY_PAGES) {
        snprintf(why, why_len, "the listing gave %u empty truncated pages in a row",
                 PFS_LIST_MAX_EMPTY_PAGES + 1);
        return -EIO;
    }
    if (sent && remember_token(g, sent) != 0)
        return -ENOMEM;
    if (!page->truncated || !page->next_token)
        return 0;
    for (size_t i = 0; i < g->n_tokens; i++)
        if (strcmp(g->tokens[i], page->next_token) == 0) {
            snprintf(why, why_len,
                     "the listing loops: page %u names continuation token '%.64s' again", g->pages,
                     page->next_token);
            return -EIO;
        }
    return 0;
}

/* The inode table (superblock.c) on its own: numbering and the two hashes,
 * renames that carry a directory's cached descendants, upserts that leave
 * local changes alone, and when an inode may be freed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "fs_internal.h"

static struct pfs_fs *table_new(void)
{
    struct pfs_fs *fs = calloc(1, sizeof(*fs));
    assert_non_null(fs);
    pthread_mutex_init(&fs->lock, NULL);
    fs->negatives = pfs_negcache_new(16);
    fs->next_ino = PFS_ROOT_INO;
    fs->o.umask = 022;
    fs->o.attr_timeout = 60;
    struct inode *root = pfs_sb_new_inode(fs, 0, "", "pre/", true);
    assert_non_null(root);
    assert_int_equal(root->ino, PFS_ROOT_INO);
    root->nlookup = 1;
    return fs;
}

static void table_free(struct pfs_fs *fs)
{
    for (size_t b = 0; b < INO_BUCKETS; b++)
        while (fs->by_ino[b]) {
            struct inode *in = fs->by_ino[b];
            fs->by_ino[b] = in->next_by_ino;
            pfs_sb_free_inode(in);
        }
    pfs_negcache_free(fs->negatives);
    pthread_mutex_destroy(&fs->lock);
    free(fs);
}

static void test_numbers_and_names(void **state)
{
    (void)state;
    struct pfs_fs *fs = table_new();
    struct inode *root = pfs_sb_find_ino(fs, PFS_ROOT_INO);
    struct inode *d = pfs_sb_upsert_child(fs, root, "d", true, 0, 0, "", NULL);
    struct inode *f = pfs_sb_upsert_child(fs, d, "f", false, 12, 1000, "\"e1\"", NULL);
    assert_non_null(d);
    assert_non_null(f);
    assert_string_equal(d->key, "pre/d/");
    assert_string_equal(f->key, "pre/d/f");
    assert_true(pfs_sb_find_ino(fs, f->ino) == f);
    assert_true(pfs_sb_find_child(fs, d->ino, "f") == f);
    assert_null(pfs_sb_find_child(fs, root->ino, "f")); /* same name, other parent */
    /* A second answer for the same name refreshes the same inode. */
    assert_true(pfs_sb_upsert_child(fs, d, "f", false, 20, 2000, "\"e2\"", NULL) == f);
    assert_int_equal(f->size, 20);
    assert_string_equal(f->etag, "\"e2\"");
    struct pfs_attr a;
    pfs_sb_fill_attr(fs, f, &a);
    assert_int_equal(a.mode, S_IFREG | 0644); /* no metadata: the mount's umask */
    assert_int_equal(a.mtime, 2000);
    table_free(fs);
}

static void test_local_changes_win(void **state)
{
    (void)state;
    struct pfs_fs *fs = table_new();
    struct inode *root = pfs_sb_find_ino(fs, PFS_ROOT_INO);
    struct inode *f = pfs_sb_upsert_child(fs, root, "f", false, 5, 1000, "\"e1\"", NULL);
    f->open_count = 1; /* being written here */
    f->size = 99;
    struct pfs_objmeta m = {.has_mode = true, .mode = S_IFREG | 0600};
    assert_true(pfs_sb_upsert_child(fs, root, "f", false, 5, 3000, "\"e9\"", &m) == f);
    assert_int_equal(f->size, 99);
    assert_string_equal(f->etag, "\"e1\"");
    assert_int_equal(f->perm, 0644);
    /* A name that turned into a directory in the store keeps its open inode. */
    assert_true(pfs_sb_upsert_child(fs, root, "f", true, 0, 0, "", NULL) == f);
    assert_false(f->is_dir);
    f->open_count = 0;
    struct inode *d = pfs_sb_upsert_child(fs, root, "f", true, 0, 0, "", NULL);
    assert_true(d != f);
    assert_true(d->is_dir);
    assert_true(f->unlinked);
    table_free(fs);
}

static void test_rekey_moves_descendants(void **state)
{
    (void)state;
    struct pfs_fs *fs = table_new();
    struct inode *root = pfs_sb_find_ino(fs, PFS_ROOT_INO);
    struct inode *d = pfs_sb_upsert_child(fs, root, "d", true, 0, 0, "", NULL);
    struct inode *e = pfs_sb_upsert_child(fs, d, "e", true, 0, 0, "", NULL);
    struct inode *f = pfs_sb_upsert_child(fs, e, "f", false, 1, 0, "", NULL);
    struct inode *other = pfs_sb_upsert_child(fs, root, "dd", false, 1, 0, "", NULL);
    struct inode *n = pfs_sb_upsert_child(fs, root, "n", true, 0, 0, "", NULL);
    pfs_sb_rekey(fs, d, n->ino, "m", "pre/n/m/");
    assert_string_equal(d->key, "pre/n/m/");
    assert_string_equal(e->key, "pre/n/m/e/");
    assert_string_equal(f->key, "pre/n/m/e/f");
    assert_string_equal(other->key, "pre/dd"); /* shares the prefix "pre/d" only */
    assert_null(pfs_sb_find_child(fs, root->ino, "d"));
    assert_true(pfs_sb_find_child(fs, n->ino, "m") == d);
    assert_true(pfs_sb_find_child(fs, d->ino, "e") == e); /* children keep their parent */
    table_free(fs);
}

static void test_drop_only_when_unreferenced(void **state)
{
    (void)state;
    struct pfs_fs *fs = table_new();
    struct inode *root = pfs_sb_find_ino(fs, PFS_ROOT_INO);
    struct inode *f = pfs_sb_upsert_child(fs, root, "f", false, 1, 0, "", NULL);
    uint64_t ino = f->ino;
    f->nlookup = 1;
    pfs_sb_maybe_drop(fs, f);
    assert_true(pfs_sb_find_ino(fs, ino) == f); /* the kernel still knows it */
    f->nlookup = 0;
    f->pending_upload = true;
    pfs_sb_maybe_drop(fs, f);
    assert_true(pfs_sb_find_ino(fs, ino) == f); /* data the store lacks */
    f->pending_upload = false;
    f->staged_bytes = 7;
    fs->staged_total = 7;
    pfs_sb_maybe_drop(fs, f);
    assert_null(pfs_sb_find_ino(fs, ino));
    assert_null(pfs_sb_find_child(fs, root->ino, "f"));
    assert_int_equal(fs->staged_total, 0); /* its cache_size share is given back */
    pfs_sb_maybe_drop(fs, root);
    assert_true(pfs_sb_find_ino(fs, PFS_ROOT_INO) == root); /* the root stays */
    table_free(fs);
}

static void test_negative_cache(void **state)
{
    (void)state;
    struct pfs_fs *fs = table_new();
    struct inode *root = pfs_sb_find_ino(fs, PFS_ROOT_INO);
    fs->o.negative_timeout = 60;
    pfs_sb_negative_add(fs, root->ino, "gone");
    assert_true(pfs_sb_negative_known(fs, root->ino, "gone"));
    /* Creating the name forgets that it was missing. */
    assert_non_null(pfs_sb_upsert_child(fs, root, "gone", false, 0, 0, "", NULL));
    assert_false(pfs_sb_negative_known(fs, root->ino, "gone"));
    table_free(fs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_numbers_and_names),
        cmocka_unit_test(test_local_changes_win),
        cmocka_unit_test(test_rekey_moves_descendants),
        cmocka_unit_test(test_drop_only_when_unreferenced),
        cmocka_unit_test(test_negative_cache),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * slowfs3: a libfuse3 passthrough filesystem that sleeps a fixed delay in chosen operations.
 *
 * The C twin of slowfs.py (same command line, same stdin control protocol, same counters),
 * for when the harness itself must not be the bottleneck: slowfs.py runs on libfuse 2.9
 * (at most 10 worker threads, no FUSE_PARALLEL_DIROPS) with Python callbacks under the
 * GIL; slowfs3 runs up to --threads worker threads (default 64), like an NFS server with
 * many nfsd threads, and costs a few microseconds per request besides the delay.
 *
 *   slowfs3 SOURCE MOUNTPOINT [--delay-ms 1] [--ops getattr,readdir,unlink]
 *           [--attr-timeout 1] [--entry-timeout 1] [--threads 64] [--no-clone-fd]
 *           [--serial-dirops] [--debug]
 *
 * stdin, one command a line, one JSON line answered on stdout each: `stats`, `reset`
 * (returns the counts before zeroing them), `delay MS`. When stdin closes (the client went
 * away) the mount is lazily unmounted. The first stdout line, once the kernel's INIT
 * arrived, is {"ready": true, ...}.
 *
 * Paths: every operation works relative to a descriptor of SOURCE; the parent directory of
 * a path is opened with openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS) (or component by
 * component with O_NOFOLLOW where openat2 is missing), and the last component is never
 * followed (AT_SYMLINK_NOFOLLOW, O_NOFOLLOW). The kernel resolves symlinks on the mount
 * itself (READLINK), so a symlink inside a path it sends can only come from a change to
 * SOURCE behind the mount's back; such a path fails with ELOOP instead of escaping SOURCE.
 *
 * Build: tools/slowfs/build.sh (cc $(pkg-config --cflags --libs fuse3)); Debian packages
 * libfuse3-dev, fuse3, pkg-config, gcc.
 */
#ifndef FUSE_USE_VERSION
#define FUSE_USE_VERSION 312
#endif
#define _GNU_SOURCE

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fuse.h>
#include <fuse_lowlevel.h>
#include <limits.h>
#include <pthread.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifdef SYS_openat2
#include <linux/openat2.h>
#endif

extern char **environ;

/* Operation names, as slowfs.py counts them (fusepy's method names), sorted. */
#define OPS(X)                                                                             \
    X(access) X(chmod) X(chown) X(create) X(destroy) X(flush) X(fsync) X(getattr)          \
    X(init) X(link) X(mkdir) X(mknod) X(open) X(opendir) X(read) X(readdir) X(readlink)    \
    X(release) X(releasedir) X(rename) X(rmdir) X(statfs) X(symlink) X(truncate)           \
    X(unlink) X(utimens) X(write)

enum op {
#define X(n) OP_##n,
    OPS(X)
#undef X
    OP_COUNT
};

static const char *const op_names[OP_COUNT] = {
#define X(n) #n,
    OPS(X)
#undef X
};

/* Operations that may be delayed (slowfs.py's ALL_OPS). */
static const char *const delayable[] = {
    "getattr", "readdir", "unlink", "rmdir", "mkdir", "rename", "create", "open",
    "opendir", "read", "write", "release", "truncate", "utimens", "chmod", "chown",
    "link", "symlink", "readlink", "statfs", "fsync", "flush", "access", "mknod", NULL};

static int src_fd = -1;
static char *mountpoint;
static unsigned threads = 64;
static bool delayed[OP_COUNT];
static _Atomic long delay_ns;
static _Atomic unsigned long counts[OP_COUNT];
static _Atomic unsigned long delayed_counts[OP_COUNT];
static double attr_timeout = 1.0, entry_timeout = 1.0;
static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;
static bool want_parallel_dirops = true;
#ifdef SYS_openat2
static _Atomic int have_openat2 = 1;
#else
static _Atomic int have_openat2 = 0;
#endif

/* Count the operation; sleep the delay first when it is one of the chosen ones. */
static void enter(enum op op)
{
    atomic_fetch_add_explicit(&counts[op], 1, memory_order_relaxed);
    if (!delayed[op])
        return;
    atomic_fetch_add_explicit(&delayed_counts[op], 1, memory_order_relaxed);
    long ns = atomic_load_explicit(&delay_ns, memory_order_relaxed);
    if (ns <= 0)
        return;
    struct timespec ts = {ns / 1000000000L, ns % 1000000000L};
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
        ;
}

/* ---------------------------------------------------------------------------------------
 * Paths: "/a/b/name" -> (descriptor of SOURCE/a/b, "name"), never leaving SOURCE.
 */

struct loc {
    int dirfd;        /* src_fd or an O_PATH descriptor of the parent (closed by done()) */
    const char *name; /* the last component ("." for the root itself) */
    char buf[PATH_MAX];
};

static int bad_component(const char *s, size_t n)
{
    return n == 0 || (n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.');
}

static int open_beneath(const char *rel)
{
#ifdef SYS_openat2
    if (atomic_load_explicit(&have_openat2, memory_order_relaxed)) {
        struct open_how how = {
            .flags = O_PATH | O_DIRECTORY | O_CLOEXEC,
            .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
        };
        long fd = syscall(SYS_openat2, src_fd, rel, &how, sizeof how);
        if (fd >= 0)
            return (int)fd;
        if (errno != ENOSYS)
            return -errno;
        atomic_store(&have_openat2, 0);
    }
#endif
    /* Component by component, each with O_NOFOLLOW. */
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s", rel);
    int dir = src_fd;
    char *save = NULL;
    for (char *c = strtok_r(tmp, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
        int fd = openat(dir, c, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        int err = errno;
        if (dir != src_fd)
            close(dir);
        if (fd < 0)
            return -err;
        dir = fd;
    }
    return dir == src_fd ? openat(src_fd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC) : dir;
}

/* 0 or -errno. */
static int locate(const char *path, struct loc *l)
{
    l->dirfd = src_fd;
    if (path == NULL || path[0] != '/')
        return -EINVAL;
    size_t len = strlen(path);
    if (len >= sizeof l->buf)
        return -ENAMETOOLONG;
    if (len == 1) {
        l->name = ".";
        return 0;
    }
    memcpy(l->buf, path + 1, len); /* with the NUL */
    for (char *s = l->buf;;) {
        char *e = strchr(s, '/');
        size_t n = e ? (size_t)(e - s) : strlen(s);
        if (bad_component(s, n))
            return -EINVAL;
        if (!e)
            break;
        s = e + 1;
    }
    char *slash = strrchr(l->buf, '/');
    if (slash == NULL) {
        l->name = l->buf;
        return 0;
    }
    *slash = '\0';
    l->name = slash + 1;
    int fd = open_beneath(l->buf);
    if (fd < 0)
        return fd;
    l->dirfd = fd;
    return 0;
}

static void done(struct loc *l)
{
    if (l->dirfd != src_fd && l->dirfd >= 0)
        close(l->dirfd);
    l->dirfd = -1;
}

#define RET(expr) return (expr) == -1 ? -errno : 0

/* ---------------------------------------------------------------------------------------
 * Operations.
 */

static int s_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
    (void)fi;
    enter(OP_getattr);
    struct loc l;
    int r = locate(path, &l);
    if (r == 0 && fstatat(l.dirfd, l.name, st, AT_SYMLINK_NOFOLLOW) == -1)
        r = -errno;
    done(&l);
    return r;
}

static int s_readlink(const char *path, char *buf, size_t size)
{
    enter(OP_readlink);
    if (size == 0)
        return -EINVAL;
    struct loc l;
    int r = locate(path, &l);
    if (r == 0) {
        ssize_t n = readlinkat(l.dirfd, l.name, buf, size - 1);
        if (n == -1)
            r = -errno;
        else
            buf[n] = '\0';
    }
    done(&l);
    return r;
}

static int s_opendir(const char *path, struct fuse_file_info *fi)
{
    (void)path;
    (void)fi;
    enter(OP_opendir); /* like fusepy's default opendir: the listing opens the directory */
    return 0;
}

static int s_releasedir(const char *path, struct fuse_file_info *fi)
{
    (void)path;
    (void)fi;
    enter(OP_releasedir);
    return 0;
}

static mode_t dtype_mode(unsigned char t)
{
    switch (t) {
    case DT_DIR: return S_IFDIR;
    case DT_LNK: return S_IFLNK;
    case DT_REG: return S_IFREG;
    case DT_FIFO: return S_IFIFO;
    case DT_SOCK: return S_IFSOCK;
    case DT_CHR: return S_IFCHR;
    case DT_BLK: return S_IFBLK;
    default: return 0;
    }
}

/* The whole directory in one call (offset 0 to the filler: libfuse keeps the buffer), names
 * and file types only, like NFS READDIR (READDIRPLUS is switched off in init). */
static int s_readdir(const char *path, void *buf, fuse_fill_dir_t filler, off_t offset,
                     struct fuse_file_info *fi, enum fuse_readdir_flags flags)
{
    (void)offset;
    (void)fi;
    (void)flags;
    enter(OP_readdir);
    struct loc l;
    int r = locate(path, &l);
    if (r != 0) {
        done(&l);
        return r;
    }
    int fd = openat(l.dirfd, l.name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd == -1) {
        r = -errno;
        done(&l);
        return r;
    }
    done(&l);
    DIR *d = fdopendir(fd);
    if (d == NULL) {
        r = -errno;
        close(fd);
        return r;
    }
    filler(buf, ".", NULL, 0, 0);
    filler(buf, "..", NULL, 0, 0);
    struct dirent *e;
    errno = 0;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        struct stat st;
        memset(&st, 0, sizeof st);
        st.st_ino = e->d_ino;
        st.st_mode = dtype_mode(e->d_type);
        if (st.st_mode == 0) {
            struct stat full;
            if (fstatat(dirfd(d), e->d_name, &full, AT_SYMLINK_NOFOLLOW) == 0)
                st.st_mode = full.st_mode & S_IFMT;
        }
        if (filler(buf, e->d_name, &st, 0, 0) != 0) {
            errno = ENOMEM;
            break;
        }
        errno = 0;
    }
    r = errno ? -errno : 0;
    closedir(d);
    return r;
}

static int s_mknod(const char *path, mode_t mode, dev_t rdev)
{
    enter(OP_mknod);
    struct loc l;
    int r = locate(path, &l);
    if (r == 0 && mknodat(l.dirfd, l.name, mode, rdev) == -1)
        r = -errno;
    done(&l);
    return r;
}

static int s_mkdir(const char *path, mode_t mode)
{
    enter(OP_mkdir);
    struct loc l;
    int r = locate(path, &l);
    if (r == 0 && mkdirat(l.dirfd, l.name, mode) == -1)
        r = -errno;
    done(&l);
    return r;
}

static int s_unlink(const char *path)
{
    enter(OP_unlink);
    struct loc l;
    int r = locate(path, &l);
    if (r == 0 && unlinkat(l.dirfd, l.name, 0) == -1)
        r = -errno;
    done(&l);
    return r;
}

static int s_rmdir(const char *path)
{
    enter(OP_rmdir);
    struct loc l;
    int r = locate(path, &l);
    if (r == 0 && unlinkat(l.dirfd, l.name, AT_REMOVEDIR) == -1)
        r = -errno;
    done(&l);
    return r;
}

static int s_symlink(const char *target, const char *linkpath)
{
    enter(OP_symlink);
    struct loc l;
    int r = locate(linkpath, &l);
    if (r == 0 && symlinkat(target, l.dirfd, l.name) == -1)
        r = -errno;
    done(&l);
    return r;
}

static int s_rename(const char *from, const char *to, unsigned int flags)
{
    enter(OP_rename);
    struct loc a, b;
    int r = locate(from, &a);
    if (r != 0) {
        done(&a);
        return r;
    }
    r = locate(to, &b);
    if (r == 0 && renameat2(a.dirfd, a.name, b.dirfd, b.name, flags) == -1)
        r = -errno;
    done(&a);
    done(&b);
    return r;
}

static int s_link(const char *from, const char *to)
{
    enter(OP_link);
    struct loc a, b;
    int r = locate(from, &a);
    if (r != 0) {
        done(&a);
        return r;
    }
    r = locate(to, &b);
    if (r == 0 && linkat(a.dirfd, a.name, b.dirfd, b.name, 0) == -1) /* never follows */
        r = -errno;
    done(&a);
    done(&b);
    return r;
}

static int s_chmod(const char *path, mode_t mode, struct fuse_file_info *fi)
{
    enter(OP_chmod);
    if (fi != NULL)
        RET(fchmod((int)fi->fh, mode));
    struct loc l;
    int r = locate(path, &l);
    if (r == 0 && fchmodat(l.dirfd, l.name, mode, AT_SYMLINK_NOFOLLOW) == -1)
        r = -errno;
    done(&l);
    return r;
}

static int s_chown(const char *path, uid_t uid, gid_t gid, struct fuse_file_info *fi)
{
    enter(OP_chown);
    if (fi != NULL)
        RET(fchown((int)fi->fh, uid, gid));
    struct loc l;
    int r = locate(path, &l);
    if (r == 0 && fchownat(l.dirfd, l.name, uid, gid, AT_SYMLINK_NOFOLLOW) == -1)
        r = -errno;
    done(&l);
    return r;
}

static int s_truncate(const char *path, off_t size, struct fuse_file_info *fi)
{
    enter(OP_truncate);
    if (fi != NULL)
        RET(ftruncate((int)fi->fh, size));
    struct loc l;
    int r = locate(path, &l);
    if (r == 0) {
        int fd = openat(l.dirfd, l.name, O_WRONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
        if (fd == -1)
            r = -errno;
        else {
            if (ftruncate(fd, size) == -1)
                r = -errno;
            close(fd);
        }
    }
    done(&l);
    return r;
}

static int s_utimens(const char *path, const struct timespec tv[2], struct fuse_file_info *fi)
{
    enter(OP_utimens);
    if (fi != NULL)
        RET(futimens((int)fi->fh, tv));
    struct loc l;
    int r = locate(path, &l);
    if (r == 0 && utimensat(l.dirfd, l.name, tv, AT_SYMLINK_NOFOLLOW) == -1)
        r = -errno;
    done(&l);
    return r;
}

static int s_open(const char *path, struct fuse_file_info *fi)
{
    enter(OP_open);
    struct loc l;
    int r = locate(path, &l);
    if (r == 0) {
        int fd = openat(l.dirfd, l.name, (fi->flags & ~O_CREAT) | O_NOFOLLOW | O_CLOEXEC);
        if (fd == -1)
            r = -errno;
        else
            fi->fh = (uint64_t)fd;
    }
    done(&l);
    return r;
}

static int s_create(const char *path, mode_t mode, struct fuse_file_info *fi)
{
    enter(OP_create);
    struct loc l;
    int r = locate(path, &l);
    if (r == 0) {
        int fd = openat(l.dirfd, l.name, fi->flags | O_CREAT | O_NOFOLLOW | O_CLOEXEC, mode);
        if (fd == -1)
            r = -errno;
        else
            fi->fh = (uint64_t)fd;
    }
    done(&l);
    return r;
}

static int s_read(const char *path, char *buf, size_t size, off_t off,
                  struct fuse_file_info *fi)
{
    (void)path;
    enter(OP_read);
    ssize_t n = pread((int)fi->fh, buf, size, off);
    return n == -1 ? -errno : (int)n;
}

static int s_write(const char *path, const char *buf, size_t size, off_t off,
                   struct fuse_file_info *fi)
{
    (void)path;
    enter(OP_write);
    ssize_t n = pwrite((int)fi->fh, buf, size, off);
    return n == -1 ? -errno : (int)n;
}

static int s_statfs(const char *path, struct statvfs *sv)
{
    (void)path;
    enter(OP_statfs);
    RET(fstatvfs(src_fd, sv));
}

static int s_flush(const char *path, struct fuse_file_info *fi)
{
    (void)path;
    (void)fi;
    enter(OP_flush);
    return 0;
}

static int s_release(const char *path, struct fuse_file_info *fi)
{
    (void)path;
    enter(OP_release);
    close((int)fi->fh);
    return 0;
}

static int s_fsync(const char *path, int datasync, struct fuse_file_info *fi)
{
    (void)path;
    enter(OP_fsync);
    RET(datasync ? fdatasync((int)fi->fh) : fsync((int)fi->fh));
}

static int s_access(const char *path, int mask)
{
    enter(OP_access);
    struct loc l;
    int r = locate(path, &l);
    if (r == 0 && faccessat(l.dirfd, l.name, mask, AT_SYMLINK_NOFOLLOW) == -1)
        r = -errno;
    done(&l);
    return r;
}

/* ---------------------------------------------------------------------------------------
 * FUSE_PARALLEL_DIROPS. Without it the kernel serialises LOOKUP and READDIR within one
 * directory (a per-directory mutex); an NFS client does not. libfuse before 3.17 never puts
 * the flag into its INIT reply, even when FUSE_CAP_PARALLEL_DIROPS is in conn->want (libfuse
 * PR #861), and from 3.17 on it is off unless asked for (PR #880). For the versions that drop
 * it, the session's I/O goes through the two functions below (fuse_session_custom_io), which
 * set the flag in the INIT reply when the kernel offered it. --serial-dirops keeps the
 * kernel's per-directory serialisation (what slowfs.py's libfuse 2.9 gets).
 */

#define K_FUSE_INIT 26u
#define K_PARALLEL_DIROPS (1u << 18)
#if FUSE_MAJOR_VERSION == 3 && FUSE_MINOR_VERSION >= 14 && FUSE_MINOR_VERSION < 17
#define PATCH_INIT_REPLY 1
#endif

struct k_in_header { /* struct fuse_in_header, <linux/fuse.h> */
    uint32_t len, opcode;
    uint64_t unique, nodeid;
    uint32_t uid, gid, pid;
    uint16_t total_extlen, padding;
};
struct k_out_header { /* struct fuse_out_header */
    uint32_t len;
    int32_t error;
    uint64_t unique;
};
struct k_init_head { /* the first fields of fuse_init_in and fuse_init_out */
    uint32_t major, minor, max_readahead, flags;
};

static _Atomic uint64_t init_unique;
static _Atomic int kernel_parallel_dirops = -1; /* -1: unknown */
static _Atomic int parallel_dirops;              /* what our INIT reply said */

#ifdef PATCH_INIT_REPLY
static ssize_t io_read(int fd, void *buf, size_t len, void *userdata)
{
    (void)userdata;
    ssize_t n = read(fd, buf, len);
    if (n >= (ssize_t)(sizeof(struct k_in_header) + sizeof(struct k_init_head))) {
        const struct k_in_header *h = buf;
        if (h->opcode == K_FUSE_INIT) {
            struct k_init_head in;
            memcpy(&in, (const char *)buf + sizeof *h, sizeof in);
            atomic_store(&kernel_parallel_dirops, (in.flags & K_PARALLEL_DIROPS) != 0);
            atomic_store(&init_unique, h->unique);
        }
    }
    return n;
}

static ssize_t io_writev(int fd, struct iovec *iov, int count, void *userdata)
{
    (void)userdata;
    uint64_t want = atomic_load(&init_unique);
    if (want != 0 && count >= 2 && iov[0].iov_len >= sizeof(struct k_out_header) &&
        iov[1].iov_len >= sizeof(struct k_init_head)) {
        const struct k_out_header *h = iov[0].iov_base;
        if (h->unique == want && h->error == 0) {
            struct k_init_head out;
            memcpy(&out, iov[1].iov_base, sizeof out);
            if (want_parallel_dirops && atomic_load(&kernel_parallel_dirops) == 1)
                out.flags |= K_PARALLEL_DIROPS;
            memcpy(iov[1].iov_base, &out, sizeof out);
            atomic_store(&parallel_dirops, (out.flags & K_PARALLEL_DIROPS) != 0);
            atomic_store(&init_unique, 0);
        }
    }
    return writev(fd, iov, count);
}
#endif

/* ---------------------------------------------------------------------------------------
 * Control channel: stats / reset / delay MS on stdin, one JSON line each on stdout.
 */

static void reply(const char *s)
{
    pthread_mutex_lock(&out_lock);
    size_t len = strlen(s), off = 0;
    while (off < len) {
        ssize_t n = write(STDOUT_FILENO, s + off, len - off);
        if (n <= 0) {
            if (n == -1 && errno == EINTR)
                continue;
            break;
        }
        off += (size_t)n;
    }
    pthread_mutex_unlock(&out_lock);
}

struct sbuf {
    char b[8192];
    size_t n;
};

static void put(struct sbuf *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct sbuf *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(s->b + s->n, sizeof s->b - s->n, fmt, ap);
    va_end(ap);
    if (n > 0)
        s->n = s->n + (size_t)n < sizeof s->b ? s->n + (size_t)n : sizeof s->b - 1;
}

static void put_delayed_ops(struct sbuf *s)
{
    put(s, "[");
    bool first = true;
    for (int i = 0; i < OP_COUNT; i++)
        if (delayed[i]) {
            put(s, "%s\"%s\"", first ? "" : ", ", op_names[i]);
            first = false;
        }
    put(s, "]");
}

static void snapshot(bool reset)
{
    unsigned long c[OP_COUNT], d[OP_COUNT];
    for (int i = 0; i < OP_COUNT; i++) {
        if (reset) {
            c[i] = atomic_exchange(&counts[i], 0);
            d[i] = atomic_exchange(&delayed_counts[i], 0);
        } else {
            c[i] = atomic_load(&counts[i]);
            d[i] = atomic_load(&delayed_counts[i]);
        }
    }
    struct sbuf s = {.n = 0};
    put(&s, "{\"impl\": \"c\", \"threads\": %u, \"parallel_dirops\": %s, \"delay_ms\": %.6g, "
            "\"delayed_ops\": ",
        threads, atomic_load(&parallel_dirops) ? "true" : "false",
        (double)atomic_load(&delay_ns) / 1e6);
    put_delayed_ops(&s);
    put(&s, ", \"ops\": {");
    bool first = true;
    for (int i = 0; i < OP_COUNT; i++)
        if (c[i]) {
            put(&s, "%s\"%s\": %lu", first ? "" : ", ", op_names[i], c[i]);
            first = false;
        }
    put(&s, "}, \"delayed\": {");
    first = true;
    for (int i = 0; i < OP_COUNT; i++)
        if (d[i]) {
            put(&s, "%s\"%s\": %lu", first ? "" : ", ", op_names[i], d[i]);
            first = false;
        }
    put(&s, "}}\n");
    reply(s.b);
}

static void lazy_unmount(void)
{
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
    const char *tools[] = {"fusermount3", "fusermount", NULL};
    for (int i = 0; tools[i]; i++) {
        char *argv[] = {(char *)tools[i], "-u", "-z", mountpoint, NULL};
        pid_t pid;
        if (posix_spawnp(&pid, tools[i], &fa, NULL, argv, environ) == 0) {
            int status;
            waitpid(pid, &status, 0);
            if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
                break;
        }
    }
    posix_spawn_file_actions_destroy(&fa);
}

static void *control(void *arg)
{
    (void)arg;
    char line[256];
    while (fgets(line, sizeof line, stdin) != NULL) {
        char cmd[32];
        double ms;
        if (sscanf(line, "%31s", cmd) != 1)
            continue;
        if (strcmp(cmd, "stats") == 0)
            snapshot(false);
        else if (strcmp(cmd, "reset") == 0)
            snapshot(true);
        else if (strcmp(cmd, "delay") == 0 && sscanf(line, "%*s %lf", &ms) == 1) {
            atomic_store(&delay_ns, ms > 0 ? (long)(ms * 1e6 + 0.5) : 0);
            snapshot(false);
        } else {
            line[strcspn(line, "\r\n\"\\")] = '\0';
            char msg[400];
            snprintf(msg, sizeof msg, "{\"error\": \"unknown command '%s'\"}\n", line);
            reply(msg);
        }
    }
    /* The client went away without unmounting: do not leave a dead mount behind. */
    lazy_unmount();
    return NULL;
}

static void *s_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
    enter(OP_init);
    cfg->use_ino = 1; /* the source's inode numbers, like an NFS fileid */
    cfg->attr_timeout = attr_timeout;
    cfg->entry_timeout = entry_timeout;
    cfg->negative_timeout = 0;
    /* Plain READDIR (names and types), like NFS without READDIRPLUS and like slowfs.py. */
    conn->want &= ~(unsigned)(FUSE_CAP_READDIRPLUS | FUSE_CAP_READDIRPLUS_AUTO);
    bool parallel = false;
    if (want_parallel_dirops && (conn->capable & FUSE_CAP_PARALLEL_DIROPS)) {
        conn->want |= FUSE_CAP_PARALLEL_DIROPS; /* honoured by libfuse >= 3.17 */
#if defined(PATCH_INIT_REPLY) || FUSE_MINOR_VERSION >= 17
        parallel = true;
#endif
    } else
        conn->want &= ~(unsigned)FUSE_CAP_PARALLEL_DIROPS;
#ifndef PATCH_INIT_REPLY
    atomic_store(&parallel_dirops, parallel);
#endif
    pthread_t t;
    pthread_attr_t a;
    pthread_attr_init(&a);
    pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
    pthread_create(&t, &a, control, NULL);
    pthread_attr_destroy(&a);
    struct sbuf s = {.n = 0};
    put(&s, "{\"ready\": true, \"impl\": \"c\", \"pid\": %d, \"threads\": %u, "
            "\"parallel_dirops\": %s, \"delay_ms\": %.6g, \"delayed_ops\": ",
        (int)getpid(), threads, parallel ? "true" : "false",
        (double)atomic_load(&delay_ns) / 1e6);
    put_delayed_ops(&s);
    put(&s, "}\n");
    reply(s.b);
    return NULL;
}

static void s_destroy(void *data)
{
    (void)data;
    enter(OP_destroy);
}

static const struct fuse_operations slow_ops = {
    .init = s_init,
    .destroy = s_destroy,
    .getattr = s_getattr,
    .readlink = s_readlink,
    .opendir = s_opendir,
    .readdir = s_readdir,
    .releasedir = s_releasedir,
    .mknod = s_mknod,
    .mkdir = s_mkdir,
    .unlink = s_unlink,
    .rmdir = s_rmdir,
    .symlink = s_symlink,
    .rename = s_rename,
    .link = s_link,
    .chmod = s_chmod,
    .chown = s_chown,
    .truncate = s_truncate,
    .utimens = s_utimens,
    .open = s_open,
    .create = s_create,
    .read = s_read,
    .write = s_write,
    .statfs = s_statfs,
    .flush = s_flush,
    .release = s_release,
    .fsync = s_fsync,
    .access = s_access,
};

/* ---------------------------------------------------------------------------------------
 * Command line.
 */

static void usage(void)
{
    fprintf(stderr,
            "usage: slowfs3 SOURCE MOUNTPOINT [--delay-ms MS] [--ops a,b,...]\n"
            "               [--attr-timeout S] [--entry-timeout S] [--threads N]\n"
            "               [--no-clone-fd] [--serial-dirops] [--debug]\n");
    exit(2);
}

static int set_ops(const char *spec)
{
    char tmp[1024];
    snprintf(tmp, sizeof tmp, "%s", spec);
    memset(delayed, 0, sizeof delayed);
    char *save = NULL;
    for (char *w = strtok_r(tmp, ",", &save); w; w = strtok_r(NULL, ",", &save)) {
        while (*w == ' ')
            w++;
        if (*w == '\0')
            continue;
        if (strcmp(w, "lookup") == 0)
            w = "getattr"; /* the high-level API has no lookup: LOOKUP arrives as getattr */
        bool all = strcmp(w, "all") == 0, found = false;
        for (int k = 0; delayable[k]; k++) {
            if (!all && strcmp(w, delayable[k]) != 0)
                continue;
            for (int i = 0; i < OP_COUNT; i++)
                if (strcmp(op_names[i], delayable[k]) == 0)
                    delayed[i] = true;
            found = true;
        }
        if (!found) {
            fprintf(stderr, "slowfs3: unknown operation '%s'\n", w);
            return -1;
        }
    }
    return 0;
}

static double num(const char *s, const char *what)
{
    char *end;
    double v = strtod(s, &end);
    if (*s == '\0' || *end != '\0' || v < 0) {
        fprintf(stderr, "slowfs3: bad %s '%s'\n", what, s);
        exit(2);
    }
    return v;
}

int main(int argc, char **argv)
{
    const char *source = NULL, *ops = "getattr,readdir,unlink";
    double delay_ms = 1.0;
    bool clone_fd = true, debug = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool has = i + 1 < argc;
        if (strcmp(a, "--delay-ms") == 0 && has)
            delay_ms = num(argv[++i], "--delay-ms");
        else if (strcmp(a, "--ops") == 0 && has)
            ops = argv[++i];
        else if (strcmp(a, "--attr-timeout") == 0 && has)
            attr_timeout = num(argv[++i], "--attr-timeout");
        else if (strcmp(a, "--entry-timeout") == 0 && has)
            entry_timeout = num(argv[++i], "--entry-timeout");
        else if (strcmp(a, "--threads") == 0 && has)
            threads = (unsigned)num(argv[++i], "--threads");
        else if (strcmp(a, "--no-clone-fd") == 0)
            clone_fd = false;
        else if (strcmp(a, "--serial-dirops") == 0)
            want_parallel_dirops = false;
        else if (strcmp(a, "--debug") == 0)
            debug = true;
        else if (a[0] == '-')
            usage();
        else if (source == NULL)
            source = a;
        else if (mountpoint == NULL) {
            mountpoint = realpath(a, NULL);
            if (mountpoint == NULL) {
                fprintf(stderr, "slowfs3: %s: %s\n", a, strerror(errno));
                return 2;
            }
        } else
            usage();
    }
    if (source == NULL || mountpoint == NULL || threads < 1)
        usage();
    if (set_ops(ops) != 0)
        return 2;
    atomic_store(&delay_ns, (long)(delay_ms * 1e6 + 0.5));
    src_fd = open(source, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (src_fd == -1) {
        fprintf(stderr, "slowfs3: %s: %s\n", source, strerror(errno));
        return 2;
    }
    /* A fixed delay: no timer slack (50 us by default) on top; inherited by the workers. */
    prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
    setvbuf(stdin, NULL, _IOLBF, 0);

    char *fargv[] = {argv[0], "-o", "fsname=slowfs3,subtype=slowfs", debug ? "-d" : NULL, NULL};
    struct fuse_args args = FUSE_ARGS_INIT(debug ? 4 : 3, fargv);
    struct fuse *f = fuse_new(&args, &slow_ops, sizeof slow_ops, NULL);
    if (f == NULL)
        return 1;
    if (fuse_mount(f, mountpoint) != 0) {
        fuse_destroy(f);
        return 1;
    }
    struct fuse_session *se = fuse_get_session(f);
#ifdef PATCH_INIT_REPLY
    static const struct fuse_custom_io io = {.read = io_read, .writev = io_writev};
    if (fuse_session_custom_io(se, &io, fuse_session_fd(se)) != 0) {
        fuse_unmount(f);
        fuse_destroy(f);
        return 1;
    }
#endif
    if (fuse_set_signal_handlers(se) != 0) {
        fuse_unmount(f);
        fuse_destroy(f);
        return 1;
    }
    int rc;
#if FUSE_USE_VERSION >= 312
    struct fuse_loop_config *cfg = fuse_loop_cfg_create();
    fuse_loop_cfg_set_max_threads(cfg, threads);
    fuse_loop_cfg_set_idle_threads(cfg, threads);
    fuse_loop_cfg_set_clone_fd(cfg, clone_fd);
    rc = fuse_loop_mt(f, cfg);
    fuse_loop_cfg_destroy(cfg);
#else
    struct fuse_loop_config cfg = {.clone_fd = clone_fd, .max_idle_threads = threads};
    rc = fuse_loop_mt(f, &cfg); /* before libfuse 3.12: no upper bound on threads */
#endif
    fuse_remove_signal_handlers(se);
    fuse_unmount(f);
    fuse_destroy(f);
    close(src_fd);
    return rc == 0 ? 0 : 1;
}

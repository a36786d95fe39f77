// Appending audit records to a segment through a shared mapping, with the Merkle tree hashed on
// a thread of its own.
//
// A record copied into a MAP_SHARED mapping of the segment is in the page cache the moment the
// copy ends, where write(2) would have put it: it survives the process (kill -9), reaches the disk
// by the same writeback, and fdatasync covers it. What the mapping saves is the system call and
// the file system's write path per batch. The costs that remain per page (allocating it, ext4's
// page_mkwrite) are paid ahead by the appender's thread, which also hashes every record into the
// RFC 9162 frontier, so the event loop only encodes and copies.
//
// The copy goes in ascending address order, as write(2) fills the page cache: a process killed
// mid-copy leaves a prefix of the batch, then zeros, which recovery cuts as a torn final line.
// (memcpy may store a large block's head last, which would leave zeros inside a line.)
//
// The thread hashes a private copy of each batch, never the file's pages: whoever can write the
// file cannot get a changed record signed by changing it between the copy and the hashing.
//
// Space is reserved with fallocate before anything is stored into it: a full disk is an error
// the store fails closed on, never SIGBUS on a store into a hole. That holds where a store into
// reserved blocks cannot need more space, so only ext4, XFS and tmpfs are mapped (copy-on-write
// file systems such as btrfs allocate at writeback, and a failed page_mkwrite is SIGBUS). What
// can still raise SIGBUS: another process shortening the file, or the file system refusing a
// page it had reserved (an ext4 journal abort); pgseal then dies as with kill -9, and the next
// start recovers. The file ends in reserved, zero-filled space while it is open; close cuts it
// to the bytes appended, and after a crash recovery cuts the zero tail (log-recovery.ts).
//
// Threads: the event loop appends (mappedWrite, mappedAppendRecord) and reads the tree
// (mappedTree); the appender's thread reserves, prefaults and hashes. An append into space already reserved and mapped takes
// no lock: it copies, then publishes the new ends with release stores, which the thread reads
// with acquire. Everything else is under the mutex. `busy` marks whichever thread is using the
// private copy, the frontier or the mapping outside the lock; the other waits for it to clear.
// The thread claims for at most HASH_BATCH bytes of hashing or POPULATE_BATCH of prefaulting at
// a time, so the event loop never waits long. The thread never reads past `hashable` (whole
// lines only) nor touches pages past `reserved` or the mapping.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <node_api.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

#define LOAD(x) __atomic_load_n(&(x), __ATOMIC_ACQUIRE)
#define STORE(x, v) __atomic_store_n(&(x), (v), __ATOMIC_RELEASE)

#define HASH 32
#define MAX_HEIGHT 54 // as in sha256.c: tree sizes below 2^53
#define MAX_APPENDERS 16
#define RESERVE_STEP (256u << 10) // fallocate granule
#define RESERVE_AHEAD (512u << 10) // the thread keeps this much reserved past the last append
#define SPAN (1ull << 30) // address space mapped per segment at first; grown by mremap
#define HASH_BATCH (16u << 10) // most bytes the thread hashes per claim (about 10 µs)
#define POPULATE_BATCH (16u << 10) // most bytes it prefaults per claim
#define HASH_URGENT (64u << 10) // unhashed bytes past which the thread hashes at normal priority
#define COPY_INITIAL (4u << 20) // the private copy the thread hashes from
#define POLL_MIN_NS 1000000L // the thread looks for new records every millisecond without being woken,
#define POLL_MAX_NS 64000000L // and less often while there are none

// sha256.c
void hash_prefixed(uint8_t *out, uint8_t prefix, const uint8_t *a, size_t a_len, const uint8_t *b, size_t b_len);
uint8_t *bytes_of(napi_env env, napi_value v, size_t *len); // a Uint8Array's bytes (never NULL when it is one), or NULL
napi_value int_value(napi_env env, int64_t v); // a JavaScript number

typedef struct {
  int fd;
  pthread_t thread;
  pthread_mutex_t mu;
  pthread_cond_t idle; // to the event loop: busy cleared
  int wake_fd; // eventfd: the event loop wakes the sleeping thread (to stop)
  // Written by the event loop only (base and span under mu and a claim), read by the thread under mu:
  uint8_t *base;
  uint64_t span; // bytes of address space mapped from offset 0
  // The private copy of what was appended, for hashing: copy[0, hashable) holds whole lines, of
  // which [0, hashed) are in the frontier. copy and copy_cap change only while the event loop
  // has claimed (busy) the appender.
  uint8_t *copy;
  size_t copy_cap;
  // Written by the event loop without the lock (release), read by the thread (acquire):
  uint64_t written; // bytes appended: the file offset of the next byte
  uint64_t hashable;
  // Written under mu; reserved is also read by the event loop without it (acquire):
  uint64_t reserved; // file length after the last fallocate
  // Under mu:
  uint64_t hashed;
  uint64_t populated; // prefaulted up to here
  int populate; // MADV_POPULATE_WRITE works here
  int reserve_failed; // the thread's last fallocate failed: the event loop reserves (and reports) from now on
  uint64_t cuts; // cut_to_reserved calls: a reservation the thread made across one is void
  int busy; // the thread or the event loop uses copy, frontier, base or fd outside the lock
  int stop; // the event loop is closing the appender: the thread does no more work
  int closed; // the event loop is done with it: the thread frees it and ends
  uint64_t size; // tree size
  uint32_t count; // subtree roots in frontier, popcount(size)
  uint8_t frontier[MAX_HEIGHT * HASH];
} appender;

static appender *appenders[MAX_APPENDERS];

// File systems where blocks reserved by fallocate are written in place (see the top).
static int mappable(int fd) {
  struct statfs fs;
  if (fstatfs(fd, &fs) != 0) return 0;
  switch ((unsigned long)fs.f_type) {
  case 0xEF53: // ext2/3/4
  case 0x58465342: // XFS
  case 0x01021994: // tmpfs
    return 1;
  default:
    return 0;
  }
}
static uint64_t page_size;

// Hash the newline-terminated lines of data[0, n) into the frontier (RFC 9162 compact range).
static void hash_lines(appender *a, const uint8_t *data, size_t n) {
  size_t start = 0;
  while (start < n) {
    const uint8_t *nl = memchr(data + start, '\n', n - start);
    size_t end = nl == NULL ? n : (size_t)(nl - data);
    uint32_t top = a->count;
    hash_prefixed(a->frontier + (size_t)top * HASH, 0x00, data + start, end - start, NULL, 0);
    for (uint64_t m = a->size; m & 1; m >>= 1) {
      top -= 1;
      hash_prefixed(a->frontier + (size_t)top * HASH, 0x01, a->frontier + (size_t)top * HASH, HASH, a->frontier + (size_t)(top + 1) * HASH, HASH);
    }
    a->count = top + 1;
    a->size += 1;
    start = end + 1;
  }
}

// After a failed fallocate (mu held): ext4 may have extended the file part of the way; cut it
// back to the space known to be reserved, so no zeros are left past what close would cut.
static void cut_to_reserved(appender *a) {
  a->cuts++;
  while (ftruncate(a->fd, (off_t)a->reserved) != 0 && errno == EINTR) {
  }
}

static int reserve_to(appender *a, uint64_t target) {
  target = (target + RESERVE_STEP - 1) / RESERVE_STEP * RESERVE_STEP;
  if (target <= a->reserved) return 0;
  int rc;
  do rc = fallocate(a->fd, 0, (off_t)a->reserved, (off_t)(target - a->reserved));
  while (rc != 0 && errno == EINTR);
  if (rc != 0) {
    rc = -errno;
    cut_to_reserved(a);
    return rc;
  }
  STORE(a->reserved, target);
  return 0;
}

// Wait (mu held) until neither side is using the mapping, then claim it.
static void claim(appender *a) {
  while (a->busy) pthread_cond_wait(&a->idle, &a->mu);
  a->busy = 1;
}

static void release(appender *a) {
  a->busy = 0;
  pthread_cond_broadcast(&a->idle);
}

// Hash everything appended, on the calling thread (mu held, appender claimed by the caller).
static void catch_up(appender *a) {
  uint64_t from = a->hashed, to = LOAD(a->hashable);
  if (to <= from) return;
  pthread_mutex_unlock(&a->mu);
  hash_lines(a, a->copy + from, to - from);
  pthread_mutex_lock(&a->mu);
  a->hashed = to;
}

// The thread starts work only in time the CPUs would otherwise idle away: it sleeps at
// SCHED_IDLE, and under full load the event loop's own work goes first; what the thread leaves
// is hashed on the event loop at the next checkpoint, as without it. It switches to normal
// priority before it takes the lock and back only after it has let go of everything, so the event
// loop never waits for an idle-class thread. Leaving SCHED_IDLE needs CAP_SYS_NICE or an
// RLIMIT_NICE that allows the current nice value; idle_allowed is whether a probe thread could go
// there and back (pgseal's systemd unit filters the call: the thread stays at normal priority).
static int idle_allowed = -1;

static void *probe_idle(void *arg) {
  struct sched_param none = {0};
  int *ok = arg;
  *ok = pthread_setschedparam(pthread_self(), SCHED_IDLE, &none) == 0 && pthread_setschedparam(pthread_self(), SCHED_OTHER, &none) == 0;
  return NULL;
}

static void set_policy(int policy) {
  struct sched_param none = {0};
  if (idle_allowed == 1) (void)pthread_setschedparam(pthread_self(), policy, &none);
}

// Sleep up to ns, without the lock, unless the event loop wakes the thread.
static void sleep_unlocked(appender *a, long ns) {
  struct pollfd p = {a->wake_fd, POLLIN, 0};
  if (poll(&p, 1, (int)(ns / 1000000L)) > 0) {
    uint64_t n;
    (void)!read(a->wake_fd, &n, sizeof n);
  }
}

// One step of the thread's work (mu held, not claimed): hash a batch, reserve ahead, or prefault
// a batch. Returns 0 when there was nothing to do.
static int step(appender *a) {
  uint64_t hashable = LOAD(a->hashable), written = LOAD(a->written);
  if (hashable > a->hashed) {
    uint64_t from = a->hashed, to = hashable;
    // A batch ends at a line's end so the frontier is whole between batches.
    if (to - from > HASH_BATCH) {
      const uint8_t *p = a->copy + from;
      const uint8_t *nl = memchr(p + HASH_BATCH - 1, '\n', to - from - (HASH_BATCH - 1)); // hashable ends in '\n'
      if (nl != NULL) to = from + (uint64_t)(nl - p) + 1;
    }
    a->busy = 1;
    const uint8_t *copy = a->copy;
    pthread_mutex_unlock(&a->mu);
    hash_lines(a, copy + from, to - from);
    pthread_mutex_lock(&a->mu);
    a->hashed = to;
    release(a);
    return 1;
  }
  if (!a->reserve_failed && a->reserved < written + RESERVE_AHEAD && written + RESERVE_AHEAD <= a->span) {
    // Claimed, so close waits for it before the descriptor goes; appends go on meanwhile, and
    // should one need the space first, it reserves it itself.
    uint64_t from = a->reserved, target = (written + RESERVE_AHEAD + RESERVE_STEP - 1) / RESERVE_STEP * RESERVE_STEP;
    uint64_t cuts = a->cuts;
    a->busy = 1;
    pthread_mutex_unlock(&a->mu);
    int rc;
    do rc = fallocate(a->fd, 0, (off_t)from, (off_t)(target - from));
    while (rc != 0 && errno == EINTR);
    pthread_mutex_lock(&a->mu);
    if (rc != 0) {
      a->reserve_failed = 1;
      cut_to_reserved(a);
    } else if (a->cuts != cuts) {
      // The event loop's failed fallocate cut the file back meanwhile, maybe below target.
      cut_to_reserved(a);
    } else if (target > a->reserved) STORE(a->reserved, target);
    release(a);
    return 1;
  }
  uint64_t limit = a->reserved < a->span ? a->reserved : a->span;
  if (a->populate && a->populated < limit) {
    uint64_t from = (a->populated > written ? a->populated : written) & ~(page_size - 1);
    uint64_t to = limit - from > POPULATE_BATCH ? from + POPULATE_BATCH : limit;
    a->busy = 1;
    uint8_t *base = a->base;
    pthread_mutex_unlock(&a->mu);
    int rc = madvise(base + from, to - from, MADV_POPULATE_WRITE);
    int err = errno;
    pthread_mutex_lock(&a->mu);
    if (rc == 0) a->populated = to;
    else if (err != EINTR) a->populate = 0; // not supported here: appends fault their pages themselves
    release(a);
    return 1;
  }
  return 0;
}

static void destroy(appender *a);

static void *run(void *arg) {
  appender *a = arg;
  long poll_ns = POLL_MIN_NS;
  for (;;) {
    set_policy(SCHED_OTHER);
    pthread_mutex_lock(&a->mu);
    int worked = !a->stop && !a->busy && step(a);
    int stop = a->stop, closed = a->closed;
    uint64_t behind = LOAD(a->hashable) - a->hashed;
    pthread_mutex_unlock(&a->mu);
    if (closed) break;
    if (stop) { // mappedClose is still using the appender
      sleep_unlocked(a, POLL_MIN_NS);
      continue;
    }
    // Back to idle between steps: the next one starts only when a CPU has nothing else to do;
    // unless hashing has fallen so far behind that the event loop would hash the rest itself at
    // the next checkpoint, on the path of every query.
    set_policy(behind > HASH_URGENT ? SCHED_OTHER : SCHED_IDLE);
    if (worked) {
      poll_ns = POLL_MIN_NS;
      continue;
    }
    if (poll_ns < POLL_MAX_NS) poll_ns *= 2;
    sleep_unlocked(a, poll_ns);
  }
  // mappedClose has unmapped, cut and left the appender to this thread.
  destroy(a);
  return NULL;
}

// Store data at dst in ascending address order (see the top): 8-byte volatile stores, which the
// compiler may neither reorder nor turn back into a memcpy call.
typedef uint64_t unaligned_u64 __attribute__((aligned(1), may_alias));

static void copy_ascending(uint8_t *dst, const uint8_t *src, size_t n) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t w;
    memcpy(&w, src + i, 8);
    *(volatile unaligned_u64 *)(void *)(dst + i) = w;
  }
  for (; i < n; i++) ((volatile uint8_t *)dst)[i] = src[i];
}


static appender *appender_arg(napi_env env, napi_value v) {
  uint32_t id;
  if (napi_get_value_uint32(env, v, &id) != napi_ok || id >= MAX_APPENDERS || appenders[id] == NULL) {
    napi_throw_type_error(env, NULL, "segment-append: unknown appender");
    return NULL;
  }
  return appenders[id];
}

static void destroy(appender *a) {
  if (a->base != NULL) munmap(a->base, a->span);
  if (a->wake_fd >= 0) close(a->wake_fd);
  free(a->copy);
  pthread_mutex_destroy(&a->mu);
  pthread_cond_destroy(&a->idle);
  free(a);
}

// mappedOpen(fd, length, size, frontier): an appender for fd, whose first length bytes are
// already written, continuing the tree of size `size` whose subtree roots are frontier
// (popcount(size) × 32 bytes). Returns its id, or -errno when the space cannot be reserved or
// mapped (the caller then writes with write(2)).
static napi_value MappedOpen(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  int32_t fd;
  int64_t length;
  double size_d;
  size_t frontier_len = 0;
  uint8_t *frontier = NULL;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 4 || napi_get_value_int32(env, argv[0], &fd) != napi_ok ||
      napi_get_value_int64(env, argv[1], &length) != napi_ok || napi_get_value_double(env, argv[2], &size_d) != napi_ok ||
      (frontier = bytes_of(env, argv[3], &frontier_len)) == NULL || fd < 0 || length < 0 || !(size_d >= 0 && size_d <= 9007199254740991.0) ||
      (double)(uint64_t)size_d != size_d || frontier_len != (size_t)__builtin_popcountll((uint64_t)size_d) * HASH) {
    napi_throw_type_error(env, NULL, "mappedOpen(fd, length, size, frontier): bad arguments");
    return NULL;
  }
  int id = -1;
  for (int i = 0; i < MAX_APPENDERS; i++)
    if (appenders[i] == NULL) {
      id = i;
      break;
    }
  if (id < 0) return int_value(env, -EMFILE);
  if (!mappable(fd)) return int_value(env, -EOPNOTSUPP);
  appender *a = calloc(1, sizeof *a);
  if (a == NULL) return int_value(env, -ENOMEM);
  a->fd = fd;
  a->written = a->reserved = a->populated = (uint64_t)length;
  a->size = (uint64_t)size_d;
  a->count = (uint32_t)__builtin_popcountll(a->size);
  memcpy(a->frontier, frontier, frontier_len);
  a->populate = 1;
  a->span = SPAN;
  while (a->span < (uint64_t)length + RESERVE_AHEAD) a->span *= 2;
  pthread_mutex_init(&a->mu, NULL);
  pthread_cond_init(&a->idle, NULL);
  a->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (idle_allowed < 0) {
    pthread_t probe;
    int ok = 0;
    if (pthread_create(&probe, NULL, probe_idle, &ok) == 0) pthread_join(probe, NULL);
    idle_allowed = ok;
  }
  a->copy_cap = COPY_INITIAL;
  a->copy = malloc(a->copy_cap);
  int rc = a->copy == NULL ? -ENOMEM : a->wake_fd < 0 ? -errno : reserve_to(a, a->written + RESERVE_STEP);
  if (rc == 0) {
    void *p = mmap(NULL, a->span, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) rc = -errno;
    else a->base = p;
  }
  if (rc == 0) {
    int err = pthread_create(&a->thread, NULL, run, a);
    if (err != 0) rc = -err;
  }
  if (rc != 0) {
    (void)!ftruncate(fd, length); // whatever fallocate reserved, even in part
    destroy(a);
    return int_value(env, rc);
  }
  appenders[id] = a;
  return int_value(env, id);
}

// Reserve and map up to end (the event loop, rarely: the thread keeps space reserved ahead).
// The mapping grows first, so reserved space is always mapped.
static int make_room(appender *a, uint64_t end) {
  pthread_mutex_lock(&a->mu);
  int rc = 0;
  if (end > a->span) {
    uint64_t span = a->span;
    while (span < end + RESERVE_AHEAD) span *= 2;
    claim(a);
    void *p = mremap(a->base, a->span, span, MREMAP_MAYMOVE);
    if (p == MAP_FAILED) rc = -errno;
    else {
      a->base = p;
      a->span = span;
    }
    release(a);
  }
  if (rc == 0) rc = reserve_to(a, end);
  if (rc == 0) a->reserve_failed = 0; // space came back: the thread reserves ahead again
  pthread_mutex_unlock(&a->mu);
  return rc;
}

// Make room for n more bytes in the private copy: once the thread has hashed it all (the event
// loop hashes the rest itself if not), start it over; a batch larger than the copy grows it.
static int make_copy_room(appender *a, size_t n) {
  pthread_mutex_lock(&a->mu);
  claim(a);
  catch_up(a);
  int rc = 0;
  if (n > a->copy_cap) {
    uint8_t *bigger = malloc(n);
    if (bigger == NULL) rc = -ENOMEM;
    else {
      free(a->copy);
      a->copy = bigger;
      a->copy_cap = n;
    }
  }
  if (rc == 0) {
    a->hashed = 0;
    STORE(a->hashable, 0);
  }
  release(a);
  pthread_mutex_unlock(&a->mu);
  return rc;
}

// The arguments (id, bytes) of mappedWrite and mappedTree; NULL (a JavaScript error thrown) if
// they are not an open appender and a Uint8Array of at least min bytes.
static appender *appender_and_bytes(napi_env env, napi_callback_info info, uint8_t **bytes, size_t *len, size_t min, const char *usage) {
  size_t argc = 2;
  napi_value argv[2];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 2) return NULL;
  appender *a = appender_arg(env, argv[0]);
  if (a == NULL) return NULL;
  if ((*bytes = bytes_of(env, argv[1], len)) == NULL || *len < min) {
    napi_throw_type_error(env, NULL, usage);
    return NULL;
  }
  return a;
}

// Append data, which must be whole lines; 0, or -errno with nothing appended.
static int append_lines(appender *a, const uint8_t *data, size_t len) {
  if (len == 0) return 0;
  if (data[len - 1] != '\n') return -EINVAL; // the thread hashes whole lines only
  uint64_t end = a->written + len;
  if (end > LOAD(a->reserved) || end > a->span) {
    int rc = make_room(a, end);
    if (rc != 0) return rc;
  }
  uint64_t hashable = a->hashable;
  if (hashable + len > a->copy_cap) {
    int rc = make_copy_room(a, len);
    if (rc != 0) return rc;
    hashable = 0;
  }
  // The thread reads the copy only below hashable and the mapping not at all (prefaulting stores
  // nothing); only this thread moves the mapping or replaces the copy.
  copy_ascending(a->base + a->written, data, len);
  memcpy(a->copy + hashable, data, len);
  STORE(a->written, end);
  STORE(a->hashable, hashable + len);
  return 0;
}

// mappedWrite(id, data): appends data, which must be whole lines; 0, or -errno with nothing appended.
static napi_value MappedWrite(napi_env env, napi_callback_info info) {
  uint8_t *data;
  size_t len;
  appender *a = appender_and_bytes(env, info, &data, &len, 0, "mappedWrite(id, data: Uint8Array)");
  if (a == NULL) return NULL;
  return int_value(env, append_lines(a, data, len));
}

// record-encode.c
long record_line(napi_env env, napi_value *argv, size_t argc, uint8_t *o, size_t cap);

// The line being appended by mappedAppendRecord: the longest record_line encodes is 256 bytes,
// a session prefix, a 4 KB text and two names escaped six-fold and 16 KB of params (about 50 KB);
// record_line refuses a record that would not fit, which then takes the store's usual way. The event loop is the only caller
// (as with the appender table, a worker thread loading the addon would need its own).
static uint8_t line_scratch[64 << 10];

// mappedAppendRecord(id, seq, micros, prefix, query, kind, text, ...): encodes the
// record as encodeRecordLine does and appends its line, one call where the store would encode
// into its buffer and then write it. The line's length with its newline; 0 when the record is
// not one record_line encodes, -errno when it could not be appended: nothing was appended, and
// the store appends the record its usual way.
static napi_value MappedAppendRecord(napi_env env, napi_callback_info info) {
  size_t argc = 10;
  napi_value argv[10];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 7) return int_value(env, 0);
  appender *a = appender_arg(env, argv[0]);
  if (a == NULL) return NULL;
  long n = record_line(env, argv + 1, argc - 1, line_scratch, sizeof line_scratch - 1);
  if (n <= 0) return int_value(env, 0);
  line_scratch[n++] = '\n';
  int rc = append_lines(a, line_scratch, (size_t)n);
  return int_value(env, rc != 0 ? rc : n);
}

// mappedTree(id, out): hashes whatever the thread has not yet, copies the frontier's subtree
// roots into out (at least popcount(size) × 32 bytes) and returns the tree size.
static napi_value MappedTree(napi_env env, napi_callback_info info) {
  uint8_t *out;
  size_t len;
  appender *a = appender_and_bytes(env, info, &out, &len, MAX_HEIGHT * HASH, "mappedTree: out must hold 54 hashes");
  if (a == NULL) return NULL;
  pthread_mutex_lock(&a->mu);
  claim(a);
  catch_up(a);
  memcpy(out, a->frontier, (size_t)a->count * HASH);
  uint64_t size = a->size;
  release(a);
  pthread_mutex_unlock(&a->mu);
  napi_value v;
  napi_create_double(env, (double)size, &v);
  return v;
}

// mappedClose(id): unmaps, cuts the file to the bytes appended and leaves the appender to its
// thread, which frees it when it next wakes (woken now): the event loop does not wait for an
// idle-class thread to be scheduled, and does not touch the appender after setting closed.
// 0 or -errno from the cut. The descriptor stays the caller's; the thread no longer touches it
// once stop is set and it is not claimed.
static napi_value MappedClose(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1) return NULL;
  appender *a = appender_arg(env, argv[0]);
  if (a == NULL) return NULL;
  uint32_t id;
  napi_get_value_uint32(env, argv[0], &id);
  appenders[id] = NULL;
  pthread_mutex_lock(&a->mu);
  a->stop = 1;
  while (a->busy) pthread_cond_wait(&a->idle, &a->mu); // at most one batch, at normal priority
  munmap(a->base, a->span);
  a->base = NULL;
  // Cut even when nothing looks reserved: a failed fallocate may have extended the file anyway.
  int rc;
  while ((rc = ftruncate(a->fd, (off_t)a->written)) != 0 && errno == EINTR) {
  }
  if (rc != 0) rc = -errno;
  // The last use of the appender here: once closed is set and the lock let go, the thread may
  // free it at any moment.
  uint64_t one = 1;
  (void)!write(a->wake_fd, &one, sizeof one);
  pthread_t thread = a->thread;
  a->closed = 1;
  pthread_mutex_unlock(&a->mu);
  pthread_detach(thread);
  return int_value(env, rc);
}

// lockDirectory(fd): an exclusive flock on the open directory fd, held until it is closed (or
// the process dies); 0, or -errno (EWOULDBLOCK: another process holds it).
static napi_value LockDirectory(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int32_t fd;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 || napi_get_value_int32(env, argv[0], &fd) != napi_ok) {
    napi_throw_type_error(env, NULL, "lockDirectory(fd)");
    return NULL;
  }
  int rc;
  while ((rc = flock(fd, LOCK_EX | LOCK_NB)) != 0 && errno == EINTR) {
  }
  return int_value(env, rc == 0 ? 0 : -errno);
}

napi_status segment_append_init(napi_env env, napi_value exports) {
  page_size = (uint64_t)sysconf(_SC_PAGESIZE);
  static const struct {
    const char *name;
    napi_callback cb;
  } fns[] = {{"mappedOpen", MappedOpen}, {"mappedWrite", MappedWrite}, {"mappedAppendRecord", MappedAppendRecord}, {"mappedTree", MappedTree}, {"mappedClose", MappedClose}, {"lockDirectory", LockDirectory}};
  for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++) {
    napi_value fn;
    napi_status s = napi_create_function(env, fns[i].name, NAPI_AUTO_LENGTH, fns[i].cb, NULL, &fn);
    if (s != napi_ok) return s;
    if ((s = napi_set_named_property(env, exports, fns[i].name, fn)) != napi_ok) return s;
  }
  return napi_ok;
}

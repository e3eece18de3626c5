// process_stats.h on Linux (and other procfs systems): /proc for memory, POSIX CPU clocks.
#include <pthread.h>
#include <sched.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>

#include "test/process_stats.h"
#include "test/process_stats_posix.h"

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace netpoll::testing {

std::size_t resident_bytes() {
  std::FILE* f = std::fopen("/proc/self/statm", "re");
  if (!f) return 0;
  unsigned long size = 0, resident = 0;
  const int got = std::fscanf(f, "%lu %lu", &size, &resident);
  std::fclose(f);
  return got == 2 ? resident * static_cast<std::size_t>(::sysconf(_SC_PAGESIZE)) : 0;
}

std::int64_t thread_cpu_ns(std::thread& t) {
  clockid_t cid;
  if (::pthread_getcpuclockid(t.native_handle(), &cid) != 0) return -1;
  return clock_ns(cid);
}

// glibc keeps freed arenas mapped until asked; musl's allocator unmaps eagerly and has no
// malloc_trim. A C library difference, not an OS one, hence the check here.
void release_free_memory() {
#if defined(__GLIBC__)
  ::malloc_trim(0);
#endif
}

bool pin_this_thread(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  return ::sched_setaffinity(0, sizeof set, &set) == 0;
}

}  // namespace netpoll::testing
